package auth_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/security/auth"
	"golang.org/x/crypto/bcrypt"
)

const audience = "minipacs-api"

// fixture is an echo server with every DICOMweb route (stub handlers that
// answer 200 and the principal) behind the auth middleware, a local OIDC
// issuer, API tokens and Basic users.
type fixture struct {
	srv    *httptest.Server
	is     *testIssuer
	table  *auth.Table
	tokens map[string]string // name → token
	mu     sync.Mutex
	events []auth.AuthEvent
}

func (f *fixture) Events() []auth.AuthEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]auth.AuthEvent(nil), f.events...)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func newFixture(t *testing.T, mod func(*auth.Config)) *fixture {
	t.Helper()
	f := &fixture{is: newIssuer(t), tokens: map[string]string{}}
	var lines strings.Builder
	for _, tk := range []struct{ name, roles, extra string }{
		{"viewer-script", "reader", ""},
		{"ct-scanner", "writer", ""},
		{"ops", "admin", ""},
		{"research", "reader", "patients=P1,P2^^^HOSP tenants=HOSP"},
	} {
		tok, hash := auth.GenerateToken()
		f.tokens[tk.name] = tok
		fmt.Fprintf(&lines, "# %s\n%s %s %s %s\n", tk.name, tk.name, hash, tk.roles, tk.extra)
	}
	pw, _ := bcrypt.GenerateFromPassword([]byte("legacy-pass-1"), 4)
	cfg := auth.Config{
		OIDC: &auth.OIDCConfig{
			Issuer: f.is.URL, Audience: audience,
			RolesClaim: "realm_access.roles",
			RoleMap:    map[string]auth.Role{"pacs-read": auth.Reader, "pacs-write": auth.Writer, "pacs-admin": auth.Admin},
		},
		APITokensFile:  writeFile(t, "tokens", lines.String()),
		BasicUsersFile: writeFile(t, "users", fmt.Sprintf("old-us %s writer\n", pw)),
	}
	if mod != nil {
		mod(&cfg)
	}
	a, err := auth.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.table, err = auth.NewTable(dicomwebRules("/dicomweb")...)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.Use(auth.Middleware(f.table, a, auth.Hooks{OnAuth: func(_ context.Context, ev auth.AuthEvent) {
		f.mu.Lock()
		f.events = append(f.events, ev)
		f.mu.Unlock()
	}}))
	for _, r := range f.table.Rules() {
		e.Add(r.Method, r.Path, func(c echo.Context) error {
			p := auth.FromContext(c.Request().Context())
			if p == nil {
				return c.String(http.StatusInternalServerError, "no principal")
			}
			return c.String(http.StatusOK, string(p.Method)+":"+p.Subject)
		})
	}
	e.GET("/dicomweb/forgotten", func(c echo.Context) error { return c.String(http.StatusOK, "leak") })
	f.srv = httptest.NewServer(e)
	t.Cleanup(f.srv.Close)
	return f
}

// claims are valid reader claims unless changed by mod.
func (f *fixture) claims(mod func(map[string]any)) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss": f.is.URL, "aud": []string{"account", audience}, "sub": "user-123",
		"preferred_username": "dr.who", "exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(),
		"realm_access": map[string]any{"roles": []string{"pacs-read", "offline_access"}},
	}
	if mod != nil {
		mod(c)
	}
	return c
}

func rolesClaim(rs ...string) func(map[string]any) {
	return func(c map[string]any) { c["realm_access"] = map[string]any{"roles": rs} }
}

// concrete turns a route pattern into a request path.
func concrete(pattern string) string {
	r := strings.NewReplacer(":study", "1.2.840.1", ":series", "1.2.840.1.2", ":instance", "1.2.840.1.2.3", ":frames", "1,2", "*", "7")
	return r.Replace(pattern)
}

type cred struct {
	name  string
	set   func(*http.Request)
	fail  int        // 401 when the credential is refused
	roles auth.Roles // else: the granted roles
	sub   string     // expected "method:subject" in the 200 body
}

func bearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func (f *fixture) creds(t *testing.T) []cred {
	k := testKeys()
	now := time.Now()
	valid := f.claims(nil)
	tampered := sign(t, "RS256", "rsa1", k.rsa, valid)
	parts := strings.Split(tampered, ".")
	parts[1] = b64(mustJSON(f.claims(rolesClaim("pacs-admin"))))
	tampered = strings.Join(parts, ".")
	R, W, A := auth.RolesOf(auth.Reader), auth.RolesOf(auth.Writer), auth.RolesOf(auth.Admin)
	return []cred{
		{name: "none", set: func(*http.Request) {}, fail: 401},
		{name: "garbage", set: bearer("not-a-token"), fail: 401},
		{name: "garbage-jwt", set: bearer("eyJhbGciOiJSUzI1NiJ9.e30.AAAA"), fail: 401},
		{name: "expired", set: bearer(sign(t, "RS256", "rsa1", k.rsa, f.claims(func(c map[string]any) {
			c["exp"], c["iat"] = now.Add(-2*time.Hour).Unix(), now.Add(-3*time.Hour).Unix()
		}))), fail: 401},
		{name: "expired-within-skew", set: bearer(sign(t, "RS256", "rsa1", k.rsa, f.claims(func(c map[string]any) {
			c["exp"] = now.Add(-20 * time.Second).Unix()
		}))), roles: R, sub: "oidc:user-123"},
		{name: "not-yet-valid", set: bearer(sign(t, "RS256", "rsa1", k.rsa, f.claims(func(c map[string]any) {
			c["nbf"] = now.Add(10 * time.Minute).Unix()
		}))), fail: 401},
		{name: "issued-in-future", set: bearer(sign(t, "RS256", "rsa1", k.rsa, f.claims(func(c map[string]any) {
			c["iat"] = now.Add(10 * time.Minute).Unix()
		}))), fail: 401},
		{name: "no-exp", set: bearer(sign(t, "RS256", "rsa1", k.rsa, f.claims(func(c map[string]any) { delete(c, "exp") }))), fail: 401},
		{name: "wrong-issuer", set: bearer(sign(t, "RS256", "rsa1", k.rsa, f.claims(func(c map[string]any) {
			c["iss"] = f.is.URL + "/other"
		}))), fail: 401},
		{name: "wrong-audience", set: bearer(sign(t, "RS256", "rsa1", k.rsa, f.claims(func(c map[string]any) {
			c["aud"] = "someone-else"
		}))), fail: 401},
		{name: "bad-signature", set: bearer(sign(t, "RS256", "rsa1", k.rsa2, valid)), fail: 401},
		{name: "tampered-payload", set: bearer(tampered), fail: 401},
		{name: "alg-none", set: bearer(sign(t, "none", "", nil, f.claims(rolesClaim("pacs-admin")))), fail: 401},
		{name: "alg-none-kid", set: bearer(sign(t, "none", "rsa1", nil, f.claims(rolesClaim("pacs-admin")))), fail: 401},
		{name: "hs256-rsa-public-key", set: bearer(sign(t, "HS256", "rsa1", rsaPublicPEM(&k.rsa.PublicKey), f.claims(rolesClaim("pacs-admin")))), fail: 401},
		{name: "hs256-jwks-oct-key", set: bearer(sign(t, "HS256", "hs1", []byte("secret"), f.claims(rolesClaim("pacs-admin")))), fail: 401},
		{name: "es256-with-rsa-kid", set: bearer(sign(t, "ES256", "rsa1", k.ec, valid)), fail: 401},
		{name: "rs384-not-allowed", set: bearer(sign(t, "RS384", "rsa1", k.rsa, valid)), fail: 401},
		{name: "unknown-kid", set: bearer(sign(t, "RS256", "rsa-unknown", k.rsa2, valid)), fail: 401},
		{name: "query-token", set: func(r *http.Request) {
			q := r.URL.Query()
			q.Set("access_token", sign(t, "RS256", "rsa1", k.rsa, f.claims(rolesClaim("pacs-admin"))))
			r.URL.RawQuery = q.Encode()
		}, fail: 401},
		{name: "two-credentials", set: func(r *http.Request) {
			r.Header.Add("Authorization", "Bearer "+f.tokens["ops"])
			r.Header.Add("Authorization", "Bearer "+f.tokens["ops"])
		}, fail: 401},
		{name: "oidc-no-role", set: bearer(sign(t, "RS256", "rsa1", k.rsa, f.claims(rolesClaim("offline_access")))), sub: "oidc:user-123"},
		{name: "oidc-reader-rs256", set: bearer(sign(t, "RS256", "rsa1", k.rsa, valid)), roles: R, sub: "oidc:user-123"},
		{name: "oidc-reader-eddsa", set: bearer(sign(t, "EdDSA", "ed1", k.ed, valid)), roles: R, sub: "oidc:user-123"},
		{name: "oidc-writer-es256", set: bearer(sign(t, "ES256", "ec1", k.ec, f.claims(rolesClaim("pacs-write")))), roles: W, sub: "oidc:user-123"},
		{name: "oidc-admin-ps256", set: bearer(sign(t, "PS256", "rsa1", k.rsa, f.claims(rolesClaim("pacs-admin")))), roles: A, sub: "oidc:user-123"},
		{name: "oidc-reader-writer-no-kid", set: bearer(sign(t, "RS256", "", k.rsa, f.claims(rolesClaim("pacs-read", "pacs-write")))), roles: R | W, sub: "oidc:user-123"},
		{name: "token-reader", set: bearer(f.tokens["viewer-script"]), roles: R, sub: "token:viewer-script"},
		{name: "token-writer", set: bearer(f.tokens["ct-scanner"]), roles: W, sub: "token:ct-scanner"},
		{name: "token-admin", set: bearer(f.tokens["ops"]), roles: A, sub: "token:ops"},
		{name: "token-unknown", set: bearer(func() string { t, _ := auth.GenerateToken(); return t }()), fail: 401},
		{name: "token-truncated", set: bearer(f.tokens["ops"][:len(f.tokens["ops"])-1]), fail: 401},
		{name: "basic-writer", set: func(r *http.Request) { r.SetBasicAuth("old-us", "legacy-pass-1") }, roles: W, sub: "basic:old-us"},
		{name: "basic-wrong-password", set: func(r *http.Request) { r.SetBasicAuth("old-us", "legacy-pass-2") }, fail: 401},
		{name: "basic-unknown-user", set: func(r *http.Request) { r.SetBasicAuth("nobody", "legacy-pass-1") }, fail: 401},
		{name: "basic-garbage", set: func(r *http.Request) { r.Header.Set("Authorization", "Basic !!!") }, fail: 401},
		{name: "unknown-scheme", set: func(r *http.Request) { r.Header.Set("Authorization", "Digest x") }, fail: 401},
	}
}

