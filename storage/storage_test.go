package storage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/minipacs/minipacs/storage"
	"github.com/minipacs/minipacs/storage/storagetest"
)

func TestValidKey(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"a", true},
		{"a/b", true},
		{"studies/1.2.840.10008.1/series/2.25.1/0123456789", true},
		{"a-b_c.d", true},
		{"..a", true},
		{"a..", true},
		{".a/b.", true},
		{"a/.b/c", true},
		{strings.Repeat("a", 512), true},
		{strings.Repeat("a/", 255) + "ab", true},

		{"", false},
		{strings.Repeat("a", 513), false},
		{".", false},
		{"..", false},
		{"...", false},
		{"../x", false},
		{"a/../b", false},
		{"a/./b", false},
		{"a/...", false},
		{"a//b", false},
		{"/a", false},
		{"a/", false},
		{"/", false},
		{"A", false},
		{"a/B", false},
		{"a\x00b", false},
		{"a b", false},
		{"a\nb", false},
		{"a\\b", false},
		{"a:b", false},
		{"a+b", false},
		{"ä", false},
		{"a\xffb", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%.30q", tt.key), func(t *testing.T) {
			if got := storage.ValidKey(tt.key); got != tt.want {
				t.Errorf("ValidKey(%q) = %v, want %v", tt.key, got, tt.want)
			}
		})
	}
}

// memStore is a minimal in-memory Store with no optional capability, to
// test the helpers' fallbacks and the conformance suite itself.
type memStore struct {
	mu   sync.Mutex
	objs map[string][]byte
	gets int
}

func newMemStore() *memStore { return &memStore{objs: map[string][]byte{}} }

func (m *memStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if !storage.ValidKey(key) {
		return fmt.Errorf("mem: put %q: %w", key, storage.ErrInvalidKey)
	}
	if size < 0 {
		return fmt.Errorf("mem: put %q: negative size", key)
	}
	var buf bytes.Buffer
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("mem: put %q: %w", key, err)
		}
		n, err := io.CopyN(&buf, r, 64<<10)
		if n > 0 && int64(buf.Len()) > size {
			return fmt.Errorf("mem: put %q: too long", key)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("mem: put %q: %w", key, err)
		}
	}
	if int64(buf.Len()) != size {
		return fmt.Errorf("mem: put %q: %w", key, io.ErrUnexpectedEOF)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objs[key] = buf.Bytes()
	return nil
}

func (m *memStore) Get(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	if !storage.ValidKey(key) {
		return nil, 0, fmt.Errorf("mem: get %q: %w", key, storage.ErrInvalidKey)
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gets++
	b, ok := m.objs[key]
	if !ok {
		return nil, 0, fmt.Errorf("mem: get %q: %w", key, fs.ErrNotExist)
	}
	return io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
}

func (m *memStore) Delete(ctx context.Context, key string) error {
	if !storage.ValidKey(key) {
		return fmt.Errorf("mem: delete %q: %w", key, storage.ErrInvalidKey)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objs, key)
	return nil
}

// TestConformanceMemStore runs the suite on a store without optional
// capabilities, so that the suite's own fallbacks are exercised.
func TestConformanceMemStore(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return newMemStore() })
}

// rangeStore records calls to its RangeGetter.
type rangeStore struct {
	*memStore
	calls int
}

func (r *rangeStore) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	r.calls++
	return io.NopCloser(strings.NewReader("from RangeGetter")), nil
}

func TestGetRange(t *testing.T) {
	ctx := context.Background()
	m := newMemStore()
	if err := m.Put(ctx, "k", strings.NewReader("0123456789"), 10); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		off, n int64
		want   string
		err    error
	}{
		{0, 10, "0123456789", nil},
		{0, 0, "", nil},
		{3, 4, "3456", nil},
		{9, 1, "9", nil},
		{10, 0, "", nil},
		{10, 1, "", io.ErrUnexpectedEOF},
		{5, 6, "", io.ErrUnexpectedEOF},
		{11, 0, "", io.ErrUnexpectedEOF},
		{-1, 2, "", io.ErrUnexpectedEOF},
		{0, -1, "", io.ErrUnexpectedEOF},
		{1, math.MaxInt64, "", io.ErrUnexpectedEOF},
		{math.MaxInt64, math.MaxInt64, "", io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("[%d,+%d]", tt.off, tt.n), func(t *testing.T) {
			rc, err := storage.GetRange(ctx, m, "k", tt.off, tt.n)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("error %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err != nil || string(got) != tt.want {
				t.Fatalf("read %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := storage.GetRange(ctx, m, "missing", 0, 0); !storage.IsNotExist(err) {
		t.Errorf("missing key: %v, want fs.ErrNotExist", err)
	}
	rs := &rangeStore{memStore: m}
	rc, err := storage.GetRange(ctx, rs, "k", 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	if rs.calls != 1 || string(got) != "from RangeGetter" {
		t.Errorf("GetRange did not use the store's RangeGetter")
	}
}

func TestStatFallback(t *testing.T) {
	ctx := context.Background()
	m := newMemStore()
	if err := m.Put(ctx, "k", strings.NewReader("abc"), 3); err != nil {
		t.Fatal(err)
	}
	if n, err := storage.Stat(ctx, m, "k"); err != nil || n != 3 {
		t.Errorf("Stat = %d, %v; want 3", n, err)
	}
	if _, err := storage.Stat(ctx, m, "nope"); !storage.IsNotExist(err) {
		t.Errorf("Stat of a missing key: %v", err)
	}
}

func TestPutFileFallback(t *testing.T) {
	ctx := context.Background()
	m := newMemStore()
	dir := t.TempDir()
	src := filepath.Join(dir, "f")
	if err := os.WriteFile(src, []byte("file data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := storage.PutFile(ctx, m, "k", src); err != nil {
		t.Fatal(err)
	}
	if got := string(m.objs["k"]); got != "file data" {
		t.Errorf("stored %q", got)
	}
	for _, tt := range []struct {
		name, key, path string
		err             error
	}{
		{"invalid key", "K", src, storage.ErrInvalidKey},
		{"missing file", "k2", filepath.Join(dir, "nope"), fs.ErrNotExist},
		{"directory", "k3", dir, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := storage.PutFile(ctx, m, tt.key, tt.path)
			if err == nil || (tt.err != nil && !errors.Is(err, tt.err)) {
				t.Errorf("PutFile = %v, want %v", err, tt.err)
			}
			if _, ok := m.objs[tt.key]; ok {
				t.Errorf("object %q created", tt.key)
			}
		})
	}
}

func TestIsNotExist(t *testing.T) {
	if !storage.IsNotExist(fmt.Errorf("x: %w", fs.ErrNotExist)) || storage.IsNotExist(errors.New("x")) || storage.IsNotExist(nil) {
		t.Error("IsNotExist misclassifies")
	}
}
