package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
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
)

const (
	mib = 1 << 20
	// bigSize is larger than the part size of the S3 store, so that its
	// multipart path is exercised.
	bigSize = 17 * mib
)

func testRoundTrip(t *testing.T, s storage.Store) {
	tests := []struct {
		name string
		key  string
		size int64
	}{
		{"empty", "rt/empty", 0},
		{"one byte", "rt/one", 1},
		{"small", "rt/small.dcm", 1000},
		{"5 MiB streamed", "rt/a/b/c/big_5-mib", 5 * mib},
	}
	ctx := context.Background()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seed := int64(i)
			if err := s.Put(ctx, tt.key, newPatternReader(seed, tt.size), tt.size); err != nil {
				t.Fatalf("Put: %v", err)
			}
			rc, size, err := s.Get(ctx, tt.key)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			defer rc.Close()
			if size != tt.size {
				t.Errorf("Get size = %d, want %d", size, tt.size)
			}
			h := sha256.New()
			n, err := io.Copy(h, rc)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if n != tt.size {
				t.Fatalf("read %d bytes, want %d", n, tt.size)
			}
			if want := patternSum(seed, tt.size); !bytes.Equal(h.Sum(nil), want[:]) {
				t.Fatalf("content differs from what was put")
			}
			if err := rc.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if got, err := storage.Stat(ctx, s, tt.key); err != nil || got != tt.size {
				t.Errorf("Stat = %d, %v; want %d", got, err, tt.size)
			}
		})
	}
}

// errReader yields n pattern bytes, then fails with errBroken.
type errReader struct {
	r *patternReader
}

var errBroken = errors.New("storagetest: reader broke")

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		return n, errBroken
	}
	return n, err
}

func testSizeMismatch(t *testing.T, s storage.Store) {
	tests := []struct {
		name     string
		declared int64
		reader   func() io.Reader
	}{
		{"short", 10, func() io.Reader { return newPatternReader(1, 5) }},
		{"empty reader", 10, func() io.Reader { return newPatternReader(1, 0) }},
		{"long", 5, func() io.Reader { return newPatternReader(1, 10) }},
		{"long by one", 1000, func() io.Reader { return newPatternReader(1, 1001) }},
		{"long, zero declared", 0, func() io.Reader { return newPatternReader(1, 1) }},
		{"short multipart", bigSize, func() io.Reader { return newPatternReader(1, bigSize-1) }},
		{"long multipart", bigSize, func() io.Reader { return newPatternReader(1, bigSize+1) }},
		{"reader error", 1000, func() io.Reader { return &errReader{newPatternReader(1, 500)} }},
		{"reader error at end", 1000, func() io.Reader { return &errReader{newPatternReader(1, 1000)} }},
		{"negative size", -1, func() io.Reader { return newPatternReader(1, 0) }},
	}
	ctx := context.Background()
	old := []byte("the previous object")
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fresh := fmt.Sprintf("mismatch/fresh-%d", i)
			if err := s.Put(ctx, fresh, tt.reader(), tt.declared); err == nil {
				t.Fatalf("Put of a new key succeeded, want an error")
			}
			wantNotExist(t, s, fresh)

			// A failed overwrite keeps the previous object.
			existing := fmt.Sprintf("mismatch/existing-%d", i)
			put(t, s, existing, old)
			if err := s.Put(ctx, existing, tt.reader(), tt.declared); err == nil {
				t.Fatalf("Put over an existing key succeeded, want an error")
			}
			wantContent(t, s, existing, old)
		})
	}
	if got := listAll(t, s, "mismatch/fresh"); len(got) != 0 {
		t.Errorf("failed Puts left objects behind: %v", got)
	}
}

func testOverwrite(t *testing.T, s storage.Store) {
	long := patternBytes(3, 0, 1000)
	put(t, s, "ow/key", long)
	wantContent(t, s, "ow/key", long)
	put(t, s, "ow/key", []byte("abc"))
	wantContent(t, s, "ow/key", []byte("abc"))
	if size, err := storage.Stat(context.Background(), s, "ow/key"); err != nil || size != 3 {
		t.Errorf("Stat after overwrite = %d, %v; want 3", size, err)
	}
	put(t, s, "ow/key", nil)
	wantContent(t, s, "ow/key", nil)
}