// TestAuthMatrix runs every route × method × credential.
func TestAuthMatrix(t *testing.T) {
	f := newFixture(t, nil)
	creds := f.creds(t)
	for _, rule := range f.table.Rules() {
		for _, c := range creds {
			t.Run(rule.Method+" "+rule.Path+"/"+c.name, func(t *testing.T) {
				want, wantBody := http.StatusOK, c.sub
				switch {
				case rule.Role == auth.Public:
					wantBody = "anonymous:anonymous"
				case c.fail != 0:
					want = c.fail
				case !c.roles.Has(rule.Role):
					want = http.StatusForbidden
				}
				req, _ := http.NewRequest(rule.Method, f.srv.URL+concrete(rule.Path), nil)
				c.set(req)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != want {
					t.Fatalf("status %d (%q), want %d", resp.StatusCode, body, want)
				}
				switch want {
				case http.StatusOK:
					if string(body) != wantBody {
						t.Errorf("principal %q, want %q", body, wantBody)
					}
				case http.StatusUnauthorized:
					hs := req.Header.Values("Authorization")
					bearerTok := (len(hs) == 1 && strings.HasPrefix(hs[0], "Bearer ")) || req.URL.Query().Has("access_token")
					checkChallenge(t, resp, body, bearerTok)
				case http.StatusForbidden:
					if string(body) != "forbidden\n" {
						t.Errorf("403 body %q", body)
					}
				}
			})
		}
	}
}

// checkChallenge checks a 401: both challenges, error= iff a bearer token
// was presented, a short body that echoes nothing.
func checkChallenge(t *testing.T, resp *http.Response, body []byte, presented bool) {
	t.Helper()
	ch := resp.Header.Values("WWW-Authenticate")
	if len(ch) != 2 || !strings.HasPrefix(ch[0], `Bearer realm="minipacs"`) || ch[1] != `Basic realm="minipacs", charset="UTF-8"` {
		t.Errorf("WWW-Authenticate %q", ch)
	}
	if presented != strings.Contains(ch[0], "error=") {
		t.Errorf("WWW-Authenticate %q: error parameter iff a bearer token was presented", ch[0])
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if len(body) > 80 || strings.Contains(string(body), "ey") || strings.Contains(string(body), "mpt_") {
		t.Errorf("401 body %q: too long or echoes the credential", body)
	}
}

func mustJSON(v any) []byte {
	b, err := jsonMarshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
