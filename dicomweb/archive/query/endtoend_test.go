package query_test

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb/archive/query"
	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/index/indextest"
)

// TestEndToEndGolden runs Parse, index Search and Write, as the search
// handler does, over a small index with awkward names, dates and a
// multi-series study, and compares every answer byte for byte with
// testdata/endtoend.golden (rewrite with -update). It pins the results
// and their encoding while the search and write paths are optimised.
func TestEndToEndGolden(t *testing.T) {
	ctx := context.Background()
	ix, err := index.Open(ctx, filepath.Join(t.TempDir(), "index.db"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })

	var insts []*index.Instance
	for i := range 100 {
		d := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, (i*37)%120)
		s := indextest.DefaultSpec(i)
		insts = append(insts, indextest.Instance(i, indextest.Date(d.Format("20060102"), s.StudyTime)))
	}
	special := func(i int, name, date string, opts ...func(*indextest.Spec)) {
		s := indextest.DefaultSpec(1000 + i)
		s.PatientID = fmt.Sprintf("SPECIAL%d", i)
		s.PatientName, s.StudyDate = name, date
		for _, o := range opts {
			o(&s)
		}
		insts = append(insts, indextest.Build(s))
	}
	special(0, "Yamada^Tarou=山田^太郎=やまだ^たろう", "20200115")
	special(1, "=山田^花子", "20200116")
	special(2, "  smith ^ john ^^ ", "20200117")
	special(3, "Šmíd^Jan", "20200118")
	special(4, "SCHMIDT", "")
	special(5, "Søren^Schmidt", "2020.01.19")
	special(6, "", "20200120")
	special(7, "Sánchez^José", "20200131", func(s *indextest.Spec) { s.StudyTime = "235959.999999" })
	special(8, "Sanchez^Jose", "20200201", func(s *indextest.Spec) { s.StudyTime = "" })
	special(9, "Doe^Jane", "20191231", func(s *indextest.Spec) {
		s.ExtraStudy = []index.Attr{indextest.Attr(0x00100010, "PN", "Doe^Jane", "Silva^Ana")}
	})
	special(10, "S*tar^Q?", "20200102")
	special(11, "Sm", "garbage")
	// A study with two series, three instances.
	for j, se := range []struct{ series, num, mod, sop, inum string }{
		{"1", "2", "CT", "1", "1"}, {"1", "2", "CT", "2", "2"}, {"2", "1", "SR", "1", ""},
	} {
		s := indextest.DefaultSpec(2000)
		s.PatientID, s.PatientName, s.StudyDate = "MULTI", "Svoboda^Petr", "20200110"
		s.SeriesUID = s.StudyUID + "." + se.series
		s.SeriesNumber, s.Modality = se.num, se.mod
		s.SOPInstanceUID = s.SeriesUID + "." + se.sop
		s.InstanceNumber = se.inum
		if se.mod == "SR" {
			s.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
		}
		_ = j
		insts = append(insts, indextest.Build(s))
	}
	for _, in := range insts {
		if _, err := ix.Put(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	multi := indextest.DefaultSpec(2000).StudyUID

	type tcase struct {
		level         index.Level
		study, series string
		raw           string
	}
	st := func(raw string) tcase { return tcase{level: index.LevelStudy, raw: raw} }
	queries := []tcase{
		st("PatientName=S*"),
		st("PatientName=s*&limit=7&offset=2"),
		st("PatientName=Sch*"),
		st("PatientName=SCHMIDT"),
		st("PatientName=smith^john"),
		st("PatientName=Smith^John^^"),
		st("PatientName=sm*"),
		st("PatientName=SM"),
		st("PatientName=sanchez^jose"),
		st("PatientName=Sánchez*"),
		st("PatientName=*ller*"),
		st("PatientName=S?ith*"),
		st("PatientName=S%5C"),
		st("PatientName=Yamada^Tarou"),
		st("PatientName=山田*"),
		st("PatientName=Yamada^Tarou=山田^太郎"),
		st("PatientName==山田^花子"),
		st("PatientName=やまだ*"),
		st("PatientName=Silva*"),
		st("PatientName=Doe^Jane%5CSilva^Ana"),
		st("PatientName=doe^jane&PatientName=svoboda^petr"),
		st("PatientName=hans%20mu&fuzzymatching=true"),
		st("PatientName=S*&StudyDate=20200101-20200131"),
		st("PatientName=Smith^*"),
		st("PatientID=PID000012"),
		st("PatientID=PID00001*"),
		st("PatientID=SPECIAL*&limit=5"),
		st("PatientID=MULTI"),
		st("StudyDate=20200101-20200131"),
		st("StudyDate=20200115"),
		st("StudyDate=-20200105"),
		st("StudyDate=20200410-"),
		st("StudyDate=20200119"),
		st("StudyDate=20200101-20200131&StudyTime=080000-120000"),
		st("StudyDate=20200131-20200201&limit=3"),
		st("StudyDate=20200101%5C20200102"),
		st("AccessionNumber=ACC00000042"),
		st("ModalitiesInStudy=SR"),
		st("Modality=CT&limit=4&offset=1"),
		st("limit=5"),
		st("limit=5&offset=98"),
		st("includefield=all&PatientName=Doe*"),
		st("includefield=StudyDescription,00081030&PatientName=Svoboda^Petr"),
		st("StudyDescription=*KNEE&limit=3"),
		{level: index.LevelSeries, raw: "PatientName=Svoboda^Petr"},
		{level: index.LevelSeries, study: multi, raw: ""},
		{level: index.LevelSeries, raw: "Modality=SR&includefield=all"},
		{level: index.LevelSeries, raw: "PatientName=S*&limit=6"},
		{level: index.LevelInstance, raw: "PatientID=MULTI"},
		{level: index.LevelInstance, study: multi, raw: "includefield=all"},
		{level: index.LevelInstance, study: multi, series: multi + ".1", raw: "InstanceNumber=2"},
		{level: index.LevelInstance, raw: "StudyDate=20200115-20200120&limit=4"},
	}
	const base = "http://pacs.example:8042/dicomweb"
	var out bytes.Buffer
	for _, q := range queries {
		fmt.Fprintf(&out, "# level=%d study=%q series=%q %s\n", q.level, q.study, q.series, q.raw)
		r, err := query.Parse(q.level, q.study, q.series, q.raw, query.Options{MaxLimit: 1000})
		if err != nil {
			t.Fatalf("%s: %v", q.raw, err)
		}
		bw := bufio.NewWriter(&out)
		err = ix.Search(ctx, r.Query, func(res *index.Result) error {
			if err := r.Write(bw, base, res); err != nil {
				return err
			}
			return bw.WriteByte('\n')
		})
		if err != nil {
			t.Fatalf("%s: %v", q.raw, err)
		}
		if err := bw.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join("testdata", "endtoend.golden")
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		got := bytes.Split(out.Bytes(), []byte("\n"))
		exp := bytes.Split(want, []byte("\n"))
		for i := 0; i < len(got) || i < len(exp); i++ {
			var g, e []byte
			if i < len(got) {
				g = got[i]
			}
			if i < len(exp) {
				e = exp[i]
			}
			if !bytes.Equal(g, e) {
				t.Fatalf("output differs from %s at line %d:\n got %s\nwant %s", path, i+1, g, e)
			}
		}
	}
}
