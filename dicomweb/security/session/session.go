package session

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/security/auth"
	"github.com/minipacs/minipacs/dicomweb/security/transport"
)

// Paths of the routes.
const (
	LoginPath    = "/auth/login"
	CallbackPath = "/auth/callback"
	LogoutPath   = "/auth/logout"
	InfoPath     = "/auth/session"
)

// Config configures browser sign-in.
type Config struct {
	// Authenticator verifies the ID and access tokens; its OIDC issuer is
	// the one users sign in with. Required, with OIDC configured.
	Authenticator *auth.Authenticator
	// ClientID is this server's OAuth client id at the issuer; the ID
	// token's aud. Required.
	ClientID string
	// ClientSecret, when set, authenticates the code exchange and the
	// refresh (client_secret_basic); without it the client is public
	// (PKCE alone).
	ClientSecret string
	// BaseURL is the server's external URL (only its scheme and host are
	// used) for the redirect URI; "" derives it from each request's Host.
	BaseURL string
	// Secure: the browser reaches the server over TLS (cookies get
	// Secure and the __Host- prefix).
	Secure bool
	// MaxAge is a session's lifetime (default 12 h).
	MaxAge time.Duration
	// Scopes requested (default openid profile).
	Scopes []string
	// RefreshBefore is how long before its expiry the access token is
	// renewed (default 60 s).
	RefreshBefore time.Duration
	// Home is where a sign-in without next, and the issuer after logout,
	// lead (default /web/).
	Home string
	// MaxSessions bounds the sessions in memory (default 10000).
	MaxSessions int
	HTTPClient  *http.Client
	Logger      *slog.Logger
	Now         func() time.Time
}

// Manager runs sign-in and holds the sessions. It implements
// auth.Sessions.
type Manager struct {
	cfg       Config
	issuer    string
	log       *slog.Logger
	key       []byte // HMAC key of the login cookie
	cookie    string // session cookie name
	loginName string // login cookie name

	discMu sync.Mutex
	disc   *endpoints

	mu        sync.Mutex
	sessions  map[string]*session
	lastSweep time.Time
}

type endpoints struct {
	Issuer        string `json:"issuer"`
	Authorization string `json:"authorization_endpoint"`
	Token         string `json:"token_endpoint"`
	EndSession    string `json:"end_session_endpoint"`
	fetched       time.Time
}

// session is one signed-in browser.
type session struct {
	mu        sync.Mutex // held while renewing
	principal *auth.Principal
	subject   string
	access    string
	refresh   string
	accessExp time.Time
	expires   time.Time
	csrf      string
	retry     time.Time // no renewal attempt before
}

// Errors of Session: short reasons for the audit trail (401).
var (
	errUnknown = errors.New("session: unknown or expired session")
	errExpired = errors.New("session: session expired")
	errRenew   = errors.New("session: access token expired and could not be renewed")
)

// New checks cfg and returns a Manager.
func New(cfg Config) (*Manager, error) {
	if cfg.Authenticator == nil || cfg.Authenticator.OIDCIssuer() == "" {
		return nil, errors.New("session: browser sign-in needs OIDC (an issuer and an audience)")
	}
	if cfg.ClientID == "" {
		return nil, errors.New("session: browser sign-in needs a client id")
	}
	origin, err := transport.Origin(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	cfg.BaseURL = origin
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 12 * time.Hour
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{"openid", "profile"}
	}
	if cfg.RefreshBefore <= 0 {
		cfg.RefreshBefore = time.Minute
	}
	if cfg.Home == "" {
		cfg.Home = "/web/"
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 10000
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &Manager{cfg: cfg, issuer: cfg.Authenticator.OIDCIssuer(), log: cfg.Logger.With("component", "session"),
		key: randomBytes(32), sessions: map[string]*session{},
		cookie: "minipacs_session", loginName: "minipacs_login"}
	if cfg.Secure {
		m.cookie, m.loginName = "__Host-minipacs_session", "__Host-minipacs_login"
	}
	return m, nil
}

// CookieName is the session cookie's name.
func (m *Manager) CookieName() string { return m.cookie }

// Routes are the sign-in routes, all Public (each checks what it needs).
func (m *Manager) Routes() []auth.Route {
	return []auth.Route{
		{Method: http.MethodGet, Path: LoginPath, Role: auth.Public, Handler: m.login},
		{Method: http.MethodGet, Path: CallbackPath, Role: auth.Public, Handler: m.callback},
		{Method: http.MethodPost, Path: LogoutPath, Role: auth.Public, Handler: m.logout},
		{Method: http.MethodGet, Path: InfoPath, Role: auth.Public, Handler: m.info},
	}
}

// ---- login ----

// loginState is what the login cookie carries from /auth/login to
// /auth/callback.
type loginState struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Next     string `json:"x"`
	Redirect string `json:"r"`
	Expires  int64  `json:"e"`
}

