// Package session is browser sign-in for minipacs: the OpenID Connect
// authorization code flow with PKCE (S256) and a server-side session.
//
// # Routes (all Public: they check what they need themselves)
//
//   - GET /auth/login?next=/web/...: discovers the issuer's endpoints
//     (<issuer>/.well-known/openid-configuration, cached for an hour),
//     makes a random state, nonce and PKCE verifier, keeps them (with next
//     and the redirect URI) in a short-lived (10 min) login cookie signed
//     with HMAC-SHA256, and redirects to the authorization endpoint. next
//     must be a same-origin relative path ("/web/#/study/1.2"); anything
//     else becomes "/web/".
//   - GET /auth/callback: checks the login cookie's signature and age and
//     the state, exchanges the code at the token endpoint (with the PKCE
//     verifier; client_secret_basic when a client secret is configured),
//     verifies the ID token (signature through the same JWKS machinery as
//     bearer tokens, iss, aud = client id, exp, nonce) and the access token
//     exactly as a bearer token of an API call (its roles and patient
//     restriction become the session's), creates the session and answers
//     303 to next: the code and state never stay in the browser's URL.
//   - POST /auth/logout: needs the session's CSRF token (header
//     X-CSRF-Token, or form field csrf_token); deletes the session and
//     redirects (303, or JSON {"location": ...} to a fetch that asks for
//     JSON) to the issuer's end_session_endpoint when it has one, with
//     client_id and post_logout_redirect_uri (no id_token_hint: no token
//     goes into a URL), else to /web/.
//   - GET /auth/session: JSON {user, subject, roles, restricted, expires,
//     csrfToken} of the caller's session (never its tokens); 401 with
//     {"login": "/auth/login"} without one, which tells the browser that
//     sign-in is available.
//
// # Sessions
//
// Sessions live in memory (a restart signs everyone out), keyed by a
// 256-bit random id, in the cookie "__Host-minipacs_session" when the
// server is reached over TLS (Secure) and "minipacs_session" otherwise;
// both HttpOnly, SameSite=Lax, Path=/. A session holds the access and
// refresh tokens, ends at its maximum age (default 12 h) and is renewed
// silently: when its access token is within a minute of expiry, the next
// request refreshes it (refresh_token grant) and re-verifies the new
// access token; when that fails and the token has expired, the session
// ends and the request gets 401 (the study browser then signs in again).
//
// The login cookie's HMAC key is random per process, in memory: a restart
// only invalidates sign-ins in progress (sessions are in memory too).
//
// Manager implements auth.Sessions: the auth middleware accepts the
// session cookie when a request has no Authorization header, and refuses
// (403) a state-changing request whose X-CSRF-Token is not the session's.
package session
