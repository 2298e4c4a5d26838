package index_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/index/indextest"
)

const benchStudies = 10000

// benchIndex is a 10,000-study index shared by the search benchmarks,
// built on first use and removed by TestMain.
var benchIndex struct {
	once sync.Once
	dir  string
	ix   *index.Index
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchIndex.ix != nil {
		benchIndex.ix.Close()
	}
	if benchIndex.dir != "" {
		os.RemoveAll(benchIndex.dir)
	}
	os.Exit(code)
}

func loadBenchIndex(b *testing.B) *index.Index {
	benchIndex.once.Do(func() {
		ctx := context.Background()
		benchIndex.dir, benchIndex.err = os.MkdirTemp("", "indexbench")
		if benchIndex.err != nil {
			return
		}
		ix, err := index.Open(ctx, filepath.Join(benchIndex.dir, "index.db"), index.Options{})
		if err != nil {
			benchIndex.err = err
			return
		}
		benchIndex.ix = ix
		benchIndex.err = indextest.Populate(ctx, ix, benchStudies, func(i int) *index.Instance { return indextest.Instance(i) })
	})
	if benchIndex.err != nil {
		b.Fatal(benchIndex.err)
	}
	return benchIndex.ix
}

func BenchmarkSearch(b *testing.B) {
	ix := loadBenchIndex(b)
	oneMonth := rng(tStudyDate, "DA", "20200101", "20200131")
	for _, c := range []struct {
		name string
		q    index.Query
	}{
		{"PatientNameExact", index.Query{Filters: []index.Filter{single(tPatientName, "PN", indextest.PatientName(1234))}}},
		{"PatientNameExactAccents", index.Query{Filters: []index.Filter{single(tPatientName, "PN", "muller^hans")}}},
		{"PatientNamePrefix", index.Query{Filters: []index.Filter{wild(tPatientName, "PN", "Mül*")}}},
		{"PatientNamePrefixLimit25", index.Query{Limit: 25, Filters: []index.Filter{wild(tPatientName, "PN", "Mül*")}}},
		{"PatientNameContains", index.Query{Limit: 25, Filters: []index.Filter{wild(tPatientName, "PN", "*ller*")}}},
		{"PatientNameFuzzy", index.Query{Fuzzy: true, Filters: []index.Filter{single(tPatientName, "PN", "hans mu")}}},
		{"PatientID", index.Query{Filters: []index.Filter{single(tPatientID, "LO", "PID001234")}}},
		{"StudyDateOneMonth", index.Query{Filters: []index.Filter{oneMonth}}},
		{"ModalityLimit25", index.Query{Limit: 25, Filters: []index.Filter{single(tModality, "CS", "CT")}}},
		{"Limit25", index.Query{Limit: 25}},
		{"Limit101Offset500", index.Query{Limit: 101, Offset: 500}},
		{"StudyDescriptionScanLimit25", index.Query{Limit: 25, Filters: []index.Filter{wild(tStudyDesc, "LO", "*KNEE")}}},
		{"SeriesOfStudy", index.Query{Level: index.LevelSeries, StudyUID: indextest.Instance(4321).StudyUID}},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			var n int
			durs := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			for b.Loop() {
				n = 0
				t0 := time.Now()
				err := ix.Search(ctx, c.q, func(*index.Result) error { n++; return nil })
				durs = append(durs, time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
			}
			if n == 0 {
				b.Fatalf("%s: no results", c.name)
			}
			slices.Sort(durs)
			b.ReportMetric(float64(durs[len(durs)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(n), "results")
		})
	}
}

func BenchmarkPut(b *testing.B) {
	ix, _ := openTest(b, index.Options{})
	ctx := context.Background()
	var next atomic.Int64
	insts := make([]*index.Instance, 0, 1024)
	for i := 0; i < cap(insts); i++ {
		insts = append(insts, indextest.Instance(i))
	}
	c0, _ := ix.Commits()
	b.SetParallelism(32)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1))
			in := *insts[i%len(insts)]
			// Unique UIDs per iteration, realistic attributes.
			suffix := "." + itoa(i)
			in.StudyUID += suffix
			in.SeriesUID += suffix
			in.SOPInstanceUID += suffix
			in.ObjectKey += suffix
			if _, err := ix.Put(ctx, &in); err != nil {
				b.Error(err)
				return
			}
		}
	})
	c1, _ := ix.Commits()
	b.ReportMetric(float64(c1-c0)/float64(b.N), "commits/op")
}

func itoa(i int) string {
	var buf [20]byte
	n := len(buf)
	for {
		n--
		buf[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(buf[n:])
		}
	}
}

// BenchmarkMetadataStudy reads the DICOM JSON of a 2-series, 10-instance
// study (series /metadata and study /metadata read this way).
func BenchmarkMetadataStudy(b *testing.B) {
	ctx := context.Background()
	ix, err := index.Open(ctx, filepath.Join(b.TempDir(), "index.db"), index.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	const perStudy, studies = 10, 20
	gen := func(i int) *index.Instance {
		s, k := i/perStudy, i%perStudy
		spec := indextest.DefaultSpec(s)
		spec.SeriesUID = spec.StudyUID + "." + string(rune('1'+k%2))
		spec.SOPInstanceUID = spec.SeriesUID + "." + string(rune('a'+k))
		return indextest.Build(spec)
	}
	if err := indextest.Populate(ctx, ix, perStudy*studies, gen); err != nil {
		b.Fatal(err)
	}
	study := indextest.DefaultSpec(7).StudyUID
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		if err := ix.Metadata(ctx, study, "", "", func(json []byte) error { n += len(json); return nil }); err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			b.Fatal("no metadata")
		}
	}
}
