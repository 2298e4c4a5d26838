package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

func TestCORS(t *testing.T) {
	newEcho := func(origins ...string) *echo.Echo {
		e := echo.New()
		mw, err := CORS("/dicomweb", origins)
		if err != nil {
			t.Fatal(err)
		}
		if mw != nil {
			e.Pre(mw)
		}
		e.GET("/dicomweb/studies", func(c echo.Context) error { return c.String(200, "[]") })
		e.GET("/web/", func(c echo.Context) error { return c.String(200, "page") })
		return e
	}
	preflight := func(origin string) http.Header {
		return http.Header{"Origin": {origin}, "Access-Control-Request-Method": {"GET"},
			"Access-Control-Request-Headers": {"accept, authorization"}}
	}
	listed := newEcho("https://viewer.example.org", "http://localhost:3000")
	tests := []struct {
		name           string
		e              *echo.Echo
		method, path   string
		header         http.Header
		status         int
		allowOrigin    string
		credentials    bool
		exposeContains string
	}{
		{"preflight allowed", listed, http.MethodOptions, "/dicomweb/studies", preflight("https://viewer.example.org"), 204, "https://viewer.example.org", true, ""},
		{"preflight allowed, default port", listed, http.MethodOptions, "/dicomweb/studies", preflight("https://VIEWER.example.org:443"), 204, "https://VIEWER.example.org:443", true, ""},
		{"preflight other origin", listed, http.MethodOptions, "/dicomweb/studies", preflight("https://evil.example.org"), 204, "", false, ""},
		{"preflight subdomain", listed, http.MethodOptions, "/dicomweb/studies", preflight("https://x.viewer.example.org"), 204, "", false, ""},
		{"preflight other scheme", listed, http.MethodOptions, "/dicomweb/studies", preflight("http://viewer.example.org"), 204, "", false, ""},
		{"actual allowed", listed, http.MethodGet, "/dicomweb/studies", http.Header{"Origin": {"http://localhost:3000"}}, 200, "http://localhost:3000", true, "Warning"},
		{"actual other origin", listed, http.MethodGet, "/dicomweb/studies", http.Header{"Origin": {"https://evil.example.org"}}, 200, "", false, ""},
		{"null origin", listed, http.MethodGet, "/dicomweb/studies", http.Header{"Origin": {"null"}}, 200, "", false, ""},
		{"no origin", listed, http.MethodGet, "/dicomweb/studies", nil, 200, "", false, ""},
		{"not dicomweb", listed, http.MethodGet, "/web/", http.Header{"Origin": {"https://viewer.example.org"}}, 200, "", false, ""},
		{"any origin", newEcho("*"), http.MethodGet, "/dicomweb/studies", http.Header{"Origin": {"https://a.example"}}, 200, "*", false, "ETag"},
		{"any origin preflight", newEcho("*"), http.MethodOptions, "/dicomweb/studies", preflight("https://a.example"), 204, "*", false, ""},
		{"no list", newEcho(), http.MethodGet, "/dicomweb/studies", http.Header{"Origin": {"https://a.example"}}, 200, "", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := request(tt.e, tt.method, tt.path, tt.header)
			h := rec.Header()
			if rec.Code != tt.status {
				t.Errorf("status %d, want %d", rec.Code, tt.status)
			}
			if got := h.Get("Access-Control-Allow-Origin"); got != tt.allowOrigin {
				t.Errorf("Allow-Origin %q, want %q", got, tt.allowOrigin)
			}
			if got := h.Get("Access-Control-Allow-Credentials") == "true"; got != tt.credentials {
				t.Errorf("Allow-Credentials %v, want %v", got, tt.credentials)
			}
			if h.Get("Access-Control-Allow-Origin") == "*" && h.Get("Access-Control-Allow-Credentials") != "" {
				t.Error("* with credentials")
			}
			if tt.exposeContains != "" && !containsToken(h.Get("Access-Control-Expose-Headers"), tt.exposeContains) {
				t.Errorf("Expose-Headers %q lacks %s", h.Get("Access-Control-Expose-Headers"), tt.exposeContains)
			}
			if tt.method == http.MethodOptions && tt.allowOrigin != "" {
				for _, want := range []string{"Authorization", "Accept", "Content-Type"} {
					if !containsToken(h.Get("Access-Control-Allow-Headers"), want) {
						t.Errorf("Allow-Headers %q lacks %s", h.Get("Access-Control-Allow-Headers"), want)
					}
				}
				if !containsToken(h.Get("Access-Control-Allow-Methods"), "DELETE") {
					t.Errorf("Allow-Methods %q", h.Get("Access-Control-Allow-Methods"))
				}
			}
		})
	}
}

func containsToken(list, tok string) bool {
	for _, s := range strings.Split(list, ",") {
		if strings.TrimSpace(s) == tok {
			return true
		}
	}
	return false
}

func TestParseOrigins(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		fail bool
	}{
		{"", 0, false},
		{"https://a.example, http://localhost:3000", 2, false},
		{"*", 1, false},
		{"*,https://a.example", 0, true},
		{"https://*.example.org", 0, true},
		{"a.example", 0, true},
		{"https://a.example/path", 0, true},
		{"ftp://a.example", 0, true},
		{"https://user@a.example", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseOrigins(tt.in)
		if (err != nil) != tt.fail || len(got) != tt.n {
			t.Errorf("ParseOrigins(%q) = %q, %v", tt.in, got, err)
		}
	}
}
