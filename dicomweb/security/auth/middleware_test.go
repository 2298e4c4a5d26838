package auth_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/security/auth"
)

func do(t *testing.T, method, u string, set func(*http.Request)) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if set != nil {
		set(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestUnroutedAndUndeclared(t *testing.T) {
	f := newFixture(t, nil)
	reader := bearer(f.tokens["viewer-script"])
	for _, tc := range []struct {
		name, method, path string
		set                func(*http.Request)
		want               int
	}{
		{"unknown path anonymous", "GET", "/secret/path", nil, 401},
		{"unknown path authenticated", "GET", "/secret/path", reader, 404},
		{"unknown path bad token", "GET", "/secret/path", bearer("nope"), 401},
		{"wrong method anonymous", "PUT", "/dicomweb/studies", nil, 401},
		{"wrong method authenticated", "PUT", "/dicomweb/studies", reader, 405},
		{"route without rule is refused", "GET", "/dicomweb/forgotten", bearer(f.tokens["ops"]), 403},
		{"route without rule anonymous", "GET", "/dicomweb/forgotten", nil, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, body, _ := do(t, tc.method, f.srv.URL+tc.path, tc.set)
			if st != tc.want {
				t.Fatalf("status %d (%q), want %d", st, body, tc.want)
			}
			if strings.Contains(body, "leak") {
				t.Fatalf("handler ran: %q", body)
			}
		})
	}
}

func TestCheckRoutes(t *testing.T) {
	table, err := auth.NewTable(dicomwebRules("/dicomweb")...)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	for _, r := range table.Rules() {
		e.Add(r.Method, r.Path, func(c echo.Context) error { return nil })
	}
	// Group.Use registers echo's internal not-found routes: not a route.
	e.Group("/dicomweb", func(next echo.HandlerFunc) echo.HandlerFunc { return next })
	if err := auth.CheckRoutes(e, table); err != nil {
		t.Fatalf("complete table: %v", err)
	}
	e.POST("/admin/reindex", func(c echo.Context) error { return nil })
	err = auth.CheckRoutes(e, table)
	if err == nil || !strings.Contains(err.Error(), "POST /admin/reindex has no authorization rule") {
		t.Fatalf("missing rule: got %v", err)
	}
	stale, _ := auth.NewTable(append(dicomwebRules("/dicomweb"),
		auth.Rule{Method: "POST", Path: "/admin/reindex", Role: auth.Admin},
		auth.Rule{Method: "GET", Path: "/gone", Role: auth.Reader})...)
	err = auth.CheckRoutes(e, stale)
	if err == nil || !strings.Contains(err.Error(), "GET /gone names no registered route") || strings.Contains(err.Error(), "reindex") {
		t.Fatalf("stale rule: got %v", err)
	}
	if _, err := auth.NewTable(auth.Rule{Method: "GET", Path: "/x"}, auth.Rule{Method: "get", Path: "/x"}); err == nil {
		t.Fatal("duplicate rule accepted")
	}
}

func TestHooks(t *testing.T) {
	f := newFixture(t, nil)
	k := testKeys()
	u := f.srv.URL + "/dicomweb/studies"
	expired := sign(t, "RS256", "rsa1", k.rsa, f.claims(func(c map[string]any) { c["exp"] = 1000 }))
	do(t, "GET", f.srv.URL+"/healthz", bearer("garbage")) // public: no event
	do(t, "GET", u, nil)
	do(t, "GET", u, bearer(expired))
	do(t, "GET", u, bearer(f.tokens["ct-scanner"]))
	do(t, "GET", u, bearer(f.tokens["viewer-script"]))
	do(t, "POST", u, func(r *http.Request) { r.SetBasicAuth("old-us", "legacy-pass-1") })
	ev := f.Events()
	type want struct {
		ok     bool
		status int
		reason string
		sub    string
	}
	exp := []want{
		{false, 401, "no credentials", "anonymous"},
		{false, 401, "token expired", ""},
		{false, 403, "missing role reader", "ct-scanner"},
		{true, 0, "", "viewer-script"},
		{true, 0, "", "old-us"},
	}
	if len(ev) != len(exp) {
		t.Fatalf("%d events, want %d: %+v", len(ev), len(exp), ev)
	}
	for i, w := range exp {
		e := ev[i]
		sub := ""
		if e.Principal != nil {
			sub = e.Principal.Subject
		}
		if e.Success != w.ok || e.Status != w.status || e.Reason != w.reason || sub != w.sub || e.Remote != "127.0.0.1" || e.Route != "/dicomweb/studies" {
			t.Errorf("event %d: %+v (principal %q), want %+v", i, e, sub, w)
		}
	}
	for _, e := range ev {
		if strings.Contains(e.Reason, "ey") || strings.Contains(e.Reason, "mpt_") {
			t.Errorf("reason %q carries a credential", e.Reason)
		}
	}
}

func TestQueryTokenAllowed(t *testing.T) {
	f := newFixture(t, func(c *auth.Config) { c.AllowQueryToken = true })
	k := testKeys()
	tok := sign(t, "RS256", "rsa1", k.rsa, f.claims(nil))
	st, body, _ := do(t, "GET", f.srv.URL+"/dicomweb/studies?access_token="+url.QueryEscape(tok), nil)
	if st != 200 || body != "oidc:user-123" {
		t.Fatalf("query token: %d %q", st, body)
	}
	st, _, _ = do(t, "GET", f.srv.URL+"/dicomweb/studies?access_token="+url.QueryEscape(tok), bearer(tok))
	if st != 401 {
		t.Fatalf("query and header token: %d, want 401", st)
	}
	st, _, _ = do(t, "GET", f.srv.URL+"/dicomweb/studies?access_token=x&access_token="+url.QueryEscape(tok), nil)
	if st != 401 {
		t.Fatalf("two query tokens: %d, want 401", st)
	}
}

func TestAnonymousRoles(t *testing.T) {
	// Development on loopback without authentication: anonymous is admin.
	e := echo.New()
	a, err := auth.New(t.Context(), auth.Config{AnonymousRoles: auth.RolesOf(auth.Admin)})
	if err != nil {
		t.Fatal(err)
	}
	if a.Enabled() {
		t.Fatal("Enabled with no credential configured")
	}
	table, _ := auth.NewTable(dicomwebRules("/dicomweb")...)
	e.Use(auth.Middleware(table, a, auth.Hooks{}))
	e.DELETE("/dicomweb/studies/:study", func(c echo.Context) error {
		return c.String(200, auth.FromContext(c.Request().Context()).Name)
	})
	srv := httptest.NewServer(e)
	defer srv.Close()
	if st, body, _ := do(t, "DELETE", srv.URL+"/dicomweb/studies/1.2.3", nil); st != 200 || body != "anonymous" {
		t.Fatalf("anonymous admin: %d %q", st, body)
	}
	if st, _, _ := do(t, "GET", srv.URL+"/nope", nil); st != 404 {
		t.Fatalf("unknown path: %d, want 404", st)
	}
	// A presented credential is still checked.
	if st, _, _ := do(t, "DELETE", srv.URL+"/dicomweb/studies/1.2.3", bearer("wrong")); st != 401 {
		t.Fatalf("bad token with anonymous admin: %d, want 401", st)
	}
	// Basic is not offered when not configured.
	_, _, h := do(t, "DELETE", srv.URL+"/dicomweb/studies/1.2.3", bearer("wrong"))
	if ch := h.Values("WWW-Authenticate"); len(ch) != 1 {
		t.Fatalf("challenges %q", ch)
	}
}

func TestRestrictionInContext(t *testing.T) {
	f := newFixture(t, nil)
	e := echo.New()
	a, err := auth.New(t.Context(), auth.Config{
		OIDC: &auth.OIDCConfig{Issuer: f.is.URL, Audience: audience, PatientClaim: "patients", TenantClaim: "ext.tenant"},
	})
	if err != nil {
		t.Fatal(err)
	}
	table, _ := auth.NewTable(dicomwebRules("/dicomweb")...)
	e.Use(auth.Middleware(table, a, auth.Hooks{}))
	e.GET("/dicomweb/studies", func(c echo.Context) error {
		p := auth.FromContext(c.Request().Context())
		var out []string
		for _, pt := range [][2]string{{"P1", "HOSP"}, {"P1", "OTHER"}, {"P2", "HOSP"}, {"P3", "HOSP"}} {
			if p.AllowsPatient(pt[0], pt[1]) {
				out = append(out, pt[0]+"/"+pt[1])
			}
		}
		return c.String(200, strings.Join(out, " "))
	})
	srv := httptest.NewServer(e)
	defer srv.Close()
	k := testKeys()
	for _, tc := range []struct {
		name   string
		claims func(map[string]any)
		want   string
	}{
		{"unrestricted", nil, "P1/HOSP P1/OTHER P2/HOSP P3/HOSP"},
		{"patients", func(c map[string]any) { c["patients"] = []string{"P1", "P2^^^OTHER"} }, "P1/HOSP P1/OTHER"},
		{"tenant", func(c map[string]any) { c["ext"] = map[string]any{"tenant": "HOSP"} }, "P1/HOSP P2/HOSP P3/HOSP"},
		{"both", func(c map[string]any) {
			c["patients"] = "P1"
			c["ext"] = map[string]any{"tenant": "HOSP"}
		}, "P1/HOSP"},
		{"empty list", func(c map[string]any) { c["patients"] = []string{} }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			claims := f.claims(func(c map[string]any) {
				c["roles"] = []string{"reader"}
				if tc.claims != nil {
					tc.claims(c)
				}
			})
			st, body, _ := do(t, "GET", srv.URL+"/dicomweb/studies", bearer(sign(t, "ES256", "ec1", k.ec, claims)))
			if st != 200 || body != tc.want {
				t.Fatalf("%d %q, want %q", st, body, tc.want)
			}
		})
	}
	// The research API token is restricted by the token file.
	e2 := echo.New()
	table2, _ := auth.NewTable(auth.Rule{Method: "GET", Path: "/p", Role: auth.Reader})
	fa, err := auth.New(t.Context(), auth.Config{APITokensFile: writeFile(t, "t", "research "+auth.HashToken("mpt_x")+" reader patients=P1,P2^^^HOSP tenants=HOSP\n")})
	if err != nil {
		t.Fatal(err)
	}
	e2.Use(auth.Middleware(table2, fa, auth.Hooks{}))
	e2.GET("/p", func(c echo.Context) error {
		p := auth.FromContext(c.Request().Context())
		return c.String(200, strings.Join([]string{
			boolStr(p.AllowsPatient("P1", "HOSP")), boolStr(p.AllowsPatient("P2", "HOSP")),
			boolStr(p.AllowsPatient("P2", "X")), boolStr(p.AllowsPatient("P3", "HOSP")), boolStr(p.AllowsPatient("P1", "")),
		}, ""))
	})
	srv2 := httptest.NewServer(e2)
	defer srv2.Close()
	if st, body, _ := do(t, "GET", srv2.URL+"/p", bearer("mpt_x")); st != 200 || body != "yynnn" {
		t.Fatalf("token restriction: %d %q, want yynnn", st, body)
	}
}

func boolStr(b bool) string {
	if b {
		return "y"
	}
	return "n"
}
