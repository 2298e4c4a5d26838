package index_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/index/indextest"
)

// openSchema2 opens a copy of testdata/schema2.db.gz: the fixture's
// instances written by schema 2 (commit c565a94), whose records are all of
// version 1 (attr lists not packed, a series dictionary from each series'
// first instance).
func openSchema2(t *testing.T) (*index.Index, string) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "schema2.db.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "index.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ix, err := index.Open(context.Background(), path, index.Options{})
	if err != nil {
		t.Fatalf("Open of a schema 2 file: %v", err)
	}
	return ix, path
}

// TestSchema2File: an index written by schema 2 opens, answers searches
// and metadata reads exactly as one written now from the same instances,
// and stays so through new instances and deletions in both.
func TestSchema2File(t *testing.T) {
	ctx := context.Background()
	old, path := openSchema2(t)
	now := fixture(t)
	queries := []index.Query{
		{Level: index.LevelStudy},
		{Level: index.LevelSeries},
		{Level: index.LevelInstance},
		{Level: index.LevelStudy, Filters: []index.Filter{single(tPatientName, "PN", "muller^hans")}, Fuzzy: true},
		{Level: index.LevelStudy, Filters: []index.Filter{wild(tPatientName, "PN", "*o*")}},
		{Level: index.LevelStudy, Filters: []index.Filter{rng(tStudyDate, "DA", "20240101", "20240131")}},
		{Level: index.LevelSeries, Filters: []index.Filter{single(tModality, "CS", "MR")}},
		{Level: index.LevelInstance, Filters: []index.Filter{single(tImageType, "CS", "LOCALIZER")}},
		{Level: index.LevelStudy, Filters: []index.Filter{single(tPatientID, "LO", "P1")}, Limit: 1, Offset: 1},
		{Level: index.LevelStudy, Filters: []index.Filter{wild(tStudyDesc, "LO", "Brain*")}},
	}
	studies := []string{s1, s2, s3, s4, s5, "1.6"}
	compare := func(stage string) {
		t.Helper()
		for _, q := range queries {
			a, b := search(t, old, q), search(t, now, q)
			if len(b) == 0 {
				t.Errorf("%s: %+v finds nothing: compares nothing", stage, q)
			}
			if len(a) != len(b) {
				t.Errorf("%s: %+v: %d results from the schema 2 file, %d from a new one", stage, q, len(a), len(b))
				continue
			}
			for i := range a {
				if !reflect.DeepEqual(a[i], b[i]) {
					t.Errorf("%s: %+v: result %d differs:\nschema 2: %v\nnew:      %v", stage, q, i, a[i], b[i])
				}
			}
		}
		for _, st := range studies {
			var a, b [][]byte
			errA := old.Metadata(ctx, st, "", "", func(j []byte) error { a = append(a, bytes.Clone(j)); return nil })
			errB := now.Metadata(ctx, st, "", "", func(j []byte) error { b = append(b, bytes.Clone(j)); return nil })
			if errB == nil && len(b) == 0 {
				t.Errorf("%s: study %s has no metadata", stage, st)
			}
			if fmt.Sprint(errA) != fmt.Sprint(errB) || !reflect.DeepEqual(a, b) {
				t.Errorf("%s: metadata of study %s differs (errors %v, %v)", stage, st, errA, errB)
			}
		}
	}
	compare("as written")

	// More instances into an existing series (its dictionary came from
	// its first instance), a new series and a new study; deletions.
	s := fixtureSpecs()[0]
	more := []indextest.Spec{s, s, s}
	more[0].SOPInstanceUID, more[0].InstanceNumber = s1+".1.7", "7"
	more[1].SeriesUID, more[1].SOPInstanceUID, more[1].SeriesNumber = s1+".3", s1+".3.1", "3"
	more[2].StudyUID, more[2].SeriesUID, more[2].SOPInstanceUID, more[2].AccessionNumber = "1.6", "1.6.1", "1.6.1.1", "ACC6"
	for _, ix := range []*index.Index{old, now} {
		for _, sp := range more {
			mustPut(t, ix, indextest.Build(sp))
		}
		for _, d := range [][3]string{{s2, "", ""}, {s1, s1 + ".1", s1 + ".1.1"}} {
			if _, err := ix.Delete(ctx, d[0], d[1], d[2]); err != nil {
				t.Fatal(err)
			}
		}
	}
	compare("after changes")

	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := index.Open(ctx, path, index.Options{})
	if err != nil {
		t.Fatalf("reopening the upgraded file: %v", err)
	}
	old = again
	defer old.Close()
	compare("reopened")
}
