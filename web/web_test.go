package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// newTestEcho returns an echo instance with the web routes, OHIF served
// from viewerDir.
func newTestEcho(t *testing.T, viewerDir string, idx Index, store Store) *echo.Echo {
	t.Helper()
	e := echo.New()
	New(Config{Index: idx, Store: store, ViewerDir: viewerDir}).Install(e)
	return e
}

func request(e http.Handler, method, target string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

func TestBrowserPages(t *testing.T) {
	e := newTestEcho(t, t.TempDir(), nil, nil)
	tests := []struct {
		name, path string
		status     int
		ctype      string
		contains   string
	}{
		{"root redirects", "/", http.StatusFound, "", ""},
		{"index", "/web/", http.StatusOK, "text/html", `<script type="module" src="/web/app.js">`},
		{"index without slash", "/web", http.StatusOK, "text/html", "minipacs"},
		{"script", "/web/app.js", http.StatusOK, "text/javascript", "textContent"},
		{"module", "/web/upload.js", http.StatusOK, "text/javascript", "webkitGetAsEntry"},
		{"style", "/web/app.css", http.StatusOK, "text/css", "dropzone"},
		{"missing", "/web/nope.js", http.StatusNotFound, "text/plain", "not found"},
		{"traversal", "/web/../web.go", http.StatusNotFound, "", ""},
		{"encoded traversal", "/web/%2e%2e/web.go", http.StatusNotFound, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := request(e, http.MethodGet, tt.path, nil)
			if rec.Code != tt.status {
				t.Fatalf("GET %s: %d, want %d: %s", tt.path, rec.Code, tt.status, rec.Body)
			}
			if !strings.HasPrefix(rec.Header().Get("Content-Type"), tt.ctype) {
				t.Errorf("Content-Type %q, want %s", rec.Header().Get("Content-Type"), tt.ctype)
			}
			if !strings.Contains(rec.Body.String(), tt.contains) {
				t.Errorf("body does not contain %q", tt.contains)
			}
			if tt.status == http.StatusFound && rec.Header().Get("Location") != "/web/" {
				t.Errorf("Location %q", rec.Header().Get("Location"))
			}
			if tt.status == http.StatusOK {
				csp := rec.Header().Get("Content-Security-Policy")
				if !strings.Contains(csp, "script-src 'self';") || strings.Contains(csp, "unsafe") {
					t.Errorf("CSP %q is not strict", csp)
				}
				if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
					t.Error("no nosniff")
				}
			}
		})
	}
}

// TestBrowserNoInlineScript checks the rule that lets the CSP forbid inline
// scripts: the embedded pages have no inline script or handler attribute,
// and the scripts never put data into innerHTML.
func TestBrowserNoInlineScript(t *testing.T) {
	inline := regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]|\son[a-z]+\s*=|javascript:|style=`)
	for _, name := range []string{"ui/index.html", "viewer_missing.html"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if m := inline.Find(b); m != nil {
			t.Errorf("%s: inline script or style: %q", name, m)
		}
	}
	scripts, _ := filepath.Glob("ui/*.js")
	if len(scripts) < 3 {
		t.Fatalf("found %d scripts", len(scripts))
	}
	bad := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function`)
	for _, name := range scripts {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if m := bad.Find(b); m != nil {
			t.Errorf("%s uses %s", name, m)
		}
	}
}

func TestViewerNotInstalled(t *testing.T) {
	e := newTestEcho(t, filepath.Join(t.TempDir(), "none"), nil, nil)
	for _, p := range []string{"/viewer", "/viewer/", "/viewer/viewer?StudyInstanceUIDs=1.2.3", "/viewer/app.bundle.js"} {
		rec := request(e, http.MethodGet, p, nil)
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "make viewer") {
			t.Errorf("GET %s: %d %q, want 404 with install instructions", p, rec.Code, rec.Body)
		}
		if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			t.Errorf("GET %s: Content-Type %q", p, rec.Header().Get("Content-Type"))
		}
	}
	rec := request(e, http.MethodGet, "/viewer/app-config.js", nil)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "'/dicomweb'") {
		t.Errorf("app-config.js: %d %s", rec.Code, rec.Body)
	}
}

