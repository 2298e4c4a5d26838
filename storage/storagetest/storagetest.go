// Package storagetest is the conformance suite for storage.Store
// implementations. Every backend runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Store { return newEmptyStore(t) })
//	}
//
// newStore is called once per subtest and must return an empty store that
// no other subtest uses; it should register its cleanup with t.Cleanup.
// Optional capabilities (RangeGetter, Stater, Lister, Pinger, FilePutter)
// are tested when the store has them; the storage package helpers that fall
// back to plain Get are tested against every store.
package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"testing"

	"github.com/minipacs/minipacs/storage"
)

// Run runs the conformance suite against stores made by newStore.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"SizeMismatch", testSizeMismatch},
		{"Overwrite", testOverwrite},
		{"Missing", testMissing},
		{"Delete", testDelete},
		{"Range", testRange},
		{"Stat", testStat},
		{"List", testList},
		{"InvalidKeys", testInvalidKeys},
		{"Concurrent", testConcurrent},
		{"Canceled", testCanceled},
		{"PutFile", testPutFile},
		{"Ping", testPing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			if s == nil {
				t.Fatal("newStore returned nil")
			}
			tt.fn(t, s)
		})
	}
}

// plainStore hides every optional capability of a store, so that the
// fallbacks of the storage helpers are exercised.
type plainStore struct{ storage.Store }

// pattern returns byte i of the test object with the given seed. The period
// 251 is prime, so a read at a wrong offset is noticed.
func pattern(seed, i int64) byte { return byte((i + seed) % period) }

// patternBytes returns n pattern bytes starting at offset off.
func patternBytes(seed, off, n int64) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = pattern(seed, off+int64(i))
	}
	return b
}

// patternReader streams size pattern bytes without holding them in memory.
// It offers nothing but Read, like a network body.
type patternReader struct {
	seed, off, size int64
}

func newPatternReader(seed, size int64) *patternReader {
	return &patternReader{seed: seed, size: size}
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	if rem := r.size - r.off; int64(len(p)) > rem {
		p = p[:rem]
	}
	// Copy from a table of two periods instead of computing each byte.
	n := 0
	for n < len(p) {
		start := (r.off + int64(n) + r.seed) % period
		n += copy(p[n:], periodTable[start:start+period])
	}
	r.off += int64(len(p))
	return len(p), nil
}

const period = 251

// periodTable holds pattern(0, i) for i in [0, 2*period).
var periodTable = func() []byte {
	b := make([]byte, 2*period)
	for i := range b {
		b[i] = pattern(0, int64(i))
	}
	return b
}()

// patternSum is the SHA-256 of size pattern bytes.
func patternSum(seed, size int64) [sha256.Size]byte {
	h := sha256.New()
	if _, err := io.Copy(h, newPatternReader(seed, size)); err != nil {
		panic(err) // cannot happen: patternReader does not fail
	}
	var sum [sha256.Size]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// onlyReader hides io.ReaderAt, io.Seeker, io.WriterTo of r.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// put stores data under key and fails the test on error.
func put(t *testing.T, s storage.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, onlyReader{bytes.NewReader(data)}, int64(len(data))); err != nil {
		t.Fatalf("Put(%q, %d bytes): %v", key, len(data), err)
	}
}

// get reads the whole (small) object and checks that the size reported by
// Get matches the bytes read.
func get(t *testing.T, s storage.Store, key string) []byte {
	t.Helper()
	rc, size, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%q): read: %v", key, err)
	}
	if int64(len(data)) != size {
		t.Fatalf("Get(%q): reported size %d, read %d bytes", key, size, len(data))
	}
	if err := rc.Close(); err != nil {
		t.Errorf("Get(%q): close: %v", key, err)
	}
	return data
}

// wantContent checks that key holds exactly want.
func wantContent(t *testing.T, s storage.Store, key string, want []byte) {
	t.Helper()
	if got := get(t, s, key); !bytes.Equal(got, want) {
		t.Fatalf("Get(%q) = %d bytes %s, want %d bytes %s", key, len(got), short(got), len(want), short(want))
	}
}

// wantNotExist checks that Get, Stat and GetRange report key as missing.
func wantNotExist(t *testing.T, s storage.Store, key string) {
	t.Helper()
	ctx := context.Background()
	rc, _, err := s.Get(ctx, key)
	if err == nil {
		rc.Close()
		t.Fatalf("Get(%q) succeeded, want an error matching fs.ErrNotExist", key)
	}
	if !errors.Is(err, fs.ErrNotExist) || !storage.IsNotExist(err) {
		t.Fatalf("Get(%q) error %v does not match fs.ErrNotExist", key, err)
	}
	if _, err := storage.Stat(ctx, s, key); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat(%q) error %v does not match fs.ErrNotExist", key, err)
	}
	rc, err = storage.GetRange(ctx, s, key, 0, 0)
	if err == nil {
		rc.Close()
		t.Fatalf("GetRange(%q) succeeded, want an error matching fs.ErrNotExist", key)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("GetRange(%q) error %v does not match fs.ErrNotExist", key, err)
	}
}

// listAll returns every key under prefix with its size, or nil when the
// store cannot list.
func listAll(t *testing.T, s storage.Store, prefix string) map[string]int64 {
	t.Helper()
	l, ok := s.(storage.Lister)
	if !ok {
		return nil
	}
	got := map[string]int64{}
	err := l.List(context.Background(), prefix, func(key string, size int64) error {
		if _, dup := got[key]; dup {
			return fmt.Errorf("key %q listed twice", key)
		}
		got[key] = size
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return got
}

func short(b []byte) string {
	if len(b) > 16 {
		return fmt.Sprintf("%x...", b[:16])
	}
	return fmt.Sprintf("%x", b)
}