const loginTTL = 10 * time.Minute

func (m *Manager) login(c echo.Context) error {
	r := c.Request()
	ep, err := m.endpoints(r.Context())
	if err != nil {
		m.log.Warn("OIDC discovery", "err", err)
		return page(c, http.StatusServiceUnavailable, "The sign-in service is not reachable; try again later.")
	}
	ls := loginState{
		State: random(), Nonce: random(), Verifier: random(),
		Next: SafeNext(r.URL.Query().Get("next"), m.cfg.Home), Redirect: m.origin(r) + CallbackPath,
		Expires: m.cfg.Now().Add(loginTTL).Unix(),
	}
	m.setCookie(c, m.loginName, m.sign(ls), int(loginTTL/time.Second))
	sum := sha256.Sum256([]byte(ls.Verifier))
	u, _ := url.Parse(ep.Authorization)
	q := u.Query()
	q.Set("response_type", "code")
	q.Set("client_id", m.cfg.ClientID)
	q.Set("redirect_uri", ls.Redirect)
	q.Set("scope", strings.Join(m.cfg.Scopes, " "))
	q.Set("state", ls.State)
	q.Set("nonce", ls.Nonce)
	q.Set("code_challenge", base64.RawURLEncoding.EncodeToString(sum[:]))
	q.Set("code_challenge_method", "S256")
	u.RawQuery = q.Encode()
	noStore(c)
	return c.Redirect(http.StatusSeeOther, u.String())
}

