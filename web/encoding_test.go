package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAcceptsGzip(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   bool
	}{
		{"", false},
		{"gzip", true},
		{"gzip, deflate, br, zstd", true},
		{"GZIP ; Q=0.001", true},
		{"x-gzip", true},
		{"gzip;q=0", false},
		{"gzip; q=0.000", false},
		{"br;q=1, gzip;q=0.5", true},
		{"br, deflate", false},
		{"identity", false},
		{"*", true},
		{"*;q=0", false},
		{"gzip;q=0, *", false},
		{"*;q=0, gzip", true},
		{"gzip;q=2", false},
		{"gzip;q=x", false},
		{"deflate;q=0.5, gzip;level=1", true},
	} {
		t.Run(tc.header, func(t *testing.T) {
			if got := acceptsGzip([]string{tc.header}); got != tc.want {
				t.Fatalf("acceptsGzip(%q) = %v, want %v", tc.header, got, tc.want)
			}
		})
	}
	if !acceptsGzip([]string{"br", "gzip"}) {
		t.Error("gzip in a second Accept-Encoding line ignored")
	}
}

// gzipFile writes name.gz beside name, as install.sh does (the .gz keeps
// the original's modification time).
func gzipFile(t *testing.T, name string) {
	t.Helper()
	raw, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	zw.Write(raw)
	zw.Close()
	if err := os.WriteFile(name+".gz", b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(name)
	if err := os.Chtimes(name+".gz", st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// TestViewerPrecompressed serves a fake OHIF build with .gz files beside
// some assets: the gzip variant when the client accepts it, the identity
// one otherwise, each with the original's Content-Type, its own length and
// ETag, and Vary: Accept-Encoding.
func TestViewerPrecompressed(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/ohif")); err != nil {
		t.Fatal(err)
	}
	chunk := []byte(strings.Repeat("export const f = () => 'chunk without a public path';\n", 100))
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("9383.bundle.40008913697b48b8.js", chunk)
	write("old.bundle.0123456789abcdef.js", chunk) // an old install: no .gz
	write("stale.bundle.0123456789abcdef.js", chunk)
	for _, n := range []string{"9383.bundle.40008913697b48b8.js", "ort/lib.js", "5130ccb17e3f3f5b.wasm", "stale.bundle.0123456789abcdef.js"} {
		gzipFile(t, filepath.Join(dir, n))
	}
	// A .gz older than its file is stale: never served.
	later := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(dir, "stale.bundle.0123456789abcdef.js"), later, later)
	e := newTestEcho(t, dir, nil, nil)

	identity := func(path string) []byte {
		rec := request(e, http.MethodGet, path, nil)
		if rec.Code != 200 || rec.Header().Get("Content-Encoding") != "" {
			t.Fatalf("GET %s without Accept-Encoding: %d, Content-Encoding %q", path, rec.Code, rec.Header().Get("Content-Encoding"))
		}
		return rec.Body.Bytes()
	}
	rewritten := identity("/viewer/app.bundle.0f6159c501addfe9.js")
	if !bytes.Contains(rewritten, []byte(`__webpack_require__.p = "/viewer/"`)) {
		t.Fatalf("bundle not rewritten: %q", rewritten)
	}
	lib, _ := os.ReadFile(filepath.Join(dir, "ort/lib.js"))
	wasm, _ := os.ReadFile(filepath.Join(dir, "5130ccb17e3f3f5b.wasm"))

	tests := []struct {
		name, path, accept string
		gzip, vary         bool
		ctype              string
		want               []byte
	}{
		{"chunk gzip", "/viewer/9383.bundle.40008913697b48b8.js", "gzip, deflate, br", true, true, "text/javascript; charset=utf-8", chunk},
		{"chunk identity", "/viewer/9383.bundle.40008913697b48b8.js", "", false, true, "text/javascript; charset=utf-8", chunk},
		{"chunk q=0", "/viewer/9383.bundle.40008913697b48b8.js", "gzip;q=0, br", false, true, "text/javascript; charset=utf-8", chunk},
		{"chunk star", "/viewer/9383.bundle.40008913697b48b8.js", "*", true, true, "text/javascript; charset=utf-8", chunk},
		{"nested gzip", "/viewer/ort/lib.js", "gzip", true, true, "text/javascript; charset=utf-8", lib},
		{"wasm gzip", "/viewer/5130ccb17e3f3f5b.wasm", "gzip", true, true, "application/wasm", wasm},
		{"wasm identity", "/viewer/5130ccb17e3f3f5b.wasm", "identity", false, true, "application/wasm", wasm},
		{"rewritten gzip", "/viewer/app.bundle.0f6159c501addfe9.js", "gzip", true, true, "text/javascript; charset=utf-8", rewritten},
		{"rewritten identity", "/viewer/app.bundle.0f6159c501addfe9.js", "br", false, true, "text/javascript; charset=utf-8", rewritten},
		{"rewritten q=0", "/viewer/app.bundle.0f6159c501addfe9.js", "gzip;q=0", false, true, "text/javascript; charset=utf-8", rewritten},
		{"old install", "/viewer/old.bundle.0123456789abcdef.js", "gzip", false, false, "text/javascript; charset=utf-8", chunk},
		{"stale gz", "/viewer/stale.bundle.0123456789abcdef.js", "gzip", false, false, "text/javascript; charset=utf-8", chunk},
	}
	etags := map[string]map[bool]string{} // path → gzip → ETag
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr := http.Header{}
			if tc.accept != "" {
				hdr.Set("Accept-Encoding", tc.accept)
			}
			rec := request(e, http.MethodGet, tc.path, hdr)
			if rec.Code != 200 {
				t.Fatalf("status %d", rec.Code)
			}
			h := rec.Header()
			if got := h.Get("Content-Encoding") == "gzip"; got != tc.gzip {
				t.Errorf("Content-Encoding %q, want gzip=%v", h.Get("Content-Encoding"), tc.gzip)
			}
			if got := strings.Contains(strings.Join(h.Values("Vary"), ","), "Accept-Encoding"); got != tc.vary {
				t.Errorf("Vary %q, want Accept-Encoding=%v", h.Values("Vary"), tc.vary)
			}
			if ct := h.Get("Content-Type"); ct != tc.ctype {
				t.Errorf("Content-Type %q, want %q", ct, tc.ctype)
			}
			if cl := h.Get("Content-Length"); cl != strconv.Itoa(rec.Body.Len()) {
				t.Errorf("Content-Length %q, body %d bytes", cl, rec.Body.Len())
			}
			body := rec.Body.Bytes()
			if tc.gzip {
				zr, err := gzip.NewReader(rec.Body)
				if err != nil {
					t.Fatal(err)
				}
				if body, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(body, tc.want) {
				t.Errorf("body (decoded) %d bytes, want the %d bytes of the original", len(body), len(tc.want))
			}
			etag := h.Get("ETag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			if etags[tc.path] == nil {
				etags[tc.path] = map[bool]string{}
			}
			if other, ok := etags[tc.path][!tc.gzip]; ok && other == etag {
				t.Errorf("the same ETag %s for both encodings", etag)
			}
			etags[tc.path][tc.gzip] = etag

			// The validator answers 304 for the same encoding only.
			hdr.Set("If-None-Match", etag)
			if rec := request(e, http.MethodGet, tc.path, hdr); rec.Code != http.StatusNotModified {
				t.Errorf("If-None-Match %s: %d, want 304", etag, rec.Code)
			}
			if tc.gzip {
				if rec := request(e, http.MethodGet, tc.path, http.Header{"If-None-Match": {etag}}); rec.Code != 200 {
					t.Errorf("If-None-Match of the gzip variant without Accept-Encoding: %d, want 200", rec.Code)
				}
			}
		})
	}

	// A range is a range of the identity file, whatever the client accepts.
	for _, p := range []string{"/viewer/9383.bundle.40008913697b48b8.js", "/viewer/app.bundle.0f6159c501addfe9.js"} {
		rec := request(e, http.MethodGet, p, http.Header{"Accept-Encoding": {"gzip"}, "Range": {"bytes=2-9"}})
		want := identity(p)[2:10]
		if rec.Code != http.StatusPartialContent || rec.Header().Get("Content-Encoding") != "" || !bytes.Equal(rec.Body.Bytes(), want) {
			t.Errorf("range of %s: %d %q %q, want 206 %q", p, rec.Code, rec.Header().Get("Content-Encoding"), rec.Body.Bytes(), want)
		}
	}
	// Concurrent first requests of a rewritten file share one rewrite, and
	// a new version of the file is rewritten again.
	bundle := filepath.Join(dir, "app.bundle.0f6159c501addfe9.js")
	os.WriteFile(bundle, []byte(`__webpack_require__.p = "/"; // v2`), 0o644)
	os.Chtimes(bundle, later, later)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			rec := request(e, http.MethodGet, "/viewer/app.bundle.0f6159c501addfe9.js", http.Header{"Accept-Encoding": {"gzip"}})
			zr, err := gzip.NewReader(rec.Body)
			if err != nil {
				t.Error(err)
				return
			}
			if b, _ := io.ReadAll(zr); string(b) != `__webpack_require__.p = "/viewer/"; // v2` {
				t.Errorf("new version: %q", b)
			}
		})
	}
	wg.Wait()

	// HEAD: the headers of the chosen variant, no body.
	rec := request(e, http.MethodHead, "/viewer/9383.bundle.40008913697b48b8.js", http.Header{"Accept-Encoding": {"gzip"}})
	if gz, _ := os.Stat(filepath.Join(dir, "9383.bundle.40008913697b48b8.js.gz")); rec.Code != 200 || rec.Header().Get("Content-Encoding") != "gzip" ||
		rec.Header().Get("Content-Length") != strconv.FormatInt(gz.Size(), 10) || rec.Body.Len() != 0 {
		t.Errorf("HEAD: %d %v, %d body bytes", rec.Code, rec.Header(), rec.Body.Len())
	}
}
