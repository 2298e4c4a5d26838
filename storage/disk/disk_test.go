package disk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/minipacs/minipacs/storage"
	"github.com/minipacs/minipacs/storage/storagetest"
)

func newStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	t.Run("syncfs", func(t *testing.T) {
		storagetest.Run(t, func(t *testing.T) storage.Store { return newStore(t) })
	})
	t.Run("per-file sync", func(t *testing.T) {
		storagetest.Run(t, func(t *testing.T) storage.Store {
			s, err := OpenOptions(t.TempDir(), Options{PerFileSync: true})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			return s
		})
	})
}

// files lists every file and directory under dir, relative to it.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOpenRemovesLeftoverTemps(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Put(ctx, "kept/object", strings.NewReader("data"), 4); err != nil {
		t.Fatal(err)
	}
	// Simulate a crash in the middle of Puts: a partial temp file, and a
	// hard link left by PutFile.
	if err := os.WriteFile(filepath.Join(dir, tmpDir, "put-123"), []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, objectsDir, "kept", "object"), filepath.Join(dir, tmpDir, "put-456")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, tmpDir, "stray", "dir"), 0o755); err != nil {
		t.Fatal(err)
	}

	s, err = Open(dir)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, tmpDir)); len(left) != 0 {
		t.Errorf("tmp/ after Open holds %d entries, want none", len(left))
	}
	rc, size, err := s.Get(ctx, "kept/object")
	if err != nil {
		t.Fatalf("Get after reopen: %v", err)
	}
	defer rc.Close()
	if got, _ := io.ReadAll(rc); size != 4 || string(got) != "data" {
		t.Errorf("object after reopen = %q (%d), want \"data\"", got, size)
	}
}

func TestFailedPutLeavesNoTempFile(t *testing.T) {
	tests := []struct {
		name     string
		r        io.Reader
		declared int64
	}{
		{"short", strings.NewReader("abc"), 10},
		{"long", strings.NewReader("abcdef"), 3},
		{"reader error", io.MultiReader(strings.NewReader("abc"), errorReader{}), 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			if err := s.Put(context.Background(), "a/b", tt.r, tt.declared); err == nil {
				t.Fatal("Put succeeded")
			}
			if left, _ := os.ReadDir(s.tmp); len(left) != 0 {
				t.Errorf("tmp/ holds %d entries after a failed Put", len(left))
			}
			if _, err := os.Stat(filepath.Join(s.objects, "a", "b")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("object file exists after a failed Put: %v", err)
			}
		})
	}
}

type errorReader struct{}

func (errorReader) Read([]byte) (int, error) { return 0, errors.New("broken") }

func TestInvalidKeysTouchNothing(t *testing.T) {
	parent := t.TempDir()
	s, err := Open(filepath.Join(parent, "store"))
	if err != nil {
		t.Fatal(err)
	}
	before := files(t, parent)
	ctx := context.Background()
	for _, key := range []string{"../x", "../../escape", "a//b", "/a", "a/./b", "a\x00b", "..", "A"} {
		if err := s.Put(ctx, key, strings.NewReader("x"), 1); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
		}
		if err := s.Delete(ctx, key); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Delete(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
	if after := files(t, parent); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("files changed:\nbefore %v\nafter  %v", before, after)
	}
}

func TestKeyLayout(t *testing.T) {
	s := newStore(t)
	if err := s.Put(context.Background(), "studies/1.2.3/series/4.5/6.7", bytes.NewReader([]byte("dicom")), 5); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(s.Dir(), "objects", "studies", "1.2.3", "series", "4.5", "6.7"))
	if err != nil || string(got) != "dicom" {
		t.Fatalf("object file = %q, %v", got, err)
	}
}

func TestObjectDirectoryConflict(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if err := s.Put(ctx, "a/b", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	// "a" is a directory on disk: it cannot also be an object.
	if err := s.Put(ctx, "a", strings.NewReader("y"), 1); err == nil {
		t.Error("Put(a) over the directory of a/b succeeded")
	}
	if err := s.Put(ctx, "a/b/c", strings.NewReader("z"), 1); err == nil {
		t.Error("Put(a/b/c) below the object a/b succeeded")
	}
	if left, _ := os.ReadDir(s.tmp); len(left) != 0 {
		t.Errorf("tmp/ holds %d entries after failed Puts", len(left))
	}
}

func TestPutFileLinks(t *testing.T) {
	s := newStore(t)
	// A file on the store's file system is linked, not copied.
	src := filepath.Join(s.Dir(), "incoming")
	if err := os.WriteFile(src, []byte("linked"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.PutFile(context.Background(), "x/y", src); err != nil {
		t.Fatal(err)
	}
	a, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.Stat(filepath.Join(s.objects, "x", "y"))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(a, b) {
		t.Error("PutFile copied a file that it could link")
	}
}

func TestMapErrFull(t *testing.T) {
	for _, errno := range []error{syscall.ENOSPC, syscall.EDQUOT} {
		err := mapErr("put", "k", &fs.PathError{Op: "write", Path: "f", Err: errno})
		if !errors.Is(err, storage.ErrFull) || !errors.Is(err, errno) {
			t.Errorf("mapErr(%v) = %v, want ErrFull wrapping the original", errno, err)
		}
	}
	if err := mapErr("put", "k", errors.New("other")); errors.Is(err, storage.ErrFull) {
		t.Errorf("mapErr(other) = %v matches ErrFull", err)
	}
}

func BenchmarkPut(b *testing.B) {
	s := newStore(b)
	data := bytes.Repeat([]byte("0123456789abcdef"), 512<<10/16)
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	i := 0
	for b.Loop() {
		key := "bench/" + strings.Repeat("x", i%7+1) + "/" + strconv.Itoa(i)
		if err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// TestPutFileOverExisting: PutFile links straight under the key; when an
// object is there already (a damaged copy, say), the new file replaces it
// whole, in both sync modes, and tmp/ is left empty.
func TestPutFileOverExisting(t *testing.T) {
	for _, perFile := range []bool{false, true} {
		t.Run(fmt.Sprintf("perFile=%v", perFile), func(t *testing.T) {
			s, err := OpenOptions(filepath.Join(t.TempDir(), "store"), Options{PerFileSync: perFile})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := s.Put(ctx, "a/b/c", strings.NewReader("damaged"), 7); err != nil {
				t.Fatal(err)
			}
			src := filepath.Join(s.Dir(), "incoming")
			if err := os.WriteFile(src, []byte("the real object"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := s.PutFile(ctx, "a/b/c", src); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(s.objects, "a", "b", "c"))
			if err != nil || string(got) != "the real object" {
				t.Fatalf("object = %q, %v; want the new file", got, err)
			}
			if left, _ := os.ReadDir(s.tmp); len(left) != 0 {
				t.Errorf("tmp/ holds %d entries", len(left))
			}
		})
	}
}