// SafeNext returns next when it is a same-origin relative path (starts
// with one "/", no scheme, host, backslash or control character), else
// home.
func SafeNext(next, home string) string {
	if next == "" || len(next) > 2048 || next[0] != '/' || strings.HasPrefix(next, "//") || strings.ContainsRune(next, '\\') {
		return home
	}
	for _, r := range next {
		if r < 0x20 || r == 0x7f {
			return home
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return home
	}
	return next
}

// origin is the server's external scheme://host.
func (m *Manager) origin(r *http.Request) string {
	if m.cfg.BaseURL != "" {
		return m.cfg.BaseURL
	}
	scheme := "http"
	if r.TLS != nil || m.cfg.Secure {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (m *Manager) sign(ls loginState) string {
	b, _ := json.Marshal(ls)
	p := base64.RawURLEncoding.EncodeToString(b)
	return p + "." + base64.RawURLEncoding.EncodeToString(m.mac(p))
}

func (m *Manager) mac(s string) []byte {
	h := hmac.New(sha256.New, m.key)
	h.Write([]byte(s))
	return h.Sum(nil)
}

// readLogin returns the login cookie's state when its signature is right
// and it has not expired.
func (m *Manager) readLogin(r *http.Request) (*loginState, error) {
	ck, err := r.Cookie(m.loginName)
	if err != nil {
		return nil, errors.New("no login cookie")
	}
	p, sig, ok := strings.Cut(ck.Value, ".")
	s, err := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err != nil || !hmac.Equal(s, m.mac(p)) {
		return nil, errors.New("bad login cookie signature")
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	var ls loginState
	if err != nil || json.Unmarshal(b, &ls) != nil {
		return nil, errors.New("malformed login cookie")
	}
	if m.cfg.Now().Unix() > ls.Expires {
		return nil, errors.New("login cookie expired")
	}
	return &ls, nil
}

// ---- callback ----

func (m *Manager) callback(c echo.Context) error {
	r := c.Request()
	ctx := r.Context()
	noStore(c)
	ls, err := m.readLogin(r)
	m.setCookie(c, m.loginName, "", -1)
	if err != nil {
		m.log.Info("sign-in refused", "reason", err.Error())
		return page(c, http.StatusBadRequest, "This sign-in was not started here or took too long. Start again from the study browser.")
	}
	q := r.URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(ls.State)) != 1 {
		m.log.Info("sign-in refused", "reason", "state mismatch")
		return page(c, http.StatusBadRequest, "Sign-in refused: the answer does not belong to this sign-in (state). Start again.")
	}
	if e := q.Get("error"); e != "" {
		m.log.Info("sign-in refused by the issuer", "error", e)
		return page(c, http.StatusUnauthorized, "The identity provider refused the sign-in.")
	}
	code := q.Get("code")
	if code == "" {
		return page(c, http.StatusBadRequest, "Sign-in answer without a code.")
	}
	ep, err := m.endpoints(ctx)
	if err != nil {
		m.log.Warn("OIDC discovery", "err", err)
		return page(c, http.StatusServiceUnavailable, "The sign-in service is not reachable; try again later.")
	}
	tr, err := m.tokenRequest(ctx, ep.Token, url.Values{
		"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {ls.Redirect}, "code_verifier": {ls.Verifier},
	})
	if err != nil {
		m.log.Warn("code exchange", "err", err)
		return page(c, http.StatusBadGateway, "The identity provider did not accept the sign-in (code exchange).")
	}
	idt, err := m.cfg.Authenticator.VerifyIDToken(ctx, tr.IDToken, m.cfg.ClientID, ls.Nonce)
	if err != nil {
		return m.tokenFailure(c, "ID token", err)
	}
	at, err := m.cfg.Authenticator.VerifyAccessToken(ctx, tr.AccessToken)
	if err != nil {
		return m.tokenFailure(c, "access token", err)
	}
	if idt.Subject != at.Subject {
		m.log.Warn("sign-in refused", "reason", "ID and access tokens name different subjects")
		return page(c, http.StatusUnauthorized, "Sign-in refused: the tokens do not match.")
	}
	s := &session{principal: at.Principal, subject: at.Subject, access: tr.AccessToken, refresh: tr.RefreshToken,
		accessExp: at.Expiry, expires: m.cfg.Now().Add(m.cfg.MaxAge), csrf: random()}
	id, err := m.add(s)
	if err != nil {
		return page(c, http.StatusServiceUnavailable, "Too many open sessions; try again later.")
	}
	m.setCookie(c, m.cookie, id, int(m.cfg.MaxAge/time.Second))
	m.log.Info("signed in", "subject", at.Subject, "name", at.Principal.Name, "roles", at.Principal.Roles.String())
	return c.Redirect(http.StatusSeeOther, ls.Next)
}

func (m *Manager) tokenFailure(c echo.Context, what string, err error) error {
	m.log.Warn("sign-in refused", "token", what, "reason", err.Error())
	if errors.Is(err, auth.ErrUnavailable) {
		return page(c, http.StatusServiceUnavailable, "The identity provider's signing keys are not reachable; try again later.")
	}
	return page(c, http.StatusUnauthorized, "Sign-in refused: the identity provider's "+what+" is not valid here.")
}

// ---- sessions ----

func (m *Manager) add(s *session) (string, error) {
	id := random()
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if now.Sub(m.lastSweep) > time.Minute || len(m.sessions) >= m.cfg.MaxSessions {
		m.lastSweep = now
		for k, v := range m.sessions {
			v.mu.Lock()
			dead := !now.Before(v.expires) || (v.refresh == "" && !now.Before(v.accessExp))
			v.mu.Unlock()
			if dead {
				delete(m.sessions, k)
			}
		}
	}
	if len(m.sessions) >= m.cfg.MaxSessions {
		return "", errors.New("session: too many sessions")
	}
	m.sessions[id] = s
	return id, nil
}

func (m *Manager) lookup(r *http.Request) (string, *session) {
	ck, err := r.Cookie(m.cookie)
	if err != nil || ck.Value == "" {
		return "", nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return ck.Value, m.sessions[ck.Value]
}

func (m *Manager) drop(id string) {
	m.mu.Lock()
	delete(m.sessions, id)
	m.mu.Unlock()
}

// Len is the number of sessions in memory.
func (m *Manager) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sessions)
}

// Session implements auth.Sessions: the principal and CSRF token of r's
// session, renewing its access token when it is about to expire.
func (m *Manager) Session(ctx context.Context, r *http.Request) (*auth.Principal, string, error) {
	if _, err := r.Cookie(m.cookie); err != nil {
		return nil, "", auth.ErrNoCredentials
	}
	id, s := m.lookup(r)
	if s == nil {
		return nil, "", errUnknown
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := m.cfg.Now()
	if !now.Before(s.expires) {
		m.drop(id)
		return nil, "", errExpired
	}
	if s.refresh != "" && !now.Before(s.accessExp.Add(-m.cfg.RefreshBefore)) && !now.Before(s.retry) {
		if err := m.renew(ctx, s); err != nil {
			m.log.Warn("session renewal failed", "subject", s.subject, "err", err)
			s.retry = now.Add(10 * time.Second)
		}
	}
	if !now.Before(s.accessExp) {
		m.drop(id)
		return nil, "", errRenew
	}
	p := *s.principal
	p.Method = auth.MethodSession
	return &p, s.csrf, nil
}

// renew refreshes s's access token (s.mu held).
func (m *Manager) renew(ctx context.Context, s *session) error {
	ep, err := m.endpoints(ctx)
	if err != nil {
		return err
	}
	tr, err := m.tokenRequest(ctx, ep.Token, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {s.refresh}})
	if err != nil {
		s.refresh = "" // refused or rotated away: do not try it again
		return err
	}
	at, err := m.cfg.Authenticator.VerifyAccessToken(ctx, tr.AccessToken)
	if err != nil {
		return err
	}
	if at.Subject != s.subject {
		s.refresh = ""
		return errors.New("session: renewed token names another subject")
	}
	s.principal, s.access, s.accessExp = at.Principal, tr.AccessToken, at.Expiry
	if tr.RefreshToken != "" {
		s.refresh = tr.RefreshToken
	}
	m.log.Debug("session renewed", "subject", s.subject)
	return nil
}

// ---- logout and info ----

func (m *Manager) logout(c echo.Context) error {
	r := c.Request()
	noStore(c)
	id, s := m.lookup(r)
	if s != nil {
		tok := r.Header.Get(auth.CSRFHeader)
		if tok == "" {
			r.Body = http.MaxBytesReader(c.Response(), r.Body, 4096)
			tok = r.PostFormValue("csrf_token")
		}
		s.mu.Lock()
		ok := subtle.ConstantTimeCompare([]byte(tok), []byte(s.csrf)) == 1
		subject := s.subject
		s.mu.Unlock()
		if !ok {
			return page(c, http.StatusForbidden, "Sign-out refused: missing or wrong CSRF token.")
		}
		m.drop(id)
		m.log.Info("signed out", "subject", subject)
	}
	m.setCookie(c, m.cookie, "", -1)
	target := m.cfg.Home
	if ep, err := m.endpoints(r.Context()); err == nil && ep.EndSession != "" {
		u, _ := url.Parse(ep.EndSession)
		q := u.Query()
		q.Set("client_id", m.cfg.ClientID)
		q.Set("post_logout_redirect_uri", m.origin(r)+m.cfg.Home)
		u.RawQuery = q.Encode()
		target = u.String()
	}
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		return c.JSON(http.StatusOK, map[string]string{"location": target})
	}
	return c.Redirect(http.StatusSeeOther, target)
}

// Info is the answer of GET /auth/session.
type Info struct {
	User       string    `json:"user"`
	Subject    string    `json:"subject"`
	Roles      []string  `json:"roles"`
	Restricted bool      `json:"restricted"`
	Expires    time.Time `json:"expires"`
	CSRFToken  string    `json:"csrfToken"`
}

func (m *Manager) info(c echo.Context) error {
	noStore(c)
	c.Response().Header().Set("Vary", "Cookie")
	p, csrf, err := m.Session(c.Request().Context(), c.Request())
	switch {
	case errors.Is(err, auth.ErrUnavailable):
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"error": "sign-in service unavailable"})
	case err != nil:
		if !errors.Is(err, auth.ErrNoCredentials) {
			m.setCookie(c, m.cookie, "", -1)
		}
		return c.JSON(http.StatusUnauthorized, map[string]string{"login": LoginPath})
	}
	_, s := m.lookup(c.Request())
	in := Info{User: p.Name, Subject: p.Subject, Roles: []string{}, Restricted: p.Restriction != nil, CSRFToken: csrf}
	if s != nil {
		s.mu.Lock()
		in.Expires = s.expires.UTC()
		s.mu.Unlock()
	}
	for _, r := range []auth.Role{auth.Reader, auth.Writer, auth.Admin} {
		if p.Roles.Has(r) {
			in.Roles = append(in.Roles, r.String())
		}
	}
	return c.JSON(http.StatusOK, in)
}

