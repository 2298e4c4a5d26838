package backup

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/index/indextest"
)

func server(t *testing.T, src Source, dir string) *httptest.Server {
	t.Helper()
	e := echo.New()
	e.POST(Path, Handler(src, dir, slog.New(slog.DiscardHandler)))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv
}

// TestRoundTrip serves a real index and downloads it: the copy opens and
// holds every instance, and no staging file is left behind.
func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ix, err := index.Open(ctx, filepath.Join(dir, "index.db"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if err := indextest.Populate(ctx, ix, 30, func(i int) *index.Instance { return indextest.Instance(i) }); err != nil {
		t.Fatal(err)
	}
	srv := server(t, ix, dir)

	resp, err := http.Post(srv.URL+Path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	h := resp.Header
	if resp.StatusCode != http.StatusOK || h.Get("Content-Type") != "application/octet-stream" || h.Get("Cache-Control") != "no-store" ||
		!regexp.MustCompile(`^attachment; filename="minipacs-index-\d{8}T\d{6}Z\.db"$`).MatchString(h.Get("Content-Disposition")) {
		t.Errorf("answer %s, headers %v", resp.Status, h)
	}

	out := filepath.Join(t.TempDir(), "copy.db")
	var sentAuth string
	n, err := Download(ctx, srv.URL+"/dicomweb/", out, func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer x")
		sentAuth = r.URL.Path
	})
	if err != nil {
		t.Fatal(err)
	}
	if sentAuth != Path {
		t.Errorf("requested %q, want %q", sentAuth, Path)
	}
	if st, err := os.Stat(out); err != nil || st.Size() != n {
		t.Fatalf("copy: %v, %d bytes reported", err, n)
	}
	cp, err := index.Open(ctx, out, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	if _, _, inst, err := cp.Stats(ctx); err != nil || inst != 30 {
		t.Errorf("copy holds %d instances (%v), want 30", inst, err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".backup-*"))
	if len(left) != 0 {
		t.Errorf("staging files left: %v", left)
	}
}

type failingSource struct{}

func (failingSource) Backup(context.Context, io.Writer) (int64, error) {
	return 0, errors.New("disk on fire")
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv := server(t, failingSource{}, dir)
	out := filepath.Join(t.TempDir(), "copy.db")
	for _, tc := range []struct {
		name, base, want string
	}{
		{"server error", srv.URL, "answered 500"},
		{"not found", srv.URL + "/elsewhere", "answered 404"},
		{"bad url", "ftp://example.org", "want http(s)://host[:port]"},
		{"no host", "http://", "want http(s)://host[:port]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Download(ctx, tc.base, out, func(*http.Request) {})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("target written after a failure: %v", err)
			}
		})
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".backup-*"))
	if len(left) != 0 {
		t.Errorf("staging files left after a failure: %v", left)
	}
}
