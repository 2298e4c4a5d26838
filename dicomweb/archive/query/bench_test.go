package query_test

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb/archive/query"
	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/index/indextest"
)

// The end-to-end benchmark index: 10,000 one-instance studies from
// indextest. The default names give ~1,000 hits for "S*" (Smith, Schmidt,
// Silva, Svoboda: 4 of 40 family names); the dates are spread over two
// years (not indextest's ten) so that one month holds ~400 studies.
const (
	e2eStudies = 10000
	e2eDays    = 730
)

var e2eIndex struct {
	once sync.Once
	dir  string
	ix   *index.Index
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if e2eIndex.ix != nil {
		e2eIndex.ix.Close()
	}
	if e2eIndex.dir != "" {
		os.RemoveAll(e2eIndex.dir)
	}
	os.Exit(code)
}

// e2eInstance is study i of the benchmark index.
func e2eInstance(i int) *index.Instance {
	d := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, (i*37)%e2eDays)
	s := indextest.DefaultSpec(i)
	return indextest.Instance(i, indextest.Date(d.Format("20060102"), s.StudyTime))
}

func loadE2EIndex(b *testing.B) *index.Index {
	e2eIndex.once.Do(func() {
		ctx := context.Background()
		e2eIndex.dir, e2eIndex.err = os.MkdirTemp("", "qidobench")
		if e2eIndex.err != nil {
			return
		}
		ix, err := index.Open(ctx, filepath.Join(e2eIndex.dir, "index.db"), index.Options{})
		if err != nil {
			e2eIndex.err = err
			return
		}
		e2eIndex.ix = ix
		e2eIndex.err = indextest.Populate(ctx, ix, e2eStudies, e2eInstance)
	})
	if e2eIndex.err != nil {
		b.Fatal(e2eIndex.err)
	}
	return e2eIndex.ix
}

// BenchmarkQIDOEndToEnd is a study-level QIDO-RS search as the handler runs
// it, without HTTP: Parse, Search, and Write of every result (default
// study fields) through a bufio.Writer into io.Discard.
func BenchmarkQIDOEndToEnd(b *testing.B) {
	ix := loadE2EIndex(b)
	ctx := context.Background()
	for _, c := range []struct {
		name, query string
		min, max    int // expected number of results
	}{
		{"pn_prefix_1000", "PatientName=S*", 900, 1100},
		{"date_month_400", "StudyDate=20210301-20210331", 350, 450},
		{"pn_exact", "PatientName=" + indextest.PatientName(1234), 1, 20},
		{"pid", "PatientID=PID001234", 1, 5},
	} {
		b.Run(c.name, func(b *testing.B) {
			const base = "http://127.0.0.1:8042/dicomweb"
			bw := bufio.NewWriterSize(io.Discard, 32<<10)
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				q, err := query.Parse(index.LevelStudy, "", "", c.query, query.Options{MaxLimit: 100000})
				if err != nil {
					b.Fatal(err)
				}
				n = 0
				err = ix.Search(ctx, q.Query, func(r *index.Result) error {
					if n > 0 {
						bw.WriteByte(',')
					}
					n++
					return q.Write(bw, base, r)
				})
				if err != nil {
					b.Fatal(err)
				}
				bw.Flush()
			}
			if n < c.min || n > c.max {
				b.Fatalf("%d results, want %d..%d", n, c.min, c.max)
			}
			b.ReportMetric(float64(n), "results")
		})
	}
}