// ---- issuer ----

// endpoints returns the issuer's discovery document (cached for an hour).
func (m *Manager) endpoints(ctx context.Context) (*endpoints, error) {
	m.discMu.Lock()
	defer m.discMu.Unlock()
	if m.disc != nil && m.cfg.Now().Sub(m.disc.fetched) < time.Hour {
		return m.disc, nil
	}
	var ep endpoints
	u := strings.TrimRight(m.issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := m.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("openid discovery: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("openid discovery: %s", resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&ep); err != nil {
		return nil, fmt.Errorf("openid discovery: %w", err)
	}
	if ep.Issuer != m.issuer {
		return nil, fmt.Errorf("openid discovery: issuer %q differs from the configured one", ep.Issuer)
	}
	for _, s := range []string{ep.Authorization, ep.Token} {
		if err := checkURL(s); err != nil {
			return nil, fmt.Errorf("openid discovery: %w", err)
		}
	}
	if ep.EndSession != "" && checkURL(ep.EndSession) != nil {
		ep.EndSession = ""
	}
	ep.fetched = m.cfg.Now()
	m.disc = &ep
	return m.disc, nil
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	Error        string `json:"error"`
}

// tokenRequest posts a grant to the token endpoint.
func (m *Manager) tokenRequest(ctx context.Context, endpoint string, form url.Values) (*tokenResponse, error) {
	if m.cfg.ClientSecret == "" {
		form.Set("client_id", m.cfg.ClientID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if m.cfg.ClientSecret != "" {
		// RFC 6749 §2.3.1: form-encoded, then Basic.
		req.SetBasicAuth(url.QueryEscape(m.cfg.ClientID), url.QueryEscape(m.cfg.ClientSecret))
	}
	resp, err := m.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("token endpoint: %w", err)
	}
	defer resp.Body.Close()
	var tr tokenResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tr); err != nil {
		return nil, fmt.Errorf("token endpoint: %s: %w", resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK || tr.Error != "" {
		return nil, fmt.Errorf("token endpoint: %s: error %q", resp.Status, tr.Error)
	}
	if tr.AccessToken == "" || !strings.EqualFold(tr.TokenType, "bearer") {
		return nil, errors.New("token endpoint: no bearer access token")
	}
	if form.Get("grant_type") == "authorization_code" && tr.IDToken == "" {
		return nil, errors.New("token endpoint: no ID token")
	}
	return &tr, nil
}

// checkURL accepts https URLs, and http ones on a loopback host only.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Errorf("invalid URL %q", s)
	}
	if u.Scheme == "https" {
		return nil
	}
	if u.Scheme == "http" {
		if h := u.Hostname(); h == "localhost" || net.ParseIP(h).IsLoopback() {
			return nil
		}
	}
	return fmt.Errorf("URL %q: https is required except on loopback", s)
}

// ---- helpers ----

func (m *Manager) setCookie(c echo.Context, name, value string, maxAge int) {
	c.SetCookie(&http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: m.cfg.Secure, SameSite: http.SameSiteLaxMode})
}

func noStore(c echo.Context) { c.Response().Header().Set("Cache-Control", "no-store") }

// page answers a short fixed text.
func page(c echo.Context, status int, text string) error {
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	return c.Blob(status, "text/plain; charset=utf-8", []byte(text+"\n"))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand documentation)
	return b
}

// random is 256 random bits, base64url.
func random() string { return base64.RawURLEncoding.EncodeToString(randomBytes(32)) }
