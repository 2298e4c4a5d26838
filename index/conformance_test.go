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
	for _, c := range []struct {
		seed    int64
		replace bool
	}{{1, false}, {2, false}, {3, true}} {
		t.Run(fmt.Sprintf("seed=%d,replace=%v", c.seed, c.replace), func(t *testing.T) {
			opt := index.Options{Replace: c.replace}
			indextest.Differential(t, openEngine(t, opt), openEngine(t, opt), c.seed, 300)
		})
	}
}
