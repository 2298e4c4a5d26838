package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/kind"
	"github.com/minipacs/minipacs/dicomweb/testkit/pgtest"
	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/index/indextest"
	"github.com/minipacs/minipacs/index/postgres"
)

func open(t *testing.T, opt index.Options) *postgres.Index {
	t.Helper()
	srv := pgtest.Start(t, pgtest.Options{})
	ix, err := postgres.Open(context.Background(), srv.URL(), opt)
	if err != nil {
		t.Fatalf("open: %v\n%s", err, srv.Log())
	}
	t.Cleanup(func() { ix.Close() })
	return ix
}

func TestSmoke(t *testing.T) {
	ctx := context.Background()
	ix := open(t, index.Options{})
	for i := 0; i < 20; i++ {
		res, err := ix.Put(ctx, indextest.Instance(i))
		if err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
		if res.Existed {
			t.Fatalf("put %d: existed", i)
		}
	}
	res, err := ix.Put(ctx, indextest.Instance(3))
	if err != nil || !res.Existed {
		t.Fatalf("second put: %+v %v", res, err)
	}
	st, se, in, err := ix.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats %d %d %d", st, se, in)
	n := 0
	err = ix.Search(ctx, index.Query{Level: index.LevelStudy, Limit: 5}, func(r *index.Result) error {
		n++
		return nil
	})
	if err != nil || n != 5 {
		t.Fatalf("search: %d %v", n, err)
	}
	in3 := indextest.Instance(3)
	got := 0
	err = ix.Metadata(ctx, in3.StudyUID, "", "", func(js []byte) error { got++; return nil })
	if err != nil || got == 0 {
		t.Fatalf("metadata: %d %v", got, err)
	}
	keys, err := ix.Delete(ctx, in3.StudyUID, "", "")
	if err != nil || len(keys) == 0 {
		t.Fatalf("delete: %v %v", keys, err)
	}
	if _, err := ix.Lookup(ctx, in3.SOPInstanceUID); !errors.Is(err, index.ErrNotFound) {
		t.Fatalf("lookup after delete: %v", err)
	}
}

func TestConformance(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{})
	indextest.Conformance(t, func(t *testing.T, opt index.Options) index.Engine {
		url := srv.NewDatabase(t)
		ix, err := postgres.Open(context.Background(), url, opt)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() { ix.Close() })
		return ix
	})
}

func TestDifferential(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{})
	for _, seed := range []int64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			ctx := context.Background()
			opt := index.Options{Replace: seed == 3}
			bb, err := index.Open(ctx, filepath.Join(t.TempDir(), "index.db"), opt)
			if err != nil {
				t.Fatal(err)
			}
			defer bb.Close()
			pg, err := postgres.Open(ctx, srv.NewDatabase(t), opt)
			if err != nil {
				t.Fatal(err)
			}
			defer pg.Close()
			indextest.Differential(t, bb, pg, seed, 300)
		})
	}
}

func errorsIsUnavailable(err error) bool {
	return err != nil && kind.Of(err) == kind.Unavailable
}
