package web

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/index"
)

// memArchive is a fake index and store for the ZIP handler.
type memArchive struct {
	refs    map[string][]index.Ref
	objects map[string][]byte
	failAt  string // object key whose read fails half-way
}

func (m *memArchive) Refs(_ context.Context, study, series string) ([]index.Ref, error) {
	r, ok := m.refs[study]
	if !ok {
		return nil, fmt.Errorf("refs of %s: %w", study, index.ErrNotFound)
	}
	return r, nil
}

func (m *memArchive) Get(_ context.Context, key string) (io.ReadCloser, int64, error) {
	b, ok := m.objects[key]
	if !ok {
		return nil, 0, fmt.Errorf("get %s: %w", key, fs.ErrNotExist)
	}
	var r io.Reader = bytes.NewReader(b)
	if key == m.failAt {
		r = io.MultiReader(bytes.NewReader(b[:len(b)/2]), errReader{})
	}
	return io.NopCloser(r), int64(len(b)), nil
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func newMemArchive(study string, n int) *memArchive {
	m := &memArchive{refs: map[string][]index.Ref{}, objects: map[string][]byte{}}
	for i := range n {
		key := fmt.Sprintf("obj/%d", i)
		body := append(make([]byte, 128), "DICM"...)
		body = append(body, bytes.Repeat([]byte{byte(i)}, 1000*(i+1))...)
		m.objects[key] = body
		m.refs[study] = append(m.refs[study], index.Ref{
			StudyUID: study, SeriesUID: fmt.Sprintf("1.2.3.%d", i%2), SOPInstanceUID: fmt.Sprintf("1.2.3.4.%d", i),
			ObjectKey: key, Size: int64(len(body)),
		})
	}
	return m
}

func TestZip(t *testing.T) {
	const study = "1.2.840.1"
	arch := newMemArchive(study, 5)
	srv := httptest.NewServer(newTestEcho(t, t.TempDir(), arch, arch))
	defer srv.Close()

	t.Run("study", func(t *testing.T) {
		resp, err := http.Get(srv.URL + "/web/studies/" + study + "/zip")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/zip" {
			t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="study-`+study+`.zip"` {
			t.Errorf("Content-Disposition %q", cd)
		}
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		if len(zr.File) != 5 {
			t.Fatalf("%d entries, want 5", len(zr.File))
		}
		for i, f := range zr.File {
			ref := arch.refs[study][i]
			if want := ref.SeriesUID + "/" + ref.SOPInstanceUID + ".dcm"; f.Name != want {
				t.Errorf("entry %d: %q, want %q", i, f.Name, want)
			}
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc) // checks the CRC-32 too
			rc.Close()
			if err != nil {
				t.Fatalf("entry %s: %v", f.Name, err)
			}
			if !bytes.Equal(got, arch.objects[ref.ObjectKey]) {
				t.Errorf("entry %s differs from the stored object", f.Name)
			}
		}
	})
	for _, tt := range []struct {
		name, study string
		status      int
	}{
		{"unknown study", "1.2.999", http.StatusNotFound},
		{"bad UID", "1.2.abc", http.StatusBadRequest},
		{"too long UID", strings.Repeat("1.", 40) + "1", http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Get(srv.URL + "/web/studies/" + tt.study + "/zip")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("%d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
	t.Run("store fails mid-way", func(t *testing.T) {
		broken := newMemArchive(study, 5)
		broken.failAt = "obj/3"
		srv := httptest.NewServer(newTestEcho(t, t.TempDir(), broken, broken))
		defer srv.Close()
		resp, err := http.Get(srv.URL + "/web/studies/" + study + "/zip")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err == nil {
			t.Error("the download ended cleanly: want a broken transfer, never an archive that looks complete")
		}
	})
}

func TestZipProtected(t *testing.T) {
	arch := newMemArchive("1.2.3", 1)
	e := echo.New()
	deny := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error { return c.NoContent(http.StatusUnauthorized) }
	}
	New(Config{Index: arch, Store: arch}).Install(e, deny)
	if rec := request(e, http.MethodGet, "/web/studies/1.2.3/zip", nil); rec.Code != http.StatusUnauthorized {
		t.Errorf("zip without credentials: %d", rec.Code)
	}
	if rec := request(e, http.MethodGet, "/web/", nil); rec.Code != http.StatusOK {
		t.Errorf("page: %d", rec.Code)
	}
}
