package postgres_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/testkit/pgtest"
	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/index/indextest"
	"github.com/minipacs/minipacs/index/postgres"
)

// benchStudies is the size of the benchmarks' indexes: one instance per
// study, indextest's default studies.
const benchStudies = 3000

// fill puts benchStudies studies into ix in PutMany batches.
func fill(ctx context.Context, ix index.Engine) error {
	const batch = 250
	for first := 0; first < benchStudies; first += batch {
		var insts []*index.Instance
		for i := first; i < min(first+batch, benchStudies); i++ {
			insts = append(insts, indextest.Instance(i))
		}
		if _, errs := ix.PutMany(ctx, insts); errs != nil {
			for i, err := range errs {
				if err != nil {
					return fmt.Errorf("put %d: %w", first+i, err)
				}
			}
		}
	}
	return nil
}

// search runs q as the QIDO handler does (encoded results, each result's
// attributes read once) and returns the number of results.
func search(ctx context.Context, ix index.Engine, q index.Query) (int, error) {
	q.Encoded = true
	n := 0
	err := ix.Search(ctx, q, func(r *index.Result) error {
		n++
		for _, l := range []index.Level{index.LevelStudy, index.LevelSeries, index.LevelInstance} {
			rd := r.Reader(l)
			for {
				if _, ok := rd.Next(); !ok {
					break
				}
			}
		}
		return nil
	})
	return n, err
}

// BenchmarkSearchStudy times the same study-level searches on the bbolt
// index and on PostgreSQL (a throw-away server of pgtest, fsync on), both
// holding the same benchStudies studies, in one run:
//
//	go test -run '^$' -bench SearchStudy ./index/postgres/
//
// Sub-benchmarks are named QUERY/ENGINE; the engines must find the same
// number of matches, or the benchmark fails.
func BenchmarkSearchStudy(b *testing.B) {
	ctx := context.Background()
	srv := pgtest.Start(b, pgtest.Options{})
	pg, err := postgres.Open(ctx, srv.URL(), index.Options{})
	if err != nil {
		b.Fatalf("open postgres: %v", err)
	}
	b.Cleanup(func() { pg.Close() })
	bb, err := index.Open(ctx, filepath.Join(b.TempDir(), "index.db"), index.Options{})
	if err != nil {
		b.Fatalf("open bbolt: %v", err)
	}
	b.Cleanup(func() { bb.Close() })
	engines := []struct {
		name string
		ix   index.Engine
	}{{"bbolt", bb}, {"postgres", pg}}
	for _, e := range engines {
		if err := fill(ctx, e.ix); err != nil {
			b.Fatalf("fill %s: %v", e.name, err)
		}
	}
	// What autovacuum does on a server after a bulk load: the planner
	// learns the tables' sizes.
	srv.Psql(b, "VACUUM ANALYZE")

	for _, c := range indextest.StudyQueries(1234 % benchStudies) {
		want := -1
		for _, e := range engines {
			n, err := search(ctx, e.ix, c.Q)
			if err != nil {
				b.Fatalf("%s %s: %v", c.Name, e.name, err)
			}
			if n == 0 || (want >= 0 && n != want) {
				b.Fatalf("%s: %s finds %d studies, the other engine %d", c.Name, e.name, n, want)
			}
			want = n
		}
		for _, e := range engines {
			b.Run(c.Name+"/"+e.name, func(b *testing.B) {
				for b.Loop() {
					if _, err := search(ctx, e.ix, c.Q); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(want), "matches")
			})
		}
	}
}