func TestViewerServe(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/ohif")); err != nil {
		t.Fatal(err)
	}
	// A symbolic link that leads out of the viewer directory is refused.
	secret := filepath.Join(t.TempDir(), "secret.js")
	os.WriteFile(secret, []byte("secret"), 0o600)
	if err := os.Symlink(secret, filepath.Join(dir, "escape.js")); err != nil {
		t.Fatal(err)
	}
	e := newTestEcho(t, dir, nil, nil)

	index := request(e, http.MethodGet, "/viewer/", nil)
	if index.Code != http.StatusOK {
		t.Fatalf("GET /viewer/: %d", index.Code)
	}
	checkGolden(t, "ohif-index.golden.html", index.Body.Bytes())
	// Every inline script is allowed by its hash, and nothing else inline.
	csp := index.Header().Get("Content-Security-Policy")
	for _, m := range regexp.MustCompile(`(?s)<script>(.*?)</script>`).FindAllSubmatch(index.Body.Bytes(), -1) {
		sum := sha256.Sum256(m[1])
		if h := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, h) {
			t.Errorf("CSP %q lacks %s", csp, h)
		}
	}
	for _, want := range []string{"'wasm-unsafe-eval'", "worker-src 'self' blob:"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %s", csp, want)
		}
	}
	if script := regexp.MustCompile(`script-src [^;]*`).FindString(csp); strings.Contains(script, "unsafe-inline") || strings.Contains(script, "'unsafe-eval'") {
		t.Errorf("CSP allows inline scripts or eval: %q", script)
	}

	tests := []struct {
		name, path   string
		status       int
		want, absent string
		cache        string
	}{
		{"index.html", "/viewer/index.html", 200, `window.PUBLIC_URL="/viewer/"`, `PUBLIC_URL="/"`, "no-cache"},
		{"deep link", "/viewer/viewer?StudyInstanceUIDs=1.2.3", 200, `src="/viewer/app.bundle.0f6159c501addfe9.js"`, "", "no-cache"},
		{"nested route", "/viewer/segmentation/x", 200, `href="/viewer/manifest.json"`, "", "no-cache"},
		{"bundle rewritten", "/viewer/app.bundle.0f6159c501addfe9.js", 200,
			"__webpack_require__.p = \"/viewer/\";\nvar x = \"__webpack_require__.p = \\\"/\\\"\";", "", "immutable"},
		{"css rewritten", "/viewer/app.bundle.css", 200, "url(/viewer/a34f9d1faa5f3315.woff2)}body{background:url(/viewer/assets/bg.png)", "url(/a", "no-cache"},
		{"nested script as is", "/viewer/ort/lib.js", 200, `__webpack_require__.p = "/";`, "", "no-cache"},
		{"manifest", "/viewer/manifest.json", 200, `{"start_url": "/viewer/", "icons": [{"src": "/viewer/assets/a.png"}]}`, "", "no-cache"},
		{"wasm", "/viewer/5130ccb17e3f3f5b.wasm", 200, "wasm", "", "immutable"},
		{"missing asset", "/viewer/nope.bundle.js", 404, "", "", ""},
		{"symlink out", "/viewer/escape.js", 404, "", "secret", ""},
		{"traversal", "/viewer/../web.go", 404, "", "package", ""},
		{"prefix lookalike", "/viewerx", 404, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := request(e, http.MethodGet, tt.path, nil)
			if rec.Code != tt.status {
				t.Fatalf("GET %s: %d, want %d", tt.path, rec.Code, tt.status)
			}
			body := rec.Body.String()
			if !strings.Contains(body, tt.want) {
				t.Errorf("body %q does not contain %q", body, tt.want)
			}
			if tt.absent != "" && strings.Contains(body, tt.absent) {
				t.Errorf("body %q contains %q", body, tt.absent)
			}
			if !strings.Contains(rec.Header().Get("Cache-Control"), tt.cache) {
				t.Errorf("Cache-Control %q, want %s", rec.Header().Get("Cache-Control"), tt.cache)
			}
		})
	}
	rec := request(e, http.MethodGet, "/viewer/5130ccb17e3f3f5b.wasm", nil)
	if ct := rec.Header().Get("Content-Type"); ct != "application/wasm" {
		t.Errorf("wasm Content-Type %q", ct) // needed by WebAssembly.instantiateStreaming
	}
}

