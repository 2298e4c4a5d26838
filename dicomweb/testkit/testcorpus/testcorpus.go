// Package testcorpus locates the real DICOM files that the tests use: the
// folder shared/testdata/pydicom that sits beside the repository (found by
// walking up from the working directory, so tests also run from a clone in
// another folder whose parent holds shared/).
package testcorpus

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Dir returns the path of shared/testdata/pydicom.
var Dir = sync.OnceValues(func() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "shared", "testdata", "pydicom")
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			return p, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("testcorpus: no shared/testdata/pydicom above %s", wd)
		}
	}
})

// DirT is Dir for tests: a missing corpus fails the test (it is never a
// reason to skip: CI always has it).
func DirT(tb testing.TB) string {
	tb.Helper()
	d, err := Dir()
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// File reads the corpus file at rel (a '/'-separated path below pydicom/).
func File(tb testing.TB, rel string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(DirT(tb), filepath.FromSlash(rel)))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
