// Package auth authenticates minipacs clients and authorizes every route.
//
// # Credentials
//
// Three kinds of credential are accepted, each optional (Config):
//
//   - OIDC bearer tokens: a JWT signed by the configured issuer, verified
//     against the issuer's JWKS (discovered through
//     <issuer>/.well-known/openid-configuration, or a configured JWKS URL);
//     go-jose parses the JWS and the JWKs and checks the signature, this
//     package chooses the keys and checks the header and the claims.
//     Only asymmetric algorithms are accepted (RS256/384/512, PS256/384/512,
//     ES256/384/512, EdDSA; allow-list configurable, default RS256, PS256,
//     ES256, EdDSA); "none" and every HS* are refused whatever the
//     configuration, and the key's kty/crv/alg/use must match the token's alg,
//     so an HS256 token "signed" with an RSA public key never verifies. iss
//     must equal the issuer exactly, aud must contain the audience, exp is
//     required, exp/nbf/iat are checked with a clock skew (default 60 s).
//     Tokens larger than 8 KiB are refused before parsing. The JWKS is cached,
//     refreshed every hour, refreshed early when a token names an unknown kid
//     (at most every 15 s), and served stale for up to 24 h while the
//     issuer is unreachable.
//   - Static API tokens for modalities and scripts (Bearer), from a file
//     that holds only their SHA-256 digests. Tokens are 256-bit random
//     strings ("mpt_" + 43 base64url characters, see GenerateToken), so a
//     fast hash is the right one; digests are compared in constant time.
//   - HTTP Basic for legacy senders, from a file of bcrypt hashes. bcrypt is
//     slow on purpose, so successful verifications are cached for a short
//     time (bounded, keyed by an HMAC of user and password under a
//     per-process random key), and concurrent verifications are bounded.
//
// A request without an Authorization header may instead carry a browser
// session cookie (package session, installed with UseSessions): its
// principal is the one of the session's access token (Method "session");
// a state-changing request (POST, PUT, DELETE, PATCH) so authenticated
// must carry the session's CSRF token in X-CSRF-Token, else 403. Session
// sign-in verifies ID tokens (VerifyIDToken) and access tokens
// (VerifyAccessToken) with the same keys and checks as bearer tokens.
// Each UseSessions call adds a source of sessions (browser sign-in, share
// links: package share), asked in order; a session without a CSRF token
// (a share session, Method "share") is read-only.
//
// Tokens in the query string (access_token=) are refused with 401 unless
// Config.AllowQueryToken is set. A request with no credential gets the
// anonymous principal, whose roles are Config.AnonymousRoles (none by
// default: only Public routes answer).
//
// # Credential files
//
// The API token file and the Basic users file share one line format:
//
//	# comment
//	NAME  SECRET-HASH  ROLES  [patients=ID[^^^ISSUER],...]  [tenants=T,...]
//
// NAME is the token name or the Basic user name; SECRET-HASH is the
// lower-case hex SHA-256 of the token (token file) or a bcrypt hash
// "$2a$..."/"$2b$..." (users file); ROLES is a comma-separated list of
// reader, writer, admin. The optional patients= and tenants= fields
// restrict the credential (see Restriction). `minipacs token` prints new
// lines for both files. Names must be unique in a file.
//
// # Roles
//
// reader may search (QIDO-RS) and retrieve (WADO-RS); writer may store
// (STOW-RS); admin may delete and use the admin endpoints. admin implies
// reader and writer; writer does NOT imply reader, so a modality's
// credential can send images but cannot read the archive.
//
// # Restrictions
//
// A principal may be restricted (Restriction) to some patients (a
// credential's patients= and tenants=, OIDC claims) or to some studies
// (StudyUIDs: a share link's session, method "share", package share).
// DICOMweb asks AllowsStudy; the patient-level views (FHIR, IID) ask
// AllowsPatient, which a study restriction never satisfies.
//
// # Authorization
//
// Every route states the role it needs where it is registered: a front
// door lists its routes as Route values (method, echo route pattern, Role,
// handler), Register mounts them, and RulesOf turns them into the rules of
// the server's Table. Middleware looks the matched route up by method and
// c.Path(); a registered route without a rule is refused with 403 and
// logged as a bug; CheckRoutes lets the server refuse to start (and a test
// fail) when a registered route has no rule. Requests that match no route (404/405) need an authenticated
// principal, so an unauthenticated scanner learns nothing about the router.
//
// # Responses
//
// 401 carries WWW-Authenticate: Bearer realm="minipacs" (with
// error="invalid_token" when a token was presented) and, when Basic is
// enabled, Basic realm="minipacs"; 403 answers a principal without the role.
// Bodies are short fixed text/plain strings that never echo input. Tokens
// and passwords are never logged.
package auth
