package transport

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb/testkit/certtest"

	"github.com/labstack/echo/v4"
)

func TestCheckExposure(t *testing.T) {
	for _, tc := range []struct {
		listen                 string
		auth, tls, proxy, fail bool
	}{
		{"127.0.0.1:8080", false, false, false, false},
		{"[::1]:8080", false, false, false, false},
		{"localhost:8080", false, false, false, false},
		{":8080", false, false, false, true},
		{"0.0.0.0:8080", false, false, false, true},
		{"0.0.0.0:8080", true, false, false, true},
		{"0.0.0.0:8080", false, true, false, true},
		{"0.0.0.0:8080", true, true, false, false},
		{"10.1.2.3:443", false, false, true, false},
		{"pacs.example.org:443", true, false, false, true},
		{"garbage", true, false, false, true},
	} {
		err := CheckExposure(tc.listen, tc.auth, tc.tls, tc.proxy)
		if (err != nil) != tc.fail {
			t.Errorf("%+v: err = %v", tc, err)
		}
		if err != nil && !strings.Contains(err.Error(), "--insecure-behind-proxy") {
			t.Errorf("%s: message does not say how to fix it: %v", tc.listen, err)
		}
	}
}

func TestCertificateReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := certtest.Write(t, dir, "first")
	c, err := NewCertificate(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.ServerConfig()
	if cfg.MinVersion != tls.VersionTLS12 || len(cfg.NextProtos) == 0 || cfg.NextProtos[0] != "h2" {
		t.Fatalf("MinVersion %x, NextProtos %v", cfg.MinVersion, cfg.NextProtos)
	}
	cn := func() string {
		kp, _ := cfg.GetCertificate(nil)
		x, _ := x509.ParseCertificate(kp.Certificate[0])
		return x.Subject.CommonName
	}
	if cn() != "first" {
		t.Fatal(cn())
	}
	// A broken file keeps the old certificate.
	if err := os.WriteFile(certFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Reload(); err == nil {
		t.Fatal("garbage certificate loaded")
	}
	if cn() != "first" {
		t.Fatalf("after a failed reload: %s", cn())
	}
	certtest.Write(t, dir, "second")
	if err := c.Reload(); err != nil {
		t.Fatal(err)
	}
	if cn() != "second" {
		t.Fatalf("after a reload: %s", cn())
	}
	if _, err := NewCertificate(filepath.Join(dir, "missing.pem"), keyFile); err == nil {
		t.Fatal("missing certificate accepted")
	}
}

func TestHeaders(t *testing.T) {
	for _, tc := range []struct {
		name string
		hsts time.Duration
		tls  bool
		want string
	}{
		{"https", 365 * 24 * time.Hour, true, "max-age=31536000; includeSubDomains"},
		{"http", 365 * 24 * time.Hour, false, ""},
		{"hsts off", 0, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := echo.New()
			e.Use(Headers(tc.hsts, tc.tls))
			e.GET("/", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
			w := httptest.NewRecorder()
			e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
			h := w.Header()
			if h.Get("Strict-Transport-Security") != tc.want || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
				t.Errorf("headers %v", h)
			}
		})
	}
}

// TestOrigin: links take the scheme and host of the base URL.
func TestOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"":                                  "",
		"https://pacs.example.org/dicomweb": "https://pacs.example.org",
		"http://127.0.0.1:8080":             "http://127.0.0.1:8080",
		"http://h:1/a/b":                    "http://h:1",
		"ftp://h/x":                         "!",
		"pacs.example.org":                  "!",
	} {
		got, err := Origin(in)
		if (err != nil) != (want == "!") || (err == nil && got != want) {
			t.Errorf("Origin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
