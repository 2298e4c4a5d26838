package session_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/security/auth"
	"github.com/minipacs/minipacs/dicomweb/security/session"
	"github.com/minipacs/minipacs/dicomweb/testkit/oidctest"
)

// clock is a settable clock shared by the issuer, the authenticator and
// the session manager.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	clock  *clock
	issuer *oidctest.Issuer
	mgr    *session.Manager
	url    string
}

const clientID = "minipacs-browser"

// newEnv runs an issuer, and a server with the sign-in routes and two
// protected routes: GET /data (reader) and DELETE /data (admin), which
// answer the principal.
func newEnv(t *testing.T, mod func(*oidctest.Config)) *env {
	t.Helper()
	clk := &clock{t: time.Now()}
	cfg := oidctest.Config{
		ClientID: clientID, Audience: "minipacs", DefaultUser: "alice", Now: clk.Now,
		Users: map[string]oidctest.User{
			"alice": {Subject: "u-alice", Claims: map[string]any{"roles": []string{"reader", "admin"}}},
			"bob":   {Subject: "u-bob", Claims: map[string]any{"roles": []string{"reader"}, "patients": []string{"P1"}}},
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	is, err := oidctest.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(is.Close)
	authn, err := auth.New(context.Background(), auth.Config{
		OIDC: &auth.OIDCConfig{Issuer: is.URL, Audience: "minipacs", PatientClaim: "patients"}, Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := session.New(session.Config{Authenticator: authn, ClientID: clientID, MaxAge: time.Hour, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	authn.UseSessions(mgr)
	e := echo.New()
	who := func(c echo.Context) error {
		p := auth.FromContext(c.Request().Context())
		return c.JSON(http.StatusOK, p)
	}
	routes := append(mgr.Routes(),
		auth.Route{Method: http.MethodGet, Path: "/data", Role: auth.Reader, Handler: who},
		auth.Route{Method: http.MethodDelete, Path: "/data", Role: auth.Admin, Handler: who})
	auth.Register(e, routes)
	table, err := auth.NewTable(auth.RulesOf(routes)...)
	if err != nil {
		t.Fatal(err)
	}
	e.Use(auth.Middleware(table, authn, auth.Hooks{}))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &env{clock: clk, issuer: is, mgr: mgr, url: srv.URL}
}

// client has a cookie jar and follows no redirect.
func client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string) *http.Response {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// flow runs a sign-in step by step; edit may change the authorization
// request (step "authorize") or the callback URL (step "callback").
func (e *env) flow(t *testing.T, c *http.Client, next string, edit func(step string, u *url.URL)) *http.Response {
	t.Helper()
	resp := get(t, c, e.url+"/auth/login?next="+url.QueryEscape(next))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	authz, _ := url.Parse(resp.Header.Get("Location"))
	if edit != nil {
		edit("authorize", authz)
	}
	resp = get(t, c, authz.String())
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %d", resp.StatusCode)
	}
	cb, _ := url.Parse(resp.Header.Get("Location"))
	if edit != nil {
		edit("callback", cb)
	}
	return get(t, c, cb.String())
}

// signIn signs c in and returns the session's CSRF token.
func (e *env) signIn(t *testing.T, c *http.Client) string {
	t.Helper()
	resp := e.flow(t, c, "/data", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/data" {
		t.Fatalf("callback: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return e.info(t, c).CSRFToken
}

func (e *env) info(t *testing.T, c *http.Client) session.Info {
	t.Helper()
	resp, err := c.Get(e.url + "/auth/session")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var in session.Info
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/auth/session: %d %s", resp.StatusCode, b)
	}
	if strings.Contains(string(b), "eyJ") {
		t.Fatalf("/auth/session shows a token: %s", b)
	}
	json.Unmarshal(b, &in)
	return in
}

func do(t *testing.T, c *http.Client, method, u string, hdr map[string]string) (int, *auth.Principal) {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p auth.Principal
	if resp.StatusCode == http.StatusOK {
		json.NewDecoder(resp.Body).Decode(&p)
	}
	return resp.StatusCode, &p
}

func TestSignIn(t *testing.T) {
	e := newEnv(t, nil)
	c := client()
	// Without a session: 401, and /auth/session says where to sign in.
	if st, _ := do(t, c, http.MethodGet, e.url+"/data", nil); st != http.StatusUnauthorized {
		t.Fatalf("before sign-in: %d", st)
	}
	resp, _ := c.Get(e.url + "/auth/session")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), `"login":"/auth/login"`) {
		t.Fatalf("/auth/session without a session: %d %s", resp.StatusCode, b)
	}

	var loginURL *url.URL
	resp = e.flow(t, c, "/web/#/study/1.2.3", func(step string, u *url.URL) {
		if step == "authorize" {
			loginURL = u
		}
	})
	q := loginURL.Query()
	if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || q.Get("state") == "" || q.Get("nonce") == "" ||
		q.Get("redirect_uri") != e.url+"/auth/callback" || q.Get("client_id") != clientID {
		t.Errorf("authorization request %v", q)
	}
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/web/#/study/1.2.3" {
		t.Fatalf("callback: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var ck *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == "minipacs_session" {
			ck = k
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Secure || len(ck.Value) != 43 {
		t.Fatalf("session cookie %+v", ck)
	}
	in := e.info(t, c)
	if in.User != "alice" || in.Subject != "u-alice" || strings.Join(in.Roles, ",") != "reader,writer,admin" || in.Restricted || in.CSRFToken == "" {
		t.Errorf("session info %+v", in)
	}
	st, p := do(t, c, http.MethodGet, e.url+"/data", nil)
	if st != http.StatusOK || p.Method != auth.MethodSession || p.Subject != "u-alice" || p.Restriction != nil {
		t.Errorf("GET with the session: %d %+v", st, p)
	}
	// The same sign-in cannot be replayed: the login cookie is gone.
	if e.mgr.Len() != 1 {
		t.Errorf("%d sessions", e.mgr.Len())
	}
}

func TestRestrictedUser(t *testing.T) {
	e := newEnv(t, func(c *oidctest.Config) { c.DefaultUser = "bob" })
	c := client()
	e.signIn(t, c)
	st, p := do(t, c, http.MethodGet, e.url+"/data", nil)
	if st != http.StatusOK || p.Restriction == nil || len(p.Restriction.Patients) != 1 || p.Restriction.Patients[0].ID != "P1" {
		t.Fatalf("restricted session: %d %+v", st, p.Restriction)
	}
	if !p.AllowsPatient("P1", "") || p.AllowsPatient("P2", "") {
		t.Error("restriction not applied as for a bearer token")
	}
	// Reader only: DELETE (admin) is 403 even with the CSRF token.
	csrf := e.info(t, c).CSRFToken
	if st, _ := do(t, c, http.MethodDelete, e.url+"/data", map[string]string{"X-CSRF-Token": csrf}); st != http.StatusForbidden {
		t.Errorf("reader DELETE: %d", st)
	}
}

func TestCallbackRefused(t *testing.T) {
	tests := []struct {
		name   string
		issuer func(*oidctest.Issuer)
		edit   func(step string, u *url.URL)
		before func(e *env, c *http.Client)
		status int
	}{
		{name: "state mismatch", status: http.StatusBadRequest, edit: func(step string, u *url.URL) {
			if step == "callback" {
				setQuery(u, "state", "forged")
			}
		}},
		{name: "PKCE challenge altered", status: http.StatusBadGateway, edit: func(step string, u *url.URL) {
			if step == "authorize" {
				setQuery(u, "code_challenge", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
			}
		}},
		{name: "code forged", status: http.StatusBadGateway, edit: func(step string, u *url.URL) {
			if step == "callback" {
				setQuery(u, "code", "forged")
			}
		}},
		{name: "nonce mismatch", status: http.StatusUnauthorized, issuer: func(is *oidctest.Issuer) {
			is.Tamper = func(kind string, c map[string]any) {
				if kind == "id" {
					c["nonce"] = "other"
				}
			}
		}},
		{name: "ID token for another client", status: http.StatusUnauthorized, issuer: func(is *oidctest.Issuer) {
			is.Tamper = func(kind string, c map[string]any) {
				if kind == "id" {
					c["aud"] = "another-client"
				}
			}
		}},
		{name: "ID token expired", status: http.StatusUnauthorized, issuer: func(is *oidctest.Issuer) {
			is.Tamper = func(kind string, c map[string]any) {
				if kind == "id" {
					c["exp"] = time.Now().Add(-time.Hour).Unix()
				}
			}
		}},
		{name: "access token for another audience", status: http.StatusUnauthorized, issuer: func(is *oidctest.Issuer) {
			is.Tamper = func(kind string, c map[string]any) {
				if kind == "access" {
					c["aud"] = "someone-else"
				}
			}
		}},
		{name: "tokens of different subjects", status: http.StatusUnauthorized, issuer: func(is *oidctest.Issuer) {
			is.Tamper = func(kind string, c map[string]any) {
				if kind == "access" {
					c["sub"] = "u-mallory"
				}
			}
		}},
		{name: "login cookie expired", status: http.StatusBadRequest, edit: nil, before: func(e *env, c *http.Client) {}},
		{name: "login cookie forged", status: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			if tt.issuer != nil {
				tt.issuer(e.issuer)
			}
			c := client()
			edit := tt.edit
			switch tt.name {
			case "login cookie expired":
				edit = func(step string, u *url.URL) {
					if step == "callback" {
						e.clock.Add(11 * time.Minute)
					}
				}
			case "login cookie forged":
				edit = func(step string, u *url.URL) {
					if step == "callback" {
						base, _ := url.Parse(e.url)
						for _, k := range c.Jar.Cookies(base) {
							if k.Name == "minipacs_login" {
								v := []byte(k.Value)
								v[3] ^= 1 // a flipped bit of the payload
								c.Jar.SetCookies(base, []*http.Cookie{{Name: k.Name, Value: string(v), Path: "/"}})
							}
						}
					}
				}
			}
			resp := e.flow(t, c, "/data", edit)
			if resp.StatusCode != tt.status {
				t.Errorf("callback: %d, want %d", resp.StatusCode, tt.status)
			}
			if e.mgr.Len() != 0 {
				t.Error("a session was created")
			}
			if st, _ := do(t, c, http.MethodGet, e.url+"/data", nil); st != http.StatusUnauthorized {
				t.Errorf("GET after a refused sign-in: %d", st)
			}
		})
	}
}

func setQuery(u *url.URL, k, v string) {
	q := u.Query()
	q.Set(k, v)
	u.RawQuery = q.Encode()
}

func TestCSRF(t *testing.T) {
	e := newEnv(t, nil)
	c := client()
	csrf := e.signIn(t, c)
	tests := []struct {
		name   string
		hdr    map[string]string
		client *http.Client
		status int
	}{
		{"session without the header", nil, c, http.StatusForbidden},
		{"session with a wrong token", map[string]string{"X-CSRF-Token": csrf + "x"}, c, http.StatusForbidden},
		{"session with the token", map[string]string{"X-CSRF-Token": csrf}, c, http.StatusOK},
		{"bearer needs no token", map[string]string{"Authorization": "Bearer " + e.issuer.AccessToken("alice")}, client(), http.StatusOK},
		{"no credentials", nil, client(), http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if st, _ := do(t, tt.client, http.MethodDelete, e.url+"/data", tt.hdr); st != tt.status {
				t.Errorf("DELETE: %d, want %d", st, tt.status)
			}
		})
	}
}

func TestSessionExpires(t *testing.T) {
	e := newEnv(t, nil)
	c := client()
	e.signIn(t, c)
	e.clock.Add(61 * time.Minute) // MaxAge is 1 h; the issuer refreshes meanwhile
	if st, _ := do(t, c, http.MethodGet, e.url+"/data", nil); st != http.StatusUnauthorized {
		t.Fatalf("after the session's max age: %d", st)
	}
	if e.mgr.Len() != 0 {
		t.Error("the expired session is still kept")
	}
	resp := get(t, c, e.url+"/auth/session")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/auth/session: %d", resp.StatusCode)
	}
}

func TestUnknownSession(t *testing.T) {
	e := newEnv(t, nil)
	c := client()
	base, _ := url.Parse(e.url)
	c.Jar.SetCookies(base, []*http.Cookie{{Name: "minipacs_session", Value: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", Path: "/"}})
	if st, _ := do(t, c, http.MethodGet, e.url+"/data", nil); st != http.StatusUnauthorized {
		t.Fatalf("forged session id: %d", st)
	}
}

func TestRefresh(t *testing.T) {
	e := newEnv(t, func(c *oidctest.Config) { c.AccessTTL = 5 * time.Minute })
	c := client()
	e.signIn(t, c)
	// Long before expiry: no refresh.
	e.clock.Add(2 * time.Minute)
	if st, _ := do(t, c, http.MethodGet, e.url+"/data", nil); st != http.StatusOK || e.issuer.Refreshes.Load() != 0 {
		t.Fatalf("%d, %d refreshes", st, e.issuer.Refreshes.Load())
	}
	// Near expiry: renewed silently, more than once (rotated refresh tokens).
	step := 2*time.Minute + 30*time.Second // into the last minute of the token
	for i := 1; i <= 3; i++ {
		e.clock.Add(step)
		if st, _ := do(t, c, http.MethodGet, e.url+"/data", nil); st != http.StatusOK || e.issuer.Refreshes.Load() != int32(i) {
			t.Fatalf("renewal %d: %d, %d refreshes", i, st, e.issuer.Refreshes.Load())
		}
		step = 4*time.Minute + 30*time.Second
	}
	// The issuer refuses: the token still works until it expires, then 401.
	e.issuer.BreakRefresh.Store(true)
	e.clock.Add(4*time.Minute + 30*time.Second)
	if st, _ := do(t, c, http.MethodGet, e.url+"/data", nil); st != http.StatusOK {
		t.Fatalf("refused renewal before expiry: %d", st)
	}
	e.clock.Add(time.Minute)
	if st, _ := do(t, c, http.MethodGet, e.url+"/data", nil); st != http.StatusUnauthorized {
		t.Fatalf("after expiry without renewal: %d", st)
	}
	if e.mgr.Len() != 0 {
		t.Error("the failed session is still kept")
	}
}

func TestNoRefreshToken(t *testing.T) {
	e := newEnv(t, func(c *oidctest.Config) { c.AccessTTL = 5 * time.Minute; c.NoRefresh = true })
	c := client()
	e.signIn(t, c)
	e.clock.Add(5*time.Minute + time.Second)
	if st, _ := do(t, c, http.MethodGet, e.url+"/data", nil); st != http.StatusUnauthorized {
		t.Fatalf("expired access token without refresh token: %d", st)
	}
}

func TestLogout(t *testing.T) {
	e := newEnv(t, nil)
	c := client()
	csrf := e.signIn(t, c)
	post := func(hdr map[string]string, form url.Values) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, e.url+"/auth/logout", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if resp := post(nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without CSRF token: %d", resp.StatusCode)
	}
	if st, _ := do(t, c, http.MethodGet, e.url+"/data", nil); st != http.StatusOK {
		t.Fatalf("refused logout ended the session: %d", st)
	}
	resp := post(nil, url.Values{"csrf_token": {csrf}})
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc.String(), e.issuer.URL+"/logout?") ||
		loc.Query().Get("client_id") != clientID || loc.Query().Get("post_logout_redirect_uri") != e.url+"/web/" ||
		strings.Contains(loc.RawQuery, "eyJ") {
		t.Fatalf("logout: %d to %s", resp.StatusCode, loc)
	}
	if st, _ := do(t, c, http.MethodGet, e.url+"/data", nil); st != http.StatusUnauthorized {
		t.Fatalf("after logout: %d", st)
	}
	if e.mgr.Len() != 0 {
		t.Error("session kept after logout")
	}
}

func TestSafeNext(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/web/", "/web/"},
		{"/web/#/study/1.2.3", "/web/#/study/1.2.3"},
		{"/viewer/viewer?StudyInstanceUIDs=1.2", "/viewer/viewer?StudyInstanceUIDs=1.2"},
		{"", "/web/"},
		{"//evil.example.org/", "/web/"},
		{"/\\evil.example.org", "/web/"},
		{"https://evil.example.org/", "/web/"},
		{"javascript:alert(1)", "/web/"},
		{"web/", "/web/"},
		{"/web/\r\nSet-Cookie: x=y", "/web/"},
		{"/web/\t", "/web/"},
	}
	for _, tt := range tests {
		if got := session.SafeNext(tt.in, "/web/"); got != tt.want {
			t.Errorf("SafeNext(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
