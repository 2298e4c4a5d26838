package postgres_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb/testkit/pgtest"
	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/index/indextest"
	"github.com/minipacs/minipacs/index/postgres"
)

// benchStudies is the size of the benchmarks' indexes: one instance per
// study, indextest's default studies.
const benchStudies = 3000

// Tags of the benchmark's searches.
const (
	tagStudyDate         = 0x00080020
	tagAccessionNumber   = 0x00080050
	tagModalitiesInStudy = 0x00080061
	tagPatientName       = 0x00100010
	tagPatientID         = 0x00100020
)

// benchQueries are the study-level searches of cmd/benchindex (and of the
// QIDO rows of scripts/bench-compare), with values of study s.
func benchQueries(s int) []struct {
	name string
	q    index.Query
} {
	spec := indextest.DefaultSpec(s)
	name := spec.PatientName
	t, _ := time.Parse("20060102", spec.StudyDate[:6]+"01")
	first, last := t.Format("20060102"), t.AddDate(0, 1, -1).Format("20060102")
	filter := func(tag uint32, vr string, kind index.MatchKind, v string) []index.Filter {
		return []index.Filter{{Tag: tag, VR: vr, Kind: kind, Values: []string{v}}}
	}
	return []struct {
		name string
		q    index.Query
	}{
		{"all100", index.Query{Limit: 100}},
		{"pid", index.Query{Limit: 25, Filters: filter(tagPatientID, "LO", index.MatchSingle, spec.PatientID)}},
		{"pn_exact", index.Query{Limit: 25, Filters: filter(tagPatientName, "PN", index.MatchSingle, name)}},
		{"pn_wildcard", index.Query{Limit: 25, Filters: filter(tagPatientName, "PN", index.MatchWildcard, name[:3]+"*")}},
		{"date_month", index.Query{Limit: 25, Filters: []index.Filter{{Tag: tagStudyDate, VR: "DA", Kind: index.MatchRange, Low: first, High: last}}}},
		{"modality", index.Query{Limit: 25, Filters: filter(tagModalitiesInStudy, "CS", index.MatchSingle, spec.Modality)}},
		{"accession", index.Query{Limit: 25, Filters: filter(tagAccessionNumber, "SH", index.MatchSingle, spec.AccessionNumber)}},
	}
}

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

	for _, c := range benchQueries(1234 % benchStudies) {
		want := -1
		for _, e := range engines {
			n, err := search(ctx, e.ix, c.q)
			if err != nil {
				b.Fatalf("%s %s: %v", c.name, e.name, err)
			}
			if n == 0 || (want >= 0 && n != want) {
				b.Fatalf("%s: %s finds %d studies, the other engine %d", c.name, e.name, n, want)
			}
			want = n
		}
		for _, e := range engines {
			b.Run(c.name+"/"+e.name, func(b *testing.B) {
				for b.Loop() {
					if _, err := search(ctx, e.ix, c.q); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(want), "matches")
			})
		}
	}
}
