// Package oidctest is a loopback OpenID Connect provider for tests: the
// discovery document, a JWKS, an authorization endpoint (a trivial login
// form listing the configured users, or an immediate redirect for one
// default user), a token endpoint (authorization_code with PKCE S256, and
// refresh_token) and an end_session endpoint. Tokens are RS256 JWTs.
package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// User is a test user: its claims go into the access token (and sub and
// preferred_username into the ID token too).
type User struct {
	Subject string
	// Claims are extra access-token claims ("roles", "patients", ...).
	Claims map[string]any
}

// Config configures an Issuer.
type Config struct {
	// ClientID is the only client; RedirectURIs are its registered
	// redirect URIs (none: any loopback http URL ending in /auth/callback).
	ClientID     string
	ClientSecret string // "" for a public client
	RedirectURIs []string
	// Audience is the aud of access tokens.
	Audience string
	Users    map[string]User
	// DefaultUser, when set, makes /authorize redirect back at once as
	// this user (no login form).
	DefaultUser string
	// AccessTTL is the access tokens' lifetime (default 5 min).
	AccessTTL time.Duration
	// NoRefresh issues no refresh tokens.
	NoRefresh bool
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Issuer is a running test provider.
type Issuer struct {
	URL string
	cfg Config
	key *rsa.PrivateKey
	srv *http.Server
	ln  net.Listener

	mu      sync.Mutex
	codes   map[string]*grant
	refresh map[string]string // refresh token -> user

	// Counters for assertions.
	Refreshes  atomic.Int32
	Exchanges  atomic.Int32
	EndSession atomic.Int32
	// BreakRefresh makes every refresh_token grant fail (invalid_grant).
	BreakRefresh atomic.Bool
	// Tamper, when set, may change the claims of every issued token
	// ("id" or "access") before it is signed.
	Tamper func(kind string, claims map[string]any)
}

type grant struct {
	user, clientID, redirectURI, challenge, nonce string
	expires                                       time.Time
}

// Start starts an issuer on 127.0.0.1; Close stops it.
func Start(cfg Config) (*Issuer, error) {
	if cfg.AccessTTL <= 0 {
		cfg.AccessTTL = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	is := &Issuer{URL: "http://" + ln.Addr().String(), cfg: cfg, key: key, ln: ln,
		codes: map[string]*grant{}, refresh: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", is.discovery)
	mux.HandleFunc("GET /keys", is.keys)
	mux.HandleFunc("GET /authorize", is.authorize)
	mux.HandleFunc("POST /authorize", is.authorize)
	mux.HandleFunc("POST /token", is.tokenEndpoint)
	mux.HandleFunc("GET /logout", is.logout)
	is.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go is.srv.Serve(ln)
	return is, nil
}

// Close stops the issuer.
func (is *Issuer) Close() { is.srv.Close() }

func (is *Issuer) discovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                is.URL,
		"authorization_endpoint":                is.URL + "/authorize",
		"token_endpoint":                        is.URL + "/token",
		"end_session_endpoint":                  is.URL + "/logout",
		"jwks_uri":                              is.URL + "/keys",
		"response_types_supported":              []string{"code"},
		"code_challenge_methods_supported":      []string{"S256"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"subject_types_supported":               []string{"public"},
	})
}

func (is *Issuer) keys(w http.ResponseWriter, r *http.Request) {
	jwk := jose.JSONWebKey{Key: &is.key.PublicKey, KeyID: "test1", Algorithm: "RS256", Use: "sig"}
	writeJSON(w, http.StatusOK, map[string]any{"keys": []jose.JSONWebKey{jwk}})
}

// authorize checks the request and answers with the login form, or, for
// POST (the form) or a DefaultUser, redirects back with a code.
func (is *Issuer) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		r.ParseForm()
		q = r.PostForm
	}
	redirect := q.Get("redirect_uri")
	switch {
	case q.Get("client_id") != is.cfg.ClientID:
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	case !is.redirectOK(redirect):
		http.Error(w, "redirect_uri not registered", http.StatusBadRequest)
		return
	case q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		http.Error(w, "want response_type=code with a PKCE S256 code_challenge", http.StatusBadRequest)
		return
	case !slices.Contains(strings.Fields(q.Get("scope")), "openid"):
		http.Error(w, "scope lacks openid", http.StatusBadRequest)
		return
	}
	user := is.cfg.DefaultUser
	if r.Method == http.MethodPost {
		user = q.Get("user")
	}
	if user == "" {
		is.loginForm(w, q)
		return
	}
	if _, ok := is.cfg.Users[user]; !ok {
		http.Error(w, "unknown user", http.StatusBadRequest)
		return
	}
	code := random()
	is.mu.Lock()
	is.codes[code] = &grant{user: user, clientID: q.Get("client_id"), redirectURI: redirect,
		challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), expires: is.cfg.Now().Add(time.Minute)}
	is.mu.Unlock()
	back, _ := url.Parse(redirect)
	bq := back.Query()
	bq.Set("code", code)
	bq.Set("state", q.Get("state"))
	back.RawQuery = bq.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// loginForm is a trivial login page: one button per user, no password.