func testMissing(t *testing.T, s storage.Store) {
	wantNotExist(t, s, "never/stored")
	// Neighbours of a stored key are still missing: its "directory" and
	// a key below it.
	put(t, s, "dir/x", []byte("x"))
	for _, key := range []string{"dir", "dir/x/y", "di", "dir/x.", "dir/y"} {
		t.Run(key, func(t *testing.T) { wantNotExist(t, s, key) })
	}
}

func testDelete(t *testing.T, s storage.Store) {
	ctx := context.Background()
	if err := s.Delete(ctx, "del/never"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	put(t, s, "del/a", []byte("a"))
	put(t, s, "del/b", []byte("b"))
	if err := s.Delete(ctx, "del/a"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantNotExist(t, s, "del/a")
	wantContent(t, s, "del/b", []byte("b"))
	if err := s.Delete(ctx, "del/a"); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	// "del" is a prefix of stored keys, not an object: deleting it is a
	// no-op that must not touch them.
	if err := s.Delete(ctx, "del"); err != nil {
		t.Fatalf("Delete of a key prefix: %v", err)
	}
	wantContent(t, s, "del/b", []byte("b"))
	if got := listAll(t, s, "del/"); got != nil && (len(got) != 1 || got["del/b"] != 1) {
		t.Errorf("List after Delete = %v, want only del/b", got)
	}
	// The key can be used again.
	put(t, s, "del/a", []byte("again"))
	wantContent(t, s, "del/a", []byte("again"))
}

func testRange(t *testing.T, s storage.Store) {
	const size = 1000
	const seed = 7
	put(t, s, "range/obj", patternBytes(seed, 0, size))
	put(t, s, "range/empty", nil)
	tests := []struct {
		key    string
		off, n int64
		ok     bool
	}{
		{"range/obj", 0, 0, true},
		{"range/obj", 0, 1, true},
		{"range/obj", 0, size, true},
		{"range/obj", 10, 100, true},
		{"range/obj", 500, 500, true},
		{"range/obj", size - 1, 1, true},
		{"range/obj", size, 0, true},
		{"range/obj", size, 1, false},
		{"range/obj", size - 1, 2, false},
		{"range/obj", 0, size + 1, false},
		{"range/obj", size + 1, 0, false},
		{"range/obj", 2 * size, 10, false},
		{"range/obj", -1, 1, false},
		{"range/obj", 0, -1, false},
		{"range/obj", 1, math.MaxInt64, false},
		{"range/obj", math.MaxInt64, 1, false},
		{"range/empty", 0, 0, true},
		{"range/empty", 0, 1, false},
	}
	ctx := context.Background()
	stores := []struct {
		name string
		s    storage.Store
	}{{"store", s}, {"fallback", plainStore{s}}}
	for _, st := range stores {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/%s[%d,+%d]", st.name, tt.key, tt.off, tt.n), func(t *testing.T) {
				rc, err := storage.GetRange(ctx, st.s, tt.key, tt.off, tt.n)
				if !tt.ok {
					if err == nil {
						rc.Close()
						t.Fatalf("succeeded, want io.ErrUnexpectedEOF")
					}
					if !errors.Is(err, io.ErrUnexpectedEOF) {
						t.Fatalf("error %v does not match io.ErrUnexpectedEOF", err)
					}
					return
				}
				if err != nil {
					t.Fatalf("GetRange: %v", err)
				}
				defer rc.Close()
				got, err := io.ReadAll(rc)
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				if want := patternBytes(seed, tt.off, tt.n); !bytes.Equal(got, want) {
					t.Fatalf("got %d bytes %s, want %d bytes %s", len(got), short(got), len(want), short(want))
				}
				if err := rc.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
		}
	}
	t.Run("missing", func(t *testing.T) {
		for _, st := range stores {
			rc, err := storage.GetRange(ctx, st.s, "range/missing", 0, 1)
			if err == nil {
				rc.Close()
			}
			if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s: GetRange of a missing key: %v, want fs.ErrNotExist", st.name, err)
			}
		}
	})
}

