package index_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/index/indextest"
)

// openEngine opens a fresh bbolt index for the engine-agnostic suites.
func openEngine(t *testing.T, opt index.Options) index.Engine {
	t.Helper()
	ix, err := index.Open(context.Background(), filepath.Join(t.TempDir(), "index.db"), opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix
}

// TestConformance runs the engine conformance suite on bbolt, the
// reference engine.
func TestConformance(t *testing.T) {
	indextest.Conformance(t, openEngine)
}

// TestDifferential runs the differential harness on two bbolt indexes: a
// smoke test of the harness (the PostgreSQL engine runs it against bbolt).
func TestDifferential(t *testing.T) {
	for _, seed := range []int64{1, 2} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			indextest.Differential(t, openEngine(t, index.Options{}), openEngine(t, index.Options{}), seed, 300)
		})
	}
}