func (is *Issuer) loginForm(w http.ResponseWriter, q url.Values) {
	var b strings.Builder
	b.WriteString("<!doctype html><title>Test issuer sign-in</title><h1>Test issuer sign-in</h1><form method=post action=/authorize>")
	for _, k := range []string{"client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge", "code_challenge_method"} {
		fmt.Fprintf(&b, `<input type=hidden name="%s" value="%s">`, k, html.EscapeString(q.Get(k)))
	}
	var names []string
	for n := range is.cfg.Users {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, `<button name=user value="%s">%s</button> `, html.EscapeString(n), html.EscapeString(n))
	}
	b.WriteString("</form>")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write([]byte(b.String()))
}

func (is *Issuer) redirectOK(u string) bool {
	if len(is.cfg.RedirectURIs) > 0 {
		return slices.Contains(is.cfg.RedirectURIs, u)
	}
	p, err := url.Parse(u)
	return err == nil && p.Scheme == "http" && strings.HasPrefix(p.Host, "127.0.0.1:") && p.Path == "/auth/callback"
}

// tokenEndpoint implements the authorization_code and refresh_token
// grants.
func (is *Issuer) tokenEndpoint(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		tokenError(w, "invalid_request")
		return
	}
	f := r.PostForm
	id, secret, basic := r.BasicAuth()
	if basic {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = f.Get("client_id"), f.Get("client_secret")
	}
	if id != is.cfg.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(is.cfg.ClientSecret)) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	switch f.Get("grant_type") {
	case "authorization_code":
		is.mu.Lock()
		g := is.codes[f.Get("code")]
		delete(is.codes, f.Get("code")) // one use
		is.mu.Unlock()
		if g == nil || is.cfg.Now().After(g.expires) || g.clientID != id || g.redirectURI != f.Get("redirect_uri") {
			tokenError(w, "invalid_grant")
			return
		}
		sum := sha256.Sum256([]byte(f.Get("code_verifier")))
		if base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
			tokenError(w, "invalid_grant") // PKCE
			return
		}
		is.Exchanges.Add(1)
		is.issue(w, g.user, g.nonce, true)
	case "refresh_token":
		is.mu.Lock()
		user, ok := is.refresh[f.Get("refresh_token")]
		delete(is.refresh, f.Get("refresh_token")) // rotated
		is.mu.Unlock()
		if !ok || is.BreakRefresh.Load() {
			tokenError(w, "invalid_grant")
			return
		}
		is.Refreshes.Add(1)
		is.issue(w, user, "", false)
	default:
		tokenError(w, "unsupported_grant_type")
	}
}

func (is *Issuer) issue(w http.ResponseWriter, user, nonce string, withID bool) {
	u := is.cfg.Users[user]
	resp := map[string]any{
		"token_type":   "Bearer",
		"access_token": is.AccessToken(user),
		"expires_in":   int(is.cfg.AccessTTL / time.Second),
	}
	if withID {
		now := is.cfg.Now()
		c := map[string]any{"iss": is.URL, "aud": is.cfg.ClientID, "sub": u.Subject, "preferred_username": user,
			"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(), "nonce": nonce}
		if is.Tamper != nil {
			is.Tamper("id", c)
		}
		resp["id_token"] = is.sign(c)
	}
	if !is.cfg.NoRefresh {
		rt := random()
		is.mu.Lock()
		is.refresh[rt] = user
		is.mu.Unlock()
		resp["refresh_token"] = rt
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}

// AccessToken mints an access token for a configured user (for API
// calls of a test, e.g. loading the archive).
func (is *Issuer) AccessToken(user string) string {
	u := is.cfg.Users[user]
	now := is.cfg.Now()
	c := map[string]any{"iss": is.URL, "aud": is.cfg.Audience, "sub": u.Subject, "preferred_username": user,
		"iat": now.Unix(), "exp": now.Add(is.cfg.AccessTTL).Unix(), "jti": random()}
	for k, v := range u.Claims {
		c[k] = v
	}
	if is.Tamper != nil {
		is.Tamper("access", c)
	}
	return is.sign(c)
}

func (is *Issuer) sign(claims map[string]any) string {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: is.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "test1"))
	if err != nil {
		panic(err)
	}
	b, _ := json.Marshal(claims)
	jws, err := s.Sign(b)
	if err != nil {
		panic(err)
	}
	out, _ := jws.CompactSerialize()
	return out
}

// logout is the end_session endpoint: it redirects to
// post_logout_redirect_uri when given, else says so.
func (is *Issuer) logout(w http.ResponseWriter, r *http.Request) {
	is.EndSession.Add(1)
	if u := r.URL.Query().Get("post_logout_redirect_uri"); u != "" {
		http.Redirect(w, r, u, http.StatusFound)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write([]byte("<!doctype html><title>Signed out</title><p id=signed-out>Signed out of the test issuer.</p>"))
}

func tokenError(w http.ResponseWriter, code string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func random() string {
	var b [24]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