func testStat(t *testing.T, s storage.Store) {
	st, ok := s.(storage.Stater)
	if !ok {
		t.Skip("store does not implement storage.Stater")
	}
	ctx := context.Background()
	for _, n := range []int{0, 1, 4097} {
		key := fmt.Sprintf("stat/%d", n)
		put(t, s, key, patternBytes(0, 0, int64(n)))
		if got, err := st.Stat(ctx, key); err != nil || got != int64(n) {
			t.Errorf("Stat(%q) = %d, %v; want %d", key, got, err, n)
		}
	}
	if _, err := st.Stat(ctx, "stat/missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat of a missing key: %v, want fs.ErrNotExist", err)
	}
}

func testList(t *testing.T, s storage.Store) {
	l, ok := s.(storage.Lister)
	if !ok {
		t.Skip("store does not implement storage.Lister")
	}
	all := map[string]int64{"l/a/1": 1, "l/a/2": 2, "l/b/1": 3, "l/ab": 4, "m": 5, "l/a/x/y/z": 6}
	for k, n := range all {
		put(t, s, k, patternBytes(0, 0, n))
	}
	pick := func(keys ...string) map[string]int64 {
		m := map[string]int64{}
		for _, k := range keys {
			m[k] = all[k]
		}
		return m
	}
	tests := []struct {
		prefix string
		want   map[string]int64
	}{
		{"", all},
		{"l", pick("l/a/1", "l/a/2", "l/b/1", "l/ab", "l/a/x/y/z")},
		{"l/", pick("l/a/1", "l/a/2", "l/b/1", "l/ab", "l/a/x/y/z")},
		{"l/a", pick("l/a/1", "l/a/2", "l/ab", "l/a/x/y/z")},
		{"l/a/", pick("l/a/1", "l/a/2", "l/a/x/y/z")},
		{"l/a/x/y/", pick("l/a/x/y/z")},
		{"l/a/1", pick("l/a/1")},
		{"m", pick("m")},
		{"m/", pick()},
		{"l/c/", pick()},
		{"x", pick()},
		{"../", pick()},
		{"l//", pick()},
		{"L/", pick()},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("prefix %q", tt.prefix), func(t *testing.T) {
			got := listAll(t, s, tt.prefix)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) { // fmt sorts map keys
				t.Errorf("List(%q) = %v, want %v", tt.prefix, got, tt.want)
			}
		})
	}
	t.Run("callback error stops", func(t *testing.T) {
		stop := errors.New("stop")
		calls := 0
		err := l.List(context.Background(), "", func(string, int64) error {
			calls++
			return stop
		})
		if !errors.Is(err, stop) {
			t.Errorf("List returned %v, want the callback's error", err)
		}
		if calls != 1 {
			t.Errorf("callback called %d times after failing, want 1", calls)
		}
	})
}

// invalidKeys are rejected by storage.ValidKey.
var invalidKeys = []string{
	"", "../x", "a/../b", "..", ".", "a/./b", "a//b", "/a", "a/", "A", "a/B",
	"a\x00b", "a b", "a\\b", "ä", "a:b", "a/..", strings.Repeat("a", 513),
}

