package auth_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/security/auth"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// readerServer serves GET /r (Reader) behind a.
func readerServer(t *testing.T, a *auth.Authenticator) string {
	t.Helper()
	e := echo.New()
	table, _ := auth.NewTable(auth.Rule{Method: "GET", Path: "/r", Role: auth.Reader})
	e.Use(auth.Middleware(table, a, auth.Hooks{}))
	e.GET("/r", func(c echo.Context) error { return c.String(200, "ok") })
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv.URL + "/r"
}

// TestJWKSCache covers key rotation, the refresh rate limit, stale keys
// while the issuer is down, and 503 once they are too old.
func TestJWKSCache(t *testing.T) {
	is := newIssuer(t)
	clk := &fakeClock{t: time.Now()}
	a, err := auth.New(t.Context(), auth.Config{Now: clk.Now, OIDC: &auth.OIDCConfig{Issuer: is.URL, Audience: audience}})
	if err != nil {
		t.Fatal(err)
	}
	u := readerServer(t, a)
	k := testKeys()
	tok := func(kid string, key any) func(*http.Request) {
		now := clk.Now()
		return bearer(sign(t, "RS256", kid, key, map[string]any{
			"iss": is.URL, "aud": audience, "sub": "s", "exp": now.Add(time.Hour).Unix(), "roles": []string{"reader"},
		}))
	}
	step := func(name string, set func(*http.Request), want int, wantFetches int32) {
		t.Helper()
		if st, body, _ := do(t, "GET", u, set); st != want {
			t.Fatalf("%s: status %d (%q), want %d", name, st, body, want)
		}
		if n := is.fetches.Load(); n != wantFetches {
			t.Fatalf("%s: %d JWKS fetches, want %d", name, n, wantFetches)
		}
	}
	step("startup fetch, known kid", tok("rsa1", k.rsa), 200, 1)
	is.addKey(rsaJWK("rsa2", &k.rsa2.PublicKey, "RS256"))
	step("new kid within the rate limit", tok("rsa2", k.rsa2), 401, 1)
	clk.Add(16 * time.Second)
	step("rotated key after the rate limit", tok("rsa2", k.rsa2), 200, 2)
	step("unknown kid right after a fetch", tok("nope", k.rsa2), 401, 2)
	clk.Add(16 * time.Second)
	step("unknown kid later", tok("nope", k.rsa2), 401, 3)
	step("no refetch for a known kid", tok("rsa1", k.rsa), 200, 3)

	is.down.Store(true)
	clk.Add(2 * time.Hour)
	step("issuer down: stale keys still serve", tok("rsa1", k.rsa), 200, 3)
	clk.Add(23 * time.Hour)
	if st, body, h := do(t, "GET", u, tok("rsa1", k.rsa)); st != 503 || h.Get("Retry-After") == "" || strings.Contains(body, "ey") {
		t.Fatalf("keys older than 24 h: %d %q, want 503 with Retry-After", st, body)
	}
	is.down.Store(false)
	clk.Add(2 * time.Minute)
	step("issuer back", tok("rsa1", k.rsa), 200, 4)
}

func TestIssuerDownAtStartup(t *testing.T) {
	is := newIssuer(t)
	is.down.Store(true)
	clk := &fakeClock{t: time.Now()}
	a, err := auth.New(t.Context(), auth.Config{Now: clk.Now, OIDC: &auth.OIDCConfig{Issuer: is.URL, Audience: audience}})
	if err != nil {
		t.Fatalf("New must not fail when the issuer is down: %v", err)
	}
	u := readerServer(t, a)
	k := testKeys()
	tok := bearer(sign(t, "RS256", "rsa1", k.rsa, map[string]any{"iss": is.URL, "aud": audience, "sub": "s", "exp": clk.Now().Add(time.Hour).Unix(), "roles": []string{"reader"}}))
	if st, _, _ := do(t, "GET", u, tok); st != 503 {
		t.Fatalf("no keys yet: %d, want 503", st)
	}
	// Credentials that do not need the issuer still work.
	if st, _, _ := do(t, "GET", u, nil); st != 401 {
		t.Fatalf("no credentials: %d, want 401", st)
	}
	is.down.Store(false)
	clk.Add(time.Minute)
	if st, _, _ := do(t, "GET", u, tok); st != 200 {
		t.Fatalf("issuer back: %d, want 200", st)
	}
}

func TestDiscoveryIssuerMismatch(t *testing.T) {
	is := newIssuer(t)
	// Configured with a trailing slash: discovery says otherwise, so no
	// keys are trusted.
	a, err := auth.New(t.Context(), auth.Config{OIDC: &auth.OIDCConfig{Issuer: is.URL + "/", Audience: audience}})
	if err != nil {
		t.Fatal(err)
	}
	u := readerServer(t, a)
	k := testKeys()
	tok := bearer(sign(t, "RS256", "rsa1", k.rsa, map[string]any{"iss": is.URL + "/", "aud": audience, "sub": "s", "exp": time.Now().Add(time.Hour).Unix(), "roles": []string{"reader"}}))
	if st, _, _ := do(t, "GET", u, tok); st != 503 {
		t.Fatalf("issuer mismatch in discovery: %d, want 503", st)
	}
	// A configured JWKS URL skips discovery.
	a2, err := auth.New(t.Context(), auth.Config{OIDC: &auth.OIDCConfig{Issuer: is.URL + "/", Audience: audience, JWKSURL: is.URL + "/keys"}})
	if err != nil {
		t.Fatal(err)
	}
	if st, _, _ := do(t, "GET", readerServer(t, a2), tok); st != 200 {
		t.Fatalf("configured JWKS URL: %d, want 200", st)
	}
}

// TestUnknownKidStorm: tokens naming kids missing from the set, sent at
// once, cause one refetch between them under the cool-down, and each is
// refused with 401 (not 503: the cached keys are still good).
func TestUnknownKidStorm(t *testing.T) {
	is := newIssuer(t)
	clk := &fakeClock{t: time.Now()}
	a, err := auth.New(t.Context(), auth.Config{Now: clk.Now, OIDC: &auth.OIDCConfig{Issuer: is.URL, Audience: audience}})
	if err != nil {
		t.Fatal(err)
	}
	u := readerServer(t, a)
	k := testKeys()
	claims := map[string]any{"iss": is.URL, "aud": audience, "sub": "s", "exp": clk.Now().Add(time.Hour).Unix(), "roles": []string{"reader"}}
	if st, _, _ := do(t, "GET", u, bearer(sign(t, "RS256", "rsa1", k.rsa, claims))); st != 200 || is.fetches.Load() != 1 {
		t.Fatalf("startup: %d with %d fetches", st, is.fetches.Load())
	}
	clk.Add(16 * time.Second)
	var wg sync.WaitGroup
	codes := make([]int, 20)
	for i := range codes {
		tok := bearer(sign(t, "RS256", "kid-"+strconv.Itoa(i), k.rsa, claims))
		wg.Go(func() { codes[i], _, _ = do(t, "GET", u, tok) })
	}
	wg.Wait()
	for i, c := range codes {
		if c != 401 {
			t.Errorf("token %d: %d, want 401", i, c)
		}
	}
	if n := is.fetches.Load(); n != 2 {
		t.Fatalf("%d JWKS fetches, want 2 (startup and one refetch)", n)
	}
}
