package disk

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// TestGroupSyncDirs checks which directories a Put fsyncs: the chain up
// to objects/ while its directories are new, only its own directory once
// they are known durable.
func TestGroupSyncDirs(t *testing.T) {
	s, err := OpenOptions(t.TempDir(), Options{PerFileSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	leaf := filepath.Join(s.objects, "dicom", "ab", "cd")
	rel := func(dirs []string) []string {
		var out []string
		for _, d := range dirs {
			r, _ := filepath.Rel(s.root, d)
			out = append(out, r)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		key  string
		want []string
	}{
		{"new directories", "dicom/ab/cd/1.dcm", []string{"objects/dicom/ab/cd", "objects/dicom/ab", "objects/dicom", "objects"}},
		{"known directories", "dicom/ab/cd/2.dcm", []string{"objects/dicom/ab/cd"}},
		{"new leaf", "dicom/ab/ef/3.dcm", []string{"objects/dicom/ab/ef", "objects/dicom/ab"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Dir(filepath.Join(s.objects, filepath.FromSlash(tc.key)))
			got := rel(s.sync.request(nil, dir, s.objects).dirs)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("dirs %v, want %v", got, tc.want)
			}
			if err := s.Put(ctx, tc.key, bytes.NewReader([]byte(tc.name)), int64(len(tc.name))); err != nil {
				t.Fatal(err)
			}
		})
	}
	if _, ok := s.sync.durable.Load(leaf); !ok {
		t.Fatalf("%s not recorded as durable", leaf)
	}
}

// TestConcurrentPutsShareSyncs runs many Puts and PutFiles at once into
// shared new directories; each must succeed with its own content.
func TestConcurrentPutsShareSyncs(t *testing.T) {
	for _, perFile := range []bool{false, true} {
		t.Run(fmt.Sprintf("perFile=%v", perFile), func(t *testing.T) { concurrentPuts(t, perFile) })
	}
}

func concurrentPuts(t *testing.T, perFile bool) {
	dir := t.TempDir()
	s, err := OpenOptions(filepath.Join(dir, "store"), Options{PerFileSync: perFile})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const n = 64
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("dicom/%02x/%02x/%d.dcm", i%3, i%5, i)
			body := []byte(key)
			if i%2 == 0 {
				errs[i] = s.Put(ctx, key, bytes.NewReader(body), int64(len(body)))
				return
			}
			p := filepath.Join(dir, fmt.Sprintf("src-%d", i))
			if err := os.WriteFile(p, body, 0o600); err != nil {
				errs[i] = err
				return
			}
			errs[i] = s.PutFile(ctx, key, p)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
		key := fmt.Sprintf("dicom/%02x/%02x/%d.dcm", i%3, i%5, i)
		got, err := os.ReadFile(filepath.Join(s.objects, filepath.FromSlash(key)))
		if err != nil || string(got) != key {
			t.Fatalf("object %s: %q, %v", key, got, err)
		}
	}
	if ents, _ := os.ReadDir(s.tmp); len(ents) != 0 {
		t.Fatalf("%d files left in tmp/", len(ents))
	}
}

// TestGroupSyncfsKeepsNoDirs checks that in syncfs mode (the default) Puts
// record no durable directories: syncfs covers them, and the set would
// only grow with the store.
func TestGroupSyncfsKeepsNoDirs(t *testing.T) {
	s, err := OpenOptions(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 20 {
		key := fmt.Sprintf("dicom/%02x/%02x/%d.dcm", i, i, i)
		if err := s.Put(ctx, key, bytes.NewReader([]byte(key)), int64(len(key))); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	s.sync.durable.Range(func(any, any) bool { n++; return true })
	if n != 0 {
		t.Fatalf("%d directories recorded in syncfs mode", n)
	}
}