func testInvalidKeys(t *testing.T, s storage.Store) {
	ctx := context.Background()
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	if err := os.WriteFile(src, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, key := range invalidKeys {
		t.Run(fmt.Sprintf("%.20q", key), func(t *testing.T) {
			if storage.ValidKey(key) {
				t.Fatalf("ValidKey(%q) = true", key)
			}
			check := func(op string, err error) {
				t.Helper()
				if !errors.Is(err, storage.ErrInvalidKey) {
					t.Errorf("%s: error %v, want storage.ErrInvalidKey", op, err)
				}
			}
			check("Put", s.Put(ctx, key, strings.NewReader("x"), 1))
			rc, _, err := s.Get(ctx, key)
			if err == nil {
				rc.Close()
			}
			check("Get", err)
			check("Delete", s.Delete(ctx, key))
			_, err = storage.Stat(ctx, s, key)
			check("Stat", err)
			if rg, ok := s.(storage.RangeGetter); ok {
				rc, err := rg.GetRange(ctx, key, 0, 1)
				if err == nil {
					rc.Close()
				}
				check("GetRange", err)
			}
			check("PutFile", storage.PutFile(ctx, s, key, src))
			check("PutFile (fallback)", storage.PutFile(ctx, plainStore{s}, key, src))
		})
	}
	if got := listAll(t, s, ""); len(got) != 0 {
		t.Errorf("invalid keys created objects: %v", got)
	}
}

func testConcurrent(t *testing.T, s storage.Store) {
	ctx := context.Background()
	const n = 16
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			key := fmt.Sprintf("conc/%02d", i)
			size := int64(64<<10 + i)
			if err := s.Put(ctx, key, newPatternReader(int64(i), size), size); err != nil {
				t.Errorf("Put(%q): %v", key, err)
			}
		})
	}
	wg.Wait()
	for i := range n {
		key := fmt.Sprintf("conc/%02d", i)
		wantContent(t, s, key, patternBytes(int64(i), 0, int64(64<<10+i)))
	}

	// Concurrent puts of one key: the survivor is one of them, whole.
	for i := range n {
		wg.Go(func() {
			size := int64(32<<10 + 100*i)
			if err := s.Put(ctx, "conc/same", newPatternReader(int64(i), size), size); err != nil {
				t.Errorf("Put(conc/same) #%d: %v", i, err)
			}
		})
	}
	wg.Wait()
	got := get(t, s, "conc/same")
	i := (int64(len(got)) - 32<<10) / 100
	if i < 0 || i >= n || !bytes.Equal(got, patternBytes(i, 0, 32<<10+100*i)) {
		t.Errorf("concurrent Puts of one key left %d bytes that are none of the puts", len(got))
	}
}

// cancelReader cancels a context after yielding after bytes.
type cancelReader struct {
	r      io.Reader
	n      int64
	after  int64
	cancel context.CancelFunc
}

func (c *cancelReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n >= c.after {
		c.cancel()
	}
	return n, err
}

func testCanceled(t *testing.T, s storage.Store) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Put(canceled, "cancel/before", strings.NewReader("x"), 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a canceled context: %v, want context.Canceled", err)
	}
	wantNotExist(t, s, "cancel/before")

	put(t, s, "cancel/existing", []byte("data"))
	rc, _, err := s.Get(canceled, "cancel/existing")
	if err == nil {
		rc.Close()
		t.Errorf("Get with a canceled context succeeded")
	}

	// Canceled while the bytes stream in.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const size = 5 * mib
	r := &cancelReader{r: newPatternReader(0, size), after: mib, cancel: cancel}
	if err := s.Put(ctx, "cancel/during", r, size); err == nil {
		t.Errorf("Put canceled midway succeeded")
	}
	wantNotExist(t, s, "cancel/during")
}

func testPutFile(t *testing.T, s storage.Store) {
	ctx := context.Background()
	dir := t.TempDir()
	data := patternBytes(9, 0, 100000)
	for _, st := range []struct {
		name string
		s    storage.Store
	}{{"store", s}, {"fallback", plainStore{s}}} {
		t.Run(st.name, func(t *testing.T) {
			src := filepath.Join(dir, st.name)
			if err := os.WriteFile(src, data, 0o644); err != nil {
				t.Fatal(err)
			}
			key := "pf/" + st.name
			if err := storage.PutFile(ctx, st.s, key, src); err != nil {
				t.Fatalf("PutFile: %v", err)
			}
			// The caller may remove its file afterwards.
			if err := os.Remove(src); err != nil {
				t.Fatal(err)
			}
			wantContent(t, s, key, data)

			if err := storage.PutFile(ctx, st.s, key+"-missing", src); err == nil {
				t.Errorf("PutFile of a missing file succeeded")
			}
			wantNotExist(t, s, key+"-missing")
			if err := storage.PutFile(ctx, st.s, key+"-dir", dir); err == nil {
				t.Errorf("PutFile of a directory succeeded")
			}
			wantNotExist(t, s, key+"-dir")
		})
	}
}

func testPing(t *testing.T, s storage.Store) {
	p, ok := s.(storage.Pinger)
	if !ok {
		t.Skip("store does not implement storage.Pinger")
	}
	if err := p.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}