// TestViewerInstalledOHIF checks the rewrite on the real OHIF build when
// `make viewer` has installed it: no absolute root path is left in
// index.html, and the bundle's public path is moved.
func TestViewerInstalledOHIF(t *testing.T) {
	dir := filepath.Join("viewer", "dist")
	if _, err := os.Stat(filepath.Join(dir, "index.html")); err != nil {
		t.Skip("OHIF not installed (make viewer)")
	}
	e := newTestEcho(t, dir, nil, nil)
	rec := request(e, http.MethodGet, "/viewer/viewer?StudyInstanceUIDs=1.2", nil)
	if rec.Code != 200 {
		t.Fatalf("%d", rec.Code)
	}
	if m := regexp.MustCompile(`(?:src|href)="/[^v/]`).FindString(rec.Body.String()); m != "" {
		t.Errorf("index.html still has a root path: %q", m)
	}
	bundles, _ := filepath.Glob(filepath.Join(dir, "app.bundle.*.js"))
	if len(bundles) != 1 {
		t.Fatalf("app bundles: %v", bundles)
	}
	rec = request(e, http.MethodGet, "/viewer/"+filepath.Base(bundles[0]), nil)
	if !strings.Contains(rec.Body.String(), `__webpack_require__.p = "/viewer/"`) || strings.Contains(rec.Body.String(), `__webpack_require__.p = "/"`) {
		t.Error("the bundle's public path was not rewritten")
	}
}

func TestReplaceWriter(t *testing.T) {
	tests := []struct{ in, old, nu, want string }{
		{"", "ab", "X", ""},
		{"ab", "ab", "X", "X"},
		{"aab", "ab", "X", "aX"},
		{"abab", "ab", "XYZ", "XYZXYZ"},
		{"a", "ab", "X", "a"},
		{"xxaxxab", "ab", "", "xxaxx"},
		{`p = "/";`, `p = "/"`, `p = "/viewer/"`, `p = "/viewer/";`},
	}
	for _, tt := range tests {
		for _, chunk := range []int{1, 2, 3, 1000} {
			var out bytes.Buffer
			w := newReplaceWriter(&out, []byte(tt.old), []byte(tt.nu))
			for in := tt.in; len(in) > 0; {
				n := min(chunk, len(in))
				io.WriteString(w, in[:n])
				in = in[n:]
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("replace %q in %q (chunks of %d): %q, want %q", tt.old, tt.in, chunk, out.String(), tt.want)
			}
		}
	}
}

func TestAppConfig(t *testing.T) {
	same := string(appConfig("/viewer", ""))
	ext := string(appConfig("/viewer", `https://pacs.example.org/dicomweb/"</script>`))
	for _, want := range []string{"routerBasename: \"/viewer\"", "qidoSupportsIncludeField: true", "imageRendering: 'wadors'",
		"staticWado: false", "supportsFuzzyMatching: true", "supportsWildcard: true", "window.location.origin + '/dicomweb'"} {
		if !strings.Contains(same, want) {
			t.Errorf("app-config lacks %q", want)
		}
	}
	if !strings.Contains(ext, `"https://pacs.example.org/dicomweb/\"\u003c/script\u003e"`) {
		t.Errorf("external URL not quoted safely:\n%s", ext)
	}
}

// checkGolden compares got with testdata/name, or rewrites it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (-update after review):\ngot:  %s\nwant: %s", name, got, want)
	}
}
