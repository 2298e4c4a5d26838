package indextest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minipacs/minipacs/index"
)

// Opener opens a fresh, empty engine for one test, with the duplicate
// policy of opt.Replace; it closes the engine at the end of the test
// (t.Cleanup), and Close must then tolerate an earlier Close.
type Opener func(t *testing.T, opt index.Options) index.Engine

// Conformance runs the behaviour every index.Engine shares (the reference
// is the bbolt Index): Put and PutMany results and conflicts, reads and
// their order, metadata, QIDO searches at every level with every kind of
// matching, deletes and counts, patient updates, records, object walks
// and calls after Close. Each subtest opens its own engines.
func Conformance(t *testing.T, open Opener) {
	for _, c := range []struct {
		name string
		run  func(t *testing.T, open Opener)
	}{
		{"Basics", confBasics},
		{"PutSemantics", confPutSemantics},
		{"PutReplaceSameKey", confPutReplaceSameKey},
		{"PutInvalid", confPutInvalid},
		{"PutMany", confPutMany},
		{"PutCanceled", confPutCanceled},
		{"UnsortedAttrs", confUnsortedAttrs},
		{"Commits", confCommits},
		{"LookupRefs", confLookupRefs},
		{"Metadata", confMetadata},
		{"StudyMatching", confStudyMatching},
		{"SeriesInstanceMatching", confSeriesInstanceMatching},
		{"LimitOffset", confLimitOffset},
		{"ResultAttributes", confResultAttributes},
		{"UpperLevels", confUpperLevels},
		{"EncodedReuse", confEncodedReuse},
		{"SearchErrors", confSearchErrors},
		{"CountsAndDelete", confCountsAndDelete},
		{"StatsReplace", confStatsReplace},
		{"UpdatePatient", confUpdatePatient},
		{"UpdatePatientRemove", confUpdatePatientRemove},
		{"PatientFromRecord", confPatientFromRecord},
		{"Records", confRecords},
		{"Objects", confObjects},
		{"Closed", confClosed},
	} {
		t.Run(c.name, func(t *testing.T) { c.run(t, open) })
	}
}

// Tags the suite uses.
const (
	tImageType    = 0x00080008
	tSOPClass     = 0x00080016
	tSOPUID       = 0x00080018
	tStudyDate    = 0x00080020
	tAcqDateTime  = 0x0008002A
	tStudyTime    = 0x00080030
	tAccession    = 0x00080050
	tModality     = 0x00080060
	tModsInStudy  = 0x00080061
	tClassInStudy = 0x00080062
	tStudyDesc    = 0x00081030
	tSeriesDesc   = 0x0008103E
	tPatientName  = 0x00100010
	tPatientID    = 0x00100020
	tIssuer       = 0x00100021
	tBirthDate    = 0x00100030
	tSex          = 0x00100040
	tStudyUID     = 0x0020000D
	tSeriesUID    = 0x0020000E
	tSeriesNumber = 0x00200011
	tInstNumber   = 0x00200013
	tNumSeries    = 0x00201206
	tNumInst      = 0x00201208
	tNumSerInst   = 0x00201209
)

func single(tag uint32, vr, v string) index.Filter {
	return index.Filter{Tag: tag, VR: vr, Kind: index.MatchSingle, Values: []string{v}}
}

func wild(tag uint32, vr, v string) index.Filter {
	return index.Filter{Tag: tag, VR: vr, Kind: index.MatchWildcard, Values: []string{v}}
}

func list(tag uint32, vr string, vs ...string) index.Filter {
	return index.Filter{Tag: tag, VR: vr, Kind: index.MatchList, Values: vs}
}

func rng(tag uint32, vr, lo, hi string) index.Filter {
	return index.Filter{Tag: tag, VR: vr, Kind: index.MatchRange, Low: lo, High: hi}
}

func mustPut(t *testing.T, e index.Engine, in *index.Instance) index.PutResult {
	t.Helper()
	res, err := e.Put(context.Background(), in)
	if err != nil {
		t.Fatalf("Put %s: %v", in.SOPInstanceUID, err)
	}
	return res
}

func stats(t *testing.T, e index.Engine) [3]int {
	t.Helper()
	st, se, in, err := e.Stats(context.Background())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return [3]int{st, se, in}
}

// The matching fixture: five studies. f1 has a CT series (two instances)
// and an MR series (one instance); the others one series, one instance.
const (
	f1 = "1.1"
	f2 = "1.2"
	f3 = "1.3"
	f4 = "1.4"
	f5 = "1.5"
)

// fixtureSpecs are the instances of the matching fixture (those of the
// bbolt tests, plus AcquisitionDateTime for DT matching).
func fixtureSpecs() []Spec {
	spec := func(i int, study, pid, issuer, name, date, tm, acc, mod string) Spec {
		s := DefaultSpec(i)
		s.StudyUID, s.SeriesUID, s.SOPInstanceUID = study, study+".1", study+".1.1"
		s.PatientID, s.IssuerOfPatientID, s.PatientName = pid, issuer, name
		s.StudyDate, s.StudyTime, s.AccessionNumber, s.Modality = date, tm, acc, mod
		return s
	}
	dt := func(v string) []index.Attr { return []index.Attr{Attr(tAcqDateTime, "DT", v)} }
	var specs []Spec
	a := spec(1, f1, "P1", "A", "Müller^Hans", "20240115", "101500", "ACC1", "CT")
	a.InstanceNumber = "2"
	a.ExtraInstance = dt("20240115101500.5")
	specs = append(specs, a)
	b := a
	b.SOPInstanceUID, b.InstanceNumber, b.ImageType = f1+".1.0", "1", []string{"DERIVED", "SECONDARY", "LOCALIZER"}
	b.ExtraInstance = dt("20240115101400")
	specs = append(specs, b)
	c := a
	c.SeriesUID, c.SOPInstanceUID, c.SeriesNumber, c.Modality, c.SeriesDescription = f1+".2", f1+".2.1", "2", "MR", "T1 axial"
	c.ExtraInstance = nil
	specs = append(specs, c)
	d := spec(2, f2, "P1", "B", "muller^hans^^ ", "20240131", "0930", "ACC2", "MR")
	d.ExtraInstance = dt("20240131093000+0100")
	e := spec(3, f3, "P3", "A", "Doe^John=ドウ^ジョン", "20240201", "235959.5", "X-3", "US")
	e.ExtraInstance = dt("2024")
	specs = append(specs, d, e,
		spec(4, f4, "P4", "A", "Smith^Jane", "", "", "", "CT"),
		spec(5, f5, "p1", "A", "O'Brien^Liam", "20231231", "", "ACC5", "CR"),
	)
	specs[len(specs)-1].StudyDescription = "Brain MRI"
	specs[len(specs)-2].PatientSex = ""
	return specs
}

// fixture opens an engine holding the matching fixture.
func fixture(t *testing.T, open Opener) index.Engine {
	t.Helper()
	e := open(t, index.Options{})
	for _, s := range fixtureSpecs() {
		mustPut(t, e, Build(s))
	}
	return e
}

// seriesInst builds instance n of a series of a study (spec i).
func seriesInst(i int, study, series, seriesNum, mod string, n int) *index.Instance {
	return Instance(i, Study(study), Series(series, seriesNum, mod), SOP(fmt.Sprintf("%s.%d", series, n), fmt.Sprint(n)))
}

func confBasics(t *testing.T, open Opener) {
	ctx := context.Background()
	for _, replace := range []bool{false, true} {
		e := open(t, index.Options{Replace: replace})
		if e.Replaces() != replace {
			t.Errorf("Replaces() = %v, want %v", e.Replaces(), replace)
		}
		if err := e.Ping(ctx); err != nil {
			t.Errorf("Ping: %v", err)
		}
		if s := stats(t, e); s != [3]int{} {
			t.Errorf("Stats of a new engine = %v", s)
		}
		if rows := search(t, e, index.Query{}); len(rows) != 0 {
			t.Errorf("a new engine finds %d studies", len(rows))
		}
	}
}

func confPutSemantics(t *testing.T, open Opener) {
	base := func() *index.Instance { return Instance(1) }
	ctx := context.Background()
	const sameName = "same name other case and padding: no mismatch"
	for _, c := range []struct {
		name    string
		replace bool
		second  *index.Instance
		wantErr error
		want    index.PutResult
		// secondIndexed: the second Put's object is the one indexed for the
		// first SOP afterwards.
		secondIndexed bool
		wantN         string // NumberOfStudyRelatedInstances afterwards
	}{
		{name: "identical is idempotent", second: base(),
			want: index.PutResult{Existed: true, ExistingObjectKey: base().ObjectKey}, wantN: "1"},
		{name: "identical with another object key", second: func() *index.Instance { in := base(); in.ObjectKey = "obj/other"; return in }(),
			want: index.PutResult{Existed: true, ExistingObjectKey: base().ObjectKey}, wantN: "1"},
		{name: "identical with replace", replace: true, second: base(),
			want: index.PutResult{Existed: true, ExistingObjectKey: base().ObjectKey}, wantN: "1"},
		{name: "different content conflicts", second: Instance(1, Content("x")), wantErr: index.ErrConflict, wantN: "1"},
		{name: "different content replaces", replace: true, second: Instance(1, Content("x")),
			want: index.PutResult{ReplacedObjectKey: base().ObjectKey}, secondIndexed: true, wantN: "1"},
		{name: "same SOP in another series conflicts", replace: true,
			second: Instance(1, Series("9.9.9", "1", "CT")), wantErr: index.ErrConflict, wantN: "1"},
		{name: "same SOP in another study conflicts",
			second: Instance(1, Study("9.9.9")), wantErr: index.ErrConflict, wantN: "1"},
		{name: "same SOP in another study conflicts with replace", replace: true,
			second: Instance(1, Study("9.9.9"), Content("x")), wantErr: index.ErrConflict, wantN: "1"},
		{name: "series of another study conflicts",
			second: Instance(2, Series(base().SeriesUID, "1", "CT")), wantErr: index.ErrConflict, wantN: "1"},
		{name: "object key of another instance conflicts",
			second:  func() *index.Instance { in := Instance(2); in.ObjectKey = base().ObjectKey; return in }(),
			wantErr: index.ErrConflict, wantN: "1"},
		{name: "other issuer: patient mismatch",
			second: Instance(1, SOP("1.5.5", "2"), Patient("PID000000", "OTHER", PatientName(0))),
			want:   index.PutResult{PatientMismatch: true}, wantN: "2"},
		{name: "other name: patient mismatch",
			second: Instance(1, SOP("1.5.5", "2"), Patient("PID000000", "HOSP", "Other^Name")),
			want:   index.PutResult{PatientMismatch: true}, wantN: "2"},
		{name: "other PatientID: patient mismatch",
			second: Instance(1, SOP("1.5.5", "2"), Patient("PID999", "HOSP", PatientName(0))),
			want:   index.PutResult{PatientMismatch: true}, wantN: "2"},
		{name: sameName,
			second: Instance(1, SOP("1.5.5", "2"), Patient("PID000000", "HOSP", "DOE^JOHN^^ ")),
			want:   index.PutResult{}, wantN: "2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := open(t, index.Options{Replace: c.replace})
			first := base()
			if c.name == sameName {
				first = Instance(1, Patient("PID000000", "HOSP", "Doe^John"))
			}
			if res := mustPut(t, e, first); res != (index.PutResult{}) {
				t.Errorf("first PutResult = %+v, want zero", res)
			}
			res, err := e.Put(ctx, c.second)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("second Put err = %v, want %v", err, c.wantErr)
			}
			if res != c.want {
				t.Errorf("PutResult = %+v, want %+v", res, c.want)
			}
			ref, err := e.Lookup(ctx, first.SOPInstanceUID)
			if err != nil {
				t.Fatal(err)
			}
			want := first
			if c.secondIndexed {
				want = c.second
			}
			if ref.ObjectKey != want.ObjectKey || ref.SHA256 != want.SHA256 {
				t.Errorf("indexed object key = %s, want %s", ref.ObjectKey, want.ObjectKey)
			}
			rows := search(t, e, index.Query{Level: index.LevelStudy, StudyUID: first.StudyUID})
			if len(rows) != 1 {
				t.Fatalf("study search: %d results", len(rows))
			}
			// The study keeps its first patient values.
			for _, tag := range []uint32{tPatientName, tPatientID, tIssuer} {
				if got, want := value(rows[0][0], tag), value(first.Study, tag); got != want {
					t.Errorf("study (%08X) = %q, want the first %q", tag, got, want)
				}
			}
			if got := value(rows[0][0], tNumInst); got != c.wantN {
				t.Errorf("NumberOfStudyRelatedInstances = %s, want %s", got, c.wantN)
			}
			secondKept := c.secondIndexed || c.wantN == "2"
			if ok, err := e.HasObject(ctx, c.second.ObjectKey); err != nil || ok != (secondKept || c.second.ObjectKey == first.ObjectKey) {
				t.Errorf("HasObject(second) = %v, %v", ok, err)
			}
			if ok, err := e.HasObject(ctx, first.ObjectKey); err != nil || ok == c.secondIndexed {
				t.Errorf("HasObject(first) = %v, %v", ok, err)
			}
			if c.wantErr != nil {
				if _, err := e.Lookup(ctx, c.second.SOPInstanceUID); c.second.SOPInstanceUID != first.SOPInstanceUID && !errors.Is(err, index.ErrNotFound) {
					t.Errorf("a refused instance is indexed: %v", err)
				}
				wantStats := [3]int{1, 1, 1}
				if s := stats(t, e); s != wantStats {
					t.Errorf("Stats after a refused Put = %v, want %v", s, wantStats)
				}
			}
		})
	}
}

// confPutReplaceSameKey: a replacement stored under the same object key
// reports no ReplacedObjectKey (the caller must not delete it).
func confPutReplaceSameKey(t *testing.T, open Opener) {
	e := open(t, index.Options{Replace: true})
	first := Instance(1)
	mustPut(t, e, first)
	second := Instance(1, Content("x"))
	second.ObjectKey = first.ObjectKey
	res := mustPut(t, e, second)
	if res != (index.PutResult{}) {
		t.Errorf("PutResult = %+v, want zero", res)
	}
	ref, err := e.Lookup(context.Background(), first.SOPInstanceUID)
	if err != nil || ref.SHA256 != second.SHA256 || ref.ObjectKey != first.ObjectKey {
		t.Errorf("Lookup = %+v, %v", ref, err)
	}
	if s := stats(t, e); s != [3]int{1, 1, 1} {
		t.Errorf("Stats = %v", s)
	}
}

func confPutInvalid(t *testing.T, open Opener) {
	e := open(t, index.Options{})
	for _, c := range []struct {
		name string
		mod  func(in *index.Instance)
	}{
		{"empty study", func(in *index.Instance) { in.StudyUID = "" }},
		{"empty series", func(in *index.Instance) { in.SeriesUID = "" }},
		{"empty SOP", func(in *index.Instance) { in.SOPInstanceUID = "" }},
		{"NUL in SOP", func(in *index.Instance) { in.SOPInstanceUID = "1.2\x003" }},
		{"long series", func(in *index.Instance) { in.SeriesUID = string(make([]byte, 65)) }},
		{"no class", func(in *index.Instance) { in.SOPClassUID = "" }},
		{"no object key", func(in *index.Instance) { in.ObjectKey = "" }},
		{"no metadata", func(in *index.Instance) { in.Metadata = nil }},
		{"bad VR", func(in *index.Instance) { in.Study[0].VR = "X" }},
		{"repeated tag", func(in *index.Instance) { in.Series = append(in.Series, in.Series[0]) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := Instance(5)
			c.mod(in)
			if _, err := e.Put(context.Background(), in); !errors.Is(err, index.ErrInvalid) {
				t.Errorf("Put of an invalid instance: %v, want ErrInvalid", err)
			}
		})
	}
	if _, err := e.Put(context.Background(), nil); err == nil {
		t.Error("Put(nil) accepted")
	}
	if s := stats(t, e); s != [3]int{} {
		t.Errorf("invalid instances left %v", s)
	}
}

// confPutMany: each member of a PutMany gets its own result: an invalid
// member and a conflicting member fail alone.
func confPutMany(t *testing.T, open Opener) {
	e := open(t, index.Options{})
	ctx := context.Background()
	mustPut(t, e, Instance(100))
	insts := make([]*index.Instance, 40)
	for i := range insts {
		insts[i] = Instance(i)
	}
	insts[7].StudyUID = ""                                   // invalid
	insts[9] = Instance(100, Content("other content"))       // conflict
	insts[11] = Instance(100)                                // identical: existed
	insts[13] = Instance(13, Patient("PID000004", "X", "A")) // mismatch with 12 (patient 4)
	insts[13].StudyUID, insts[13].SOPInstanceUID = insts[12].StudyUID, insts[12].SOPInstanceUID+".2"
	res, errs := e.PutMany(ctx, insts)
	if len(res) != len(insts) || len(errs) != len(insts) {
		t.Fatalf("PutMany: %d results, %d errors for %d instances", len(res), len(errs), len(insts))
	}
	for i, err := range errs {
		switch i {
		case 7:
			if !errors.Is(err, index.ErrInvalid) {
				t.Errorf("invalid member: %v, want ErrInvalid", err)
			}
		case 9:
			if !errors.Is(err, index.ErrConflict) {
				t.Errorf("conflicting member: %v, want ErrConflict", err)
			}
		case 11:
			if err != nil || res[i] != (index.PutResult{Existed: true, ExistingObjectKey: insts[11].ObjectKey}) {
				t.Errorf("identical member: %+v, %v; want Existed", res[i], err)
			}
		case 13:
			if err != nil || res[i] != (index.PutResult{PatientMismatch: true}) {
				t.Errorf("mismatching member: %+v, %v; want PatientMismatch", res[i], err)
			}
		default:
			if err != nil || res[i] != (index.PutResult{}) {
				t.Errorf("member %d: %+v, %v", i, res[i], err)
			}
		}
	}
	// 100 and 0..39 but 7 (invalid), 9 and 11 (100 again), 13 (a second
	// series of 12).
	if s := stats(t, e); s != [3]int{37, 38, 38} {
		t.Errorf("Stats = %v, want [37 38 38]", s)
	}
	if res, errs := e.PutMany(ctx, nil); len(res) != 0 || len(errs) != 0 {
		t.Errorf("PutMany(nil) = %v, %v", res, errs)
	}
}

func confPutCanceled(t *testing.T, open Opener) {
	e := open(t, index.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Put(ctx, Instance(1)); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a canceled context: %v", err)
	}
	if _, errs := e.PutMany(ctx, []*index.Instance{Instance(2)}); !errors.Is(errs[0], context.Canceled) {
		t.Errorf("PutMany with a canceled context: %v", errs[0])
	}
	if s := stats(t, e); s != [3]int{} {
		t.Errorf("canceled Puts were indexed: %v", s)
	}
}

// confUnsortedAttrs: attributes given out of order are sorted.
func confUnsortedAttrs(t *testing.T, open Opener) {
	e := open(t, index.Options{})
	in := Instance(3)
	want := slices.Clone(in.Study)
	slices.Reverse(in.Study)
	slices.Reverse(in.Instance)
	mustPut(t, e, in)
	rows := search(t, e, index.Query{Level: index.LevelInstance, Filters: []index.Filter{single(tPatientID, "LO", in.PatientID)}})
	if len(rows) != 1 {
		t.Fatalf("search after unsorted put: %d results", len(rows))
	}
	for l, attrs := range rows[0] {
		if !slices.IsSortedFunc(attrs, func(a, b index.Attr) int { return int(int64(a.Tag) - int64(b.Tag)) }) {
			t.Errorf("level %d attributes not in tag order", l)
		}
	}
	got := slices.DeleteFunc(slices.Clone(rows[0][0]), func(a index.Attr) bool {
		return a.Tag == tModsInStudy || a.Tag == tClassInStudy || a.Tag>>16 == 0x0020 && a.Tag >= tNumSeries
	})
	if d := DiffAttrs(got, want); d != "" {
		t.Errorf("study attributes: %s", d)
	}
}

func confCommits(t *testing.T, open Opener) {
	e := open(t, index.Options{})
	var calls int
	var total time.Duration
	e.SetOnCommit(func(d time.Duration) { calls++; total += d })
	c0, p0 := e.Commits()
	const n = 5
	for i := 0; i < n; i++ {
		mustPut(t, e, Instance(i))
	}
	c1, p1 := e.Commits()
	if p1-p0 != n || c1-c0 < 1 || c1-c0 > n {
		t.Errorf("Commits after %d Puts: %d commits, %d puts", n, c1-c0, p1-p0)
	}
	if uint64(calls) != c1-c0 || total <= 0 {
		t.Errorf("OnCommit called %d times (total %v) for %d commits", calls, total, c1-c0)
	}
	e.SetOnCommit(nil)
	mustPut(t, e, Instance(n))
	if uint64(calls) != c1-c0 {
		t.Errorf("OnCommit called after SetOnCommit(nil)")
	}
}

func confLookupRefs(t *testing.T, open Opener) {
	e := open(t, index.Options{})
	ctx := context.Background()
	const st = "1.2.3"
	// Series put in no particular order, instances out of order; series
	// .30 and .40 have no number (last, by UID), series .05 shares number
	// 2 with .20 (by UID); instances without a number come last.
	for _, c := range []struct {
		series, num, mod string
		insts            []int
	}{
		{"1.2.3.40", "", "OT", []int{1}},
		{"1.2.3.20", "2", "MR", []int{3, 1, 2}},
		{"1.2.3.10", "1", "CT", []int{10, 2}},
		{"1.2.3.30", "", "OT", []int{1}},
		{"1.2.3.05", "2", "MR", []int{1}},
	} {
		for _, n := range c.insts {
			mustPut(t, e, seriesInst(0, st, c.series, c.num, c.mod, n))
		}
	}
	noNum := []*index.Instance{
		Instance(0, Study(st), Series("1.2.3.10", "1", "CT"), SOP("1.2.3.10.9", "")),
		Instance(0, Study(st), Series("1.2.3.10", "1", "CT"), SOP("1.2.3.10.8", "")),
	}
	for _, in := range noNum {
		mustPut(t, e, in)
	}
	want := []string{"1.2.3.10.2", "1.2.3.10.10", "1.2.3.10.8", "1.2.3.10.9", "1.2.3.05.1",
		"1.2.3.20.1", "1.2.3.20.2", "1.2.3.20.3", "1.2.3.30.1", "1.2.3.40.1"}
	refs, err := e.Refs(ctx, st, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range refs {
		got = append(got, r.SOPInstanceUID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Refs order = %v, want %v", got, want)
	}
	refs, err = e.Refs(ctx, st, "1.2.3.20")
	if err != nil || len(refs) != 3 || refs[0].SOPInstanceUID != "1.2.3.20.1" || refs[2].SOPInstanceUID != "1.2.3.20.3" {
		t.Errorf("Refs(series) = %v, %v", refs, err)
	}
	// Searches give the same order.
	if got := uids(search(t, e, index.Query{Level: index.LevelInstance, StudyUID: st}), index.LevelInstance); !slices.Equal(got, want) {
		t.Errorf("instance search order = %v, want %v", got, want)
	}
	wantSeries := []string{"1.2.3.10", "1.2.3.05", "1.2.3.20", "1.2.3.30", "1.2.3.40"}
	if got := uids(search(t, e, index.Query{Level: index.LevelSeries, StudyUID: st}), index.LevelSeries); !slices.Equal(got, wantSeries) {
		t.Errorf("series search order = %v, want %v", got, wantSeries)
	}

	in := seriesInst(0, st, "1.2.3.20", "2", "MR", 2)
	wantRef := index.Ref{StudyUID: st, SeriesUID: "1.2.3.20", SOPInstanceUID: in.SOPInstanceUID, SOPClassUID: in.SOPClassUID,
		TransferSyntaxUID: in.TransferSyntaxUID, ObjectKey: in.ObjectKey, SHA256: in.SHA256, Size: in.Size, Layout: in.Layout}
	checkRef := func(name string, ref *index.Ref) {
		t.Helper()
		if ref == nil || ref.StudyUID != wantRef.StudyUID || ref.SeriesUID != wantRef.SeriesUID || ref.SOPInstanceUID != wantRef.SOPInstanceUID ||
			ref.SOPClassUID != wantRef.SOPClassUID || ref.TransferSyntaxUID != wantRef.TransferSyntaxUID || ref.ObjectKey != wantRef.ObjectKey ||
			ref.SHA256 != wantRef.SHA256 || ref.Size != wantRef.Size || !bytes.Equal(ref.Layout, wantRef.Layout) {
			t.Errorf("%s = %+v, want %+v", name, ref, wantRef)
		}
	}
	ref, err := e.Lookup(ctx, in.SOPInstanceUID)
	if err != nil {
		t.Fatal(err)
	}
	checkRef("Lookup", ref)
	checkRef("Refs[6]", &refs[1])
	if _, err := e.Lookup(ctx, "7.7.7"); !errors.Is(err, index.ErrNotFound) {
		t.Errorf("Lookup(unknown) err = %v, want ErrNotFound", err)
	}
	for _, c := range []struct {
		name               string
		study, series, sop string
		wantErr            error
	}{
		{"full path", st, "1.2.3.20", in.SOPInstanceUID, nil},
		{"any series", st, "", in.SOPInstanceUID, nil},
		{"wrong series", st, "1.2.3.10", in.SOPInstanceUID, index.ErrNotFound},
		{"wrong study", "9.9", "", in.SOPInstanceUID, index.ErrNotFound},
		{"no study", "", "", in.SOPInstanceUID, index.ErrNotFound},
		{"unknown", st, "", "7.7.7", index.ErrNotFound},
	} {
		t.Run("Instance/"+c.name, func(t *testing.T) {
			ref, err := e.Instance(ctx, c.study, c.series, c.sop)
			if !errors.Is(err, c.wantErr) {
				t.Errorf("err = %v, want %v", err, c.wantErr)
			}
			if err == nil {
				checkRef("Instance", ref)
			}
		})
	}
	for _, c := range []struct{ study, series string }{{"9.9", ""}, {st, "9.9"}, {"", ""}, {"9.9", "1.2.3.20"}} {
		if _, err := e.Refs(ctx, c.study, c.series); !errors.Is(err, index.ErrNotFound) {
			t.Errorf("Refs(%q,%q) err = %v, want ErrNotFound", c.study, c.series, err)
		}
	}
}

// mdInstance is instance k of series se of a study, with metadata JSON
// that shares most bytes with its series plus the given extra member.
func mdInstance(study string, se, k int, extra string) *index.Instance {
	series := fmt.Sprintf("%s.%d", study, se)
	sop := fmt.Sprintf("%s.%d", series, k)
	sum := sha256.Sum256([]byte(sop + extra))
	meta := fmt.Sprintf(`{"00080016":{"vr":"UI","Value":["1.2.840.10008.5.1.4.1.1.2"]},`+
		`"00080018":{"vr":"UI","Value":["%s"]},"00100010":{"vr":"PN","Value":[{"Alphabetic":"Doe^Jane"}]},`+
		`"0020000D":{"vr":"UI","Value":["%s"]},"0020000E":{"vr":"UI","Value":["%s"]},`+
		`"00200013":{"vr":"IS","Value":[%d]}%s}`, sop, study, series, k, extra)
	return &index.Instance{
		StudyUID: study, SeriesUID: series, SOPInstanceUID: sop, SOPClassUID: CTImageStorage,
		ObjectKey: "dicom/" + hex.EncodeToString(sum[:]) + ".dcm", SHA256: sum, Size: 100,
		Instance: []index.Attr{Attr(tInstNumber, "IS", fmt.Sprint(k))},
		Metadata: []byte(meta),
	}
}

// confMetadata: Metadata gives byte for byte what was Put, in Refs order,
// for a study, a series or one instance, also after deletions and a
// series recreated with other metadata.
func confMetadata(t *testing.T, open Opener) {
	e := open(t, index.Options{})
	ctx := context.Background()
	const study = "1.2.3.4"
	want := map[string][]byte{}
	put := func(in *index.Instance) {
		t.Helper()
		mustPut(t, e, in)
		want[in.SOPInstanceUID] = in.Metadata
	}
	noise := func(k, n int) string {
		h := sha256.Sum256([]byte(fmt.Sprint(k, n)))
		return strings.Repeat(hex.EncodeToString(h[:]), n/64+1)[:n]
	}
	extras := []func(k int) string{
		func(int) string { return "" },
		func(k int) string { return `,"00081030":{"vr":"LO","Value":["` + noise(k, 3000) + `"]}` },
		func(k int) string {
			return `,"00291010":{"vr":"LT","Value":["` + strings.Repeat("ab", 40000) + noise(k, 200) + `"]}`
		},
		func(k int) string { return `,"00081030":{"vr":"LO","Value":["é\u00e8 \"q\" \\ ドウ"]}` },
	}
	for se, extra := range extras {
		for k := 1; k <= 4; k++ {
			put(mdInstance(study, se+1, k, extra(k)))
		}
	}
	short := mdInstance(study, 9, 1, "")
	short.Metadata = []byte(`{}`)
	put(short)
	put(mdInstance(study, 9, 2, ""))
	put(mdInstance("1.2.3.5", 1, 1, "")) // another study

	read := func(study, series, sop string) ([][]byte, error) {
		var out [][]byte
		err := e.Metadata(ctx, study, series, sop, func(b []byte) error {
			out = append(out, bytes.Clone(b))
			return nil
		})
		return out, err
	}
	check := func(t *testing.T) {
		t.Helper()
		refs, err := e.Refs(ctx, study, "")
		if err != nil {
			t.Fatal(err)
		}
		got, err := read(study, "", "")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(refs) || len(refs) != len(want)-1 {
			t.Fatalf("study metadata: %d objects for %d instances, want %d", len(got), len(refs), len(want)-1)
		}
		bySeries := map[string][][]byte{}
		for i, r := range refs {
			if !bytes.Equal(got[i], want[r.SOPInstanceUID]) {
				t.Errorf("study metadata %d (%s) differs:\n got %.200s\nwant %.200s", i, r.SOPInstanceUID, got[i], want[r.SOPInstanceUID])
			}
			bySeries[r.SeriesUID] = append(bySeries[r.SeriesUID], want[r.SOPInstanceUID])
			for _, series := range []string{"", r.SeriesUID} {
				one, err := read(study, series, r.SOPInstanceUID)
				if err != nil || len(one) != 1 || !bytes.Equal(one[0], want[r.SOPInstanceUID]) {
					t.Errorf("instance metadata of %s (series %q): %d objects, %v", r.SOPInstanceUID, series, len(one), err)
				}
			}
		}
		for series, w := range bySeries {
			got, err := read(study, series, "")
			if err != nil || len(got) != len(w) {
				t.Errorf("series %s metadata: %d objects, %v; want %d", series, len(got), err, len(w))
				continue
			}
			for i := range w {
				if !bytes.Equal(got[i], w[i]) {
					t.Errorf("series %s metadata %d differs", series, i)
				}
			}
		}
	}
	t.Run("fresh", check)

	for _, c := range []struct{ study, series, sop string }{
		{"9.9", "", ""}, {study, "9.9", ""}, {"", "", ""}, {study, "", "9.9"},
		{study, study + ".2", study + ".1.1"}, {"1.2.3.5", "", study + ".1.1"}, {"9.9", study + ".1", ""},
	} {
		if _, err := read(c.study, c.series, c.sop); !errors.Is(err, index.ErrNotFound) {
			t.Errorf("Metadata(%q,%q,%q) err = %v, want ErrNotFound", c.study, c.series, c.sop, err)
		}
	}
	stop := errors.New("stop")
	calls := 0
	if err := e.Metadata(ctx, study, "", "", func([]byte) error { calls++; return stop }); err != stop || calls != 1 {
		t.Errorf("Metadata callback error = %v after %d calls, want it returned as is after 1", err, calls)
	}
	// Metadata's JSON is valid and names its SOP.
	if err := e.Metadata(ctx, study, study+".1", "", func(b []byte) error {
		var m map[string]json.RawMessage
		return json.Unmarshal(b, &m)
	}); err != nil {
		t.Errorf("metadata JSON: %v", err)
	}

	// Delete each series' first and second instances.
	for se := 1; se <= len(extras); se++ {
		for k := 1; k <= 2; k++ {
			sop := fmt.Sprintf("%s.%d.%d", study, se, k)
			if _, err := e.Delete(ctx, study, "", sop); err != nil {
				t.Fatal(err)
			}
			delete(want, sop)
		}
	}
	t.Run("first instances deleted", check)

	// Delete series 1 and recreate it with other metadata.
	if _, err := e.Delete(ctx, study, study+".1", ""); err != nil {
		t.Fatal(err)
	}
	for k := 3; k <= 4; k++ {
		delete(want, fmt.Sprintf("%s.1.%d", study, k))
	}
	for k := 1; k <= 3; k++ {
		put(mdInstance(study, 1, k, `,"00081030":{"vr":"LO","Value":["recreated `+noise(k, 40)+`"]}`))
	}
	t.Run("series recreated", check)
}

func confStudyMatching(t *testing.T, open Opener) {
	e := fixture(t, open)
	for _, c := range []struct {
		name    string
		filters []index.Filter
		fuzzy   bool
		want    []string // in result order
	}{
		{"no filter: newest first, no date last", nil, false, []string{f3, f2, f1, f5, f4}},
		{"PN exact, case and accents", []index.Filter{single(tPatientName, "PN", "muller^hans")}, false, []string{f2, f1}},
		{"PN exact, trailing ^ and spaces", []index.Filter{single(tPatientName, "PN", "MÜLLER^HANS^ ")}, false, []string{f2, f1}},
		{"PN exact is not prefix", []index.Filter{single(tPatientName, "PN", "Muller")}, false, nil},
		{"PN prefix wildcard", []index.Filter{wild(tPatientName, "PN", "mül*")}, false, []string{f2, f1}},
		{"PN inner wildcards", []index.Filter{wild(tPatientName, "PN", "*ller^h?ns")}, false, []string{f2, f1}},
		{"PN suffix wildcard", []index.Filter{wild(tPatientName, "PN", "*OHN")}, false, []string{f3}},
		{"PN ideographic exact", []index.Filter{single(tPatientName, "PN", "ドウ^ジョン")}, false, []string{f3}},
		{"PN ideographic prefix", []index.Filter{wild(tPatientName, "PN", "ドウ*")}, false, []string{f3}},
		{"PN with groups", []index.Filter{single(tPatientName, "PN", "doe^john=ドウ^ジョン")}, false, []string{f3}},
		{"PN universal star", []index.Filter{wild(tPatientName, "PN", "*")}, false, []string{f3, f2, f1, f5, f4}},
		{"PN list", []index.Filter{list(tPatientName, "PN", "smith^jane", "doe^john")}, false, []string{f3, f4}},
		{"fuzzy given name", []index.Filter{single(tPatientName, "PN", "hans")}, true, []string{f2, f1}},
		{"fuzzy prefixes any order", []index.Filter{single(tPatientName, "PN", "jo do")}, true, []string{f3}},
		{"fuzzy all components needed", []index.Filter{single(tPatientName, "PN", "jo smith")}, true, nil},
		{"fuzzy apostrophe", []index.Filter{single(tPatientName, "PN", "o'b")}, true, []string{f5}},
		{"fuzzy accents", []index.Filter{single(tPatientName, "PN", "MUL")}, true, []string{f2, f1}},
		{"not fuzzy without flag", []index.Filter{single(tPatientName, "PN", "hans")}, false, nil},
		{"PatientID exact case-sensitive", []index.Filter{single(tPatientID, "LO", "P1")}, false, []string{f2, f1}},
		{"PatientID padded", []index.Filter{single(tPatientID, "LO", " P1 ")}, false, []string{f2, f1}},
		{"PatientID list", []index.Filter{list(tPatientID, "LO", "P1", "P3")}, false, []string{f3, f2, f1}},
		{"PatientID and issuer", []index.Filter{single(tPatientID, "LO", "P1"), single(tIssuer, "LO", "A")}, false, []string{f1}},
		{"PatientID prefix", []index.Filter{wild(tPatientID, "LO", "P*")}, false, []string{f3, f2, f1, f4}},
		{"PatientID ?", []index.Filter{wild(tPatientID, "LO", "?1")}, false, []string{f2, f1, f5}},
		{"Accession exact", []index.Filter{single(tAccession, "SH", "ACC2")}, false, []string{f2}},
		{"Accession prefix", []index.Filter{wild(tAccession, "SH", "ACC*")}, false, []string{f2, f1, f5}},
		{"Accession missing never matches", []index.Filter{wild(tAccession, "SH", "*3")}, false, []string{f3}},
		{"Accession list", []index.Filter{list(tAccession, "SH", "ACC5", "X-3", "NONE")}, false, []string{f3, f5}},
		{"StudyDate single", []index.Filter{single(tStudyDate, "DA", "20240115")}, false, []string{f1}},
		{"StudyDate range", []index.Filter{rng(tStudyDate, "DA", "20240101", "20240131")}, false, []string{f2, f1}},
		{"StudyDate open low", []index.Filter{rng(tStudyDate, "DA", "", "20231231")}, false, []string{f5}},
		{"StudyDate open high", []index.Filter{rng(tStudyDate, "DA", "20240201", "")}, false, []string{f3}},
		{"StudyDate list", []index.Filter{list(tStudyDate, "DA", "20240201", "20231231")}, false, []string{f3, f5}},
		{"StudyTime range HHMM", []index.Filter{rng(tStudyTime, "TM", "0900", "1000")}, false, []string{f2}},
		{"StudyTime range HH inclusive high", []index.Filter{rng(tStudyTime, "TM", "", "10")}, false, []string{f2, f1}},
		{"StudyTime fraction", []index.Filter{rng(tStudyTime, "TM", "235959.4", "")}, false, []string{f3}},
		{"StudyTime single normalised", []index.Filter{single(tStudyTime, "TM", "093000")}, false, []string{f2}},
		{"Modality means ModalitiesInStudy", []index.Filter{single(tModality, "CS", "MR")}, false, []string{f2, f1}},
		{"Modality CT multi-valued", []index.Filter{single(tModality, "CS", "CT")}, false, []string{f1, f4}},
		{"Modality list", []index.Filter{list(tModality, "CS", "US", "CR")}, false, []string{f3, f5}},
		{"ModalitiesInStudy tag", []index.Filter{single(tModsInStudy, "CS", "CT")}, false, []string{f1, f4}},
		{"Modality wildcard", []index.Filter{wild(tModality, "CS", "?R")}, false, []string{f2, f1, f5}},
		{"SOPClassesInStudy", []index.Filter{single(tClassInStudy, "UI", CRImageStorage)}, false, []string{f3, f5, f4}},
		{"StudyInstanceUID list", []index.Filter{list(tStudyUID, "UI", f1, f3, "9.9")}, false, []string{f3, f1}},
		{"StudyInstanceUID single", []index.Filter{single(tStudyUID, "UI", f4)}, false, []string{f4}},
		{"non-PN case-sensitive wildcard", []index.Filter{wild(tStudyDesc, "LO", "*MRI")}, false, []string{f5}},
		{"non-PN case-sensitive no match", []index.Filter{wild(tStudyDesc, "LO", "*mri")}, false, nil},
		{"missing attribute never matches", []index.Filter{single(tSex, "CS", "M")}, false, []string{f3, f5}},
		{"series attribute at study level", []index.Filter{single(tSeriesDesc, "LO", "T1 axial")}, false, nil},
		{"computed count", []index.Filter{single(tNumInst, "IS", "3")}, false, []string{f1}},
		{"computed series count", []index.Filter{single(tNumSeries, "IS", "2")}, false, []string{f1}},
		{"combined index and filter", []index.Filter{wild(tPatientName, "PN", "mul*"), rng(tStudyDate, "DA", "20240120", "")}, false, []string{f2}},
		{"combined two indexes", []index.Filter{single(tPatientID, "LO", "P1"), single(tModality, "CS", "CT")}, false, []string{f1}},
		{"invalid range bound", []index.Filter{rng(tStudyDate, "DA", "2024", "")}, false, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := index.Query{Level: index.LevelStudy, Filters: c.filters, Fuzzy: c.fuzzy}
			if got := uids(search(t, e, q), index.LevelStudy); !slices.Equal(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

func confSeriesInstanceMatching(t *testing.T, open Opener) {
	e := fixture(t, open)
	for _, c := range []struct {
		name string
		q    index.Query
		want []string // series or SOP UIDs in order
	}{
		{"series of a study by number", index.Query{Level: index.LevelSeries, StudyUID: f1}, []string{f1 + ".1", f1 + ".2"}},
		{"series of unknown study", index.Query{Level: index.LevelSeries, StudyUID: "9.9"}, nil},
		{"all series", index.Query{Level: index.LevelSeries}, []string{f3 + ".1", f2 + ".1", f1 + ".1", f1 + ".2", f5 + ".1", f4 + ".1"}},
		{"series by modality", index.Query{Level: index.LevelSeries, Filters: []index.Filter{single(tModality, "CS", "MR")}},
			[]string{f2 + ".1", f1 + ".2"}},
		{"series by ModalitiesInStudy", index.Query{Level: index.LevelSeries, Filters: []index.Filter{single(tModsInStudy, "CS", "MR")}},
			[]string{f2 + ".1", f1 + ".1", f1 + ".2"}},
		{"series by study key", index.Query{Level: index.LevelSeries, Filters: []index.Filter{single(tPatientID, "LO", "P1")}},
			[]string{f2 + ".1", f1 + ".1", f1 + ".2"}},
		{"series by UID without study", index.Query{Level: index.LevelSeries, Filters: []index.Filter{list(tSeriesUID, "UI", f1+".2", f3+".1")}},
			[]string{f3 + ".1", f1 + ".2"}},
		{"series by UID in another study", index.Query{Level: index.LevelSeries, StudyUID: f2, Filters: []index.Filter{single(tSeriesUID, "UI", f1+".2")}},
			nil},
		{"series description wildcard", index.Query{Level: index.LevelSeries, Filters: []index.Filter{wild(tSeriesDesc, "LO", "T1*")}},
			[]string{f1 + ".2"}},
		{"series by number", index.Query{Level: index.LevelSeries, Filters: []index.Filter{single(tSeriesNumber, "IS", "2")}},
			[]string{f1 + ".2"}},
		{"series by NumberOfSeriesRelatedInstances", index.Query{Level: index.LevelSeries, Filters: []index.Filter{single(tNumSerInst, "IS", "2")}},
			[]string{f1 + ".1"}},
		{"series fuzzy name", index.Query{Level: index.LevelSeries, Fuzzy: true, Filters: []index.Filter{single(tPatientName, "PN", "liam")}},
			[]string{f5 + ".1"}},
		{"series limit offset", index.Query{Level: index.LevelSeries, Limit: 2, Offset: 2},
			[]string{f1 + ".1", f1 + ".2"}},
		{"instances of a series by number", index.Query{Level: index.LevelInstance, StudyUID: f1, SeriesUID: f1 + ".1"},
			[]string{f1 + ".1.0", f1 + ".1.1"}},
		{"instances of a series in the wrong study", index.Query{Level: index.LevelInstance, StudyUID: f2, SeriesUID: f1 + ".1"}, nil},
		{"instances of a study", index.Query{Level: index.LevelInstance, StudyUID: f1},
			[]string{f1 + ".1.0", f1 + ".1.1", f1 + ".2.1"}},
		{"all instances", index.Query{Level: index.LevelInstance},
			[]string{f3 + ".1.1", f2 + ".1.1", f1 + ".1.0", f1 + ".1.1", f1 + ".2.1", f5 + ".1.1", f4 + ".1.1"}},
		{"instances multi-valued ImageType", index.Query{Level: index.LevelInstance, Filters: []index.Filter{single(tImageType, "CS", "LOCALIZER")}},
			[]string{f1 + ".1.0"}},
		{"instances by SOP UID", index.Query{Level: index.LevelInstance, Filters: []index.Filter{list(tSOPUID, "UI", f1+".2.1", f4+".1.1", "9.9")}},
			[]string{f1 + ".2.1", f4 + ".1.1"}},
		{"instances by SOP UID in another study", index.Query{Level: index.LevelInstance, StudyUID: f2, Filters: []index.Filter{single(tSOPUID, "UI", f1+".2.1")}},
			nil},
		{"instances by number and series key", index.Query{Level: index.LevelInstance, Filters: []index.Filter{single(tInstNumber, "IS", "1"), single(tModality, "CS", "CT")}},
			[]string{f1 + ".1.0", f4 + ".1.1"}},
		{"instances by SOP class", index.Query{Level: index.LevelInstance, Filters: []index.Filter{single(tSOPClass, "UI", USImageStorage)}},
			[]string{f2 + ".1.1"}},
		{"instances DT range of a day", index.Query{Level: index.LevelInstance, Filters: []index.Filter{rng(tAcqDateTime, "DT", "20240115", "20240115")}},
			[]string{f1 + ".1.0", f1 + ".1.1"}},
		{"instances DT open high", index.Query{Level: index.LevelInstance, Filters: []index.Filter{rng(tAcqDateTime, "DT", "20240115101430", "")}},
			[]string{f2 + ".1.1", f1 + ".1.1"}},
		{"instances DT open low", index.Query{Level: index.LevelInstance, Filters: []index.Filter{rng(tAcqDateTime, "DT", "", "20240115101459")}},
			[]string{f3 + ".1.1", f1 + ".1.0"}},
		{"instances DT single", index.Query{Level: index.LevelInstance, Filters: []index.Filter{single(tAcqDateTime, "DT", "20240115101400")}},
			[]string{f1 + ".1.0"}},
		{"instances with limit and offset", index.Query{Level: index.LevelInstance, Limit: 2, Offset: 1},
			[]string{f2 + ".1.1", f1 + ".1.0"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rows := search(t, e, c.q)
			got := uids(rows, c.q.Level)
			if !slices.Equal(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
			for _, r := range rows {
				for l := index.LevelStudy; l <= index.LevelInstance; l++ {
					if has := r.UID(l) != ""; has != (l <= c.q.Level) {
						t.Errorf("result %s: level %d has attributes: %v", got, l, has)
					}
				}
			}
		})
	}
	rows := search(t, e, index.Query{Level: index.LevelSeries, StudyUID: f1})
	for i, want := range []string{`{"vr":"IS","Value":[2]}`, `{"vr":"IS","Value":[1]}`} {
		if a := find(rows[i][1], tNumSerInst); a == nil || string(a.JSON) != want || len(a.Values) != 1 || a.Values[0] != want[len(want)-3:len(want)-2] {
			t.Errorf("series %d NumberOfSeriesRelatedInstances = %+v, want %s", i, a, want)
		}
	}
}

func confLimitOffset(t *testing.T, open Opener) {
	e := fixture(t, open)
	all := []string{f3, f2, f1, f5, f4}
	for _, c := range []struct {
		limit, offset int
		want          []string
	}{
		{0, 0, all}, {2, 0, all[:2]}, {2, 2, all[2:4]}, {0, 3, all[3:]}, {10, 4, all[4:]}, {1, 5, nil}, {3, 99, nil},
	} {
		for _, f := range [][]index.Filter{nil, {wild(tPatientID, "LO", "?*")}, {wild(tPatientName, "PN", "*")}} {
			q := index.Query{Level: index.LevelStudy, Limit: c.limit, Offset: c.offset, Filters: f}
			if got := uids(search(t, e, q), index.LevelStudy); !slices.Equal(got, c.want) {
				t.Errorf("%s: got %v, want %v", FormatQuery(q), got, c.want)
			}
		}
	}
}

// confResultAttributes checks the study attributes of a result: stored
// ones as given plus the computed ones, in tag order.
func confResultAttributes(t *testing.T, open Opener) {
	e := fixture(t, open)
	rows := search(t, e, index.Query{Level: index.LevelStudy, StudyUID: f1})
	if len(rows) != 1 {
		t.Fatalf("%d results", len(rows))
	}
	specs := fixtureSpecs()
	computed := []index.Attr{
		Attr(tModsInStudy, "CS", "CT", "MR"),
		Attr(tClassInStudy, "UI", MRImageStorage),
		Attr(tNumSeries, "IS", "2"),
		Attr(tNumInst, "IS", "3"),
	}
	want := index.WithAttrs(Build(specs[0]).Study, computed...)
	if d := DiffAttrs(rows[0][0], want); d != "" {
		t.Errorf("study attributes: %s", d)
	}
	// Series and instance results: stored attributes plus
	// NumberOfSeriesRelatedInstances.
	rows = search(t, e, index.Query{Level: index.LevelInstance, StudyUID: f1, SeriesUID: f1 + ".2"})
	if len(rows) != 1 {
		t.Fatalf("%d results", len(rows))
	}
	in := Build(specs[2])
	if d := DiffAttrs(rows[0][1], index.WithAttrs(in.Series, Attr(tNumSerInst, "IS", "1"))); d != "" {
		t.Errorf("series attributes: %s", d)
	}
	if d := DiffAttrs(rows[0][2], in.Instance); d != "" {
		t.Errorf("instance attributes: %s", d)
	}
	if d := DiffAttrs(rows[0][0], want); d != "" {
		t.Errorf("study attributes of an instance result: %s", d)
	}
	for tag, js := range map[uint32]string{
		tPatientName: `{"vr":"PN","Value":[{"Alphabetic":"Müller^Hans"}]}`,
		tModsInStudy: `{"vr":"CS","Value":["CT","MR"]}`,
		tNumSeries:   `{"vr":"IS","Value":[2]}`,
		tNumInst:     `{"vr":"IS","Value":[3]}`,
	} {
		if a := find(rows[0][0], tag); a == nil || string(a.JSON) != js {
			t.Errorf("(%08X) = %+v, want JSON %s", tag, a, js)
		}
	}
	// A PN with groups keeps its groups in values and JSON.
	rows = search(t, e, index.Query{Level: index.LevelStudy, StudyUID: f3})
	if a := find(rows[0][0], tPatientName); a == nil || !slices.Equal(a.Values, []string{"Doe^John=ドウ^ジョン"}) ||
		string(a.JSON) != `{"vr":"PN","Value":[{"Alphabetic":"Doe^John","Ideographic":"ドウ^ジョン"}]}` {
		t.Errorf("PatientName with groups = %+v", a)
	}
}

// confUpperLevels: series and instance results carry the same upper-level
// attributes as the results of the levels above.
func confUpperLevels(t *testing.T, open Opener) {
	e := fixture(t, open)
	studies := map[string][]index.Attr{}
	for _, r := range search(t, e, index.Query{Level: index.LevelStudy}) {
		studies[r.UID(index.LevelStudy)] = r[0]
	}
	series := map[string][]index.Attr{}
	for _, r := range search(t, e, index.Query{Level: index.LevelSeries}) {
		series[r.UID(index.LevelSeries)] = r[1]
		if d := DiffAttrs(r[0], studies[r.UID(index.LevelStudy)]); d != "" {
			t.Errorf("series %s: study attributes: %s", r.UID(index.LevelSeries), d)
		}
	}
	rows := search(t, e, index.Query{Level: index.LevelInstance})
	if len(rows) != 7 {
		t.Errorf("%d instances, want 7", len(rows))
	}
	for _, r := range rows {
		if d := DiffAttrs(r[0], studies[r.UID(index.LevelStudy)]); d != "" {
			t.Errorf("instance %s: study attributes: %s", r.UID(index.LevelInstance), d)
		}
		if d := DiffAttrs(r[1], series[r.UID(index.LevelSeries)]); d != "" {
			t.Errorf("instance %s: series attributes: %s", r.UID(index.LevelInstance), d)
		}
	}
}

// confEncodedReuse: Encoded and Reuse searches give the same results as
// plain ones, and an encoded result's Reader agrees with Attrs.
func confEncodedReuse(t *testing.T, open Opener) {
	e := fixture(t, open)
	ctx := context.Background()
	for _, q := range []index.Query{
		{},
		{Filters: []index.Filter{wild(tPatientName, "PN", "MÜ*")}},
		{Filters: []index.Filter{rng(tStudyDate, "DA", "20240101", "20240131")}},
		{Level: index.LevelSeries},
		{Level: index.LevelInstance, Offset: 1, Limit: 3},
		{Level: index.LevelInstance, Filters: []index.Filter{single(tImageType, "CS", "LOCALIZER")}},
	} {
		plain := search(t, e, q)
		if len(plain) == 0 {
			t.Fatalf("%s finds nothing", FormatQuery(q))
		}
		for _, v := range []struct{ enc, reuse bool }{{true, false}, {false, true}, {true, true}} {
			q := q
			q.Encoded, q.Reuse = v.enc, v.reuse
			var got []Row
			err := e.Search(ctx, q, func(r *index.Result) error {
				if !v.enc && r.Encoded() {
					t.Errorf("%s: an encoded result", FormatQuery(q))
				}
				row := RowOf(r)
				// The Reader gives the same attributes as Attrs.
				for l := index.LevelStudy; l <= index.LevelInstance; l++ {
					rd := r.Reader(l)
					for i := 0; ; i++ {
						a, ok := rd.Next()
						if !ok {
							if i != len(row[l]) {
								t.Errorf("%s: Reader gives %d attributes at level %d, Attrs %d", FormatQuery(q), i, l, len(row[l]))
							}
							break
						}
						if i >= len(row[l]) || a.Tag != row[l][i].Tag || !bytes.Equal(a.JSON, row[l][i].JSON) {
							t.Errorf("%s: Reader attribute %d at level %d differs", FormatQuery(q), i, l)
							break
						}
					}
				}
				got = append(got, row)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(plain) {
				t.Errorf("%s: %d results, plain %d", FormatQuery(q), len(got), len(plain))
				continue
			}
			for i := range got {
				if d := DiffRows(got[i], plain[i]); d != "" {
					t.Errorf("%s: result %d: %s", FormatQuery(q), i, d)
				}
			}
		}
	}
}

func confSearchErrors(t *testing.T, open Opener) {
	e := fixture(t, open)
	ctx := context.Background()
	none := func(*index.Result) error { return nil }
	for _, q := range []index.Query{{Limit: -1}, {Offset: -1}, {Level: 3}, {Level: -1}} {
		if err := e.Search(ctx, q, none); err == nil {
			t.Errorf("%s accepted", FormatQuery(q))
		}
	}
	stop := errors.New("stop")
	for _, l := range []index.Level{index.LevelStudy, index.LevelSeries, index.LevelInstance} {
		calls := 0
		if err := e.Search(ctx, index.Query{Level: l}, func(*index.Result) error { calls++; return stop }); err != stop || calls != 1 {
			t.Errorf("level %d: callback error = %v after %d calls, want it as is after 1", l, err, calls)
		}
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := e.Search(canceled, index.Query{}, none); !errors.Is(err, context.Canceled) {
		t.Errorf("Search with a canceled context: %v", err)
	}
}

func confCountsAndDelete(t *testing.T, open Opener) {
	e := open(t, index.Options{})
	ctx := context.Background()
	const st = "1.2.3"
	var all []*index.Instance
	for s, mod := range []string{"CT", "MR", "CT"} {
		series := fmt.Sprintf("%s.%d", st, s+1)
		for n := 1; n <= 2; n++ {
			in := seriesInst(0, st, series, fmt.Sprint(s+1), mod, n)
			all = append(all, in)
			mustPut(t, e, in)
		}
	}
	other := Instance(7)
	mustPut(t, e, other)
	if s := stats(t, e); s != [3]int{2, 4, 7} {
		t.Errorf("Stats = %v, want [2 4 7]", s)
	}

	check := func(wantSeries, wantInst string, modalities ...string) {
		t.Helper()
		rows := search(t, e, index.Query{Level: index.LevelStudy, StudyUID: st})
		if len(rows) != 1 {
			t.Fatalf("study search: %d results", len(rows))
		}
		a := rows[0][0]
		for _, w := range []index.Attr{Attr(tNumSeries, "IS", wantSeries), Attr(tNumInst, "IS", wantInst), Attr(tModsInStudy, "CS", modalities...)} {
			if d := DiffAttrs([]index.Attr{*find(a, w.Tag)}, []index.Attr{w}); d != "" {
				t.Errorf("%s", d)
			}
		}
	}
	check("3", "6", "CT", "MR")

	keys, err := e.Delete(ctx, st, "", all[0].SOPInstanceUID)
	if err != nil || !slices.Equal(keys, []string{all[0].ObjectKey}) {
		t.Fatalf("Delete instance = %v, %v", keys, err)
	}
	check("3", "5", "CT", "MR")
	if ok, _ := e.HasObject(ctx, all[0].ObjectKey); ok {
		t.Error("deleted object still referenced")
	}
	if _, err := e.Lookup(ctx, all[0].SOPInstanceUID); !errors.Is(err, index.ErrNotFound) {
		t.Errorf("Lookup of a deleted instance: %v", err)
	}
	// Delete the MR series: ModalitiesInStudy loses MR.
	keys, err = e.Delete(ctx, st, st+".2", "")
	if err != nil || !slices.Equal(keys, []string{all[2].ObjectKey, all[3].ObjectKey}) {
		t.Fatalf("Delete series = %v, %v", keys, err)
	}
	check("2", "3", "CT")
	if got := search(t, e, index.Query{Level: index.LevelStudy, Filters: []index.Filter{single(tModality, "CS", "MR")}}); len(got) != 0 {
		t.Errorf("study still found by deleted modality")
	}
	if got := search(t, e, index.Query{Level: index.LevelSeries, StudyUID: st}); len(got) != 2 {
		t.Errorf("%d series after deleting one of 3", len(got))
	}
	// Deleting the last instance of series 1 removes the series.
	if _, err := e.Delete(ctx, st, st+".1", all[1].SOPInstanceUID); err != nil {
		t.Fatal(err)
	}
	check("1", "2", "CT")
	if _, err := e.Refs(ctx, st, st+".1"); !errors.Is(err, index.ErrNotFound) {
		t.Errorf("empty series still there: %v", err)
	}
	if s := stats(t, e); s != [3]int{2, 2, 3} {
		t.Errorf("Stats = %v, want [2 2 3]", s)
	}
	// The series UID is free again, for another study even.
	mustPut(t, e, seriesInst(9, "1.2.9", st+".1", "1", "CT", 1))
	if _, err := e.Delete(ctx, "1.2.9", "", ""); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct{ study, series, sop string }{
		{"9.9", "", ""}, {st, "9.9", ""}, {st, "", "9.9"}, {st, st + ".2", all[4].SOPInstanceUID}, {"", "", ""},
		{"", "", all[4].SOPInstanceUID}, {other.StudyUID, "", all[4].SOPInstanceUID}, {st, st + ".2", ""},
	} {
		if _, err := e.Delete(ctx, c.study, c.series, c.sop); !errors.Is(err, index.ErrNotFound) {
			t.Errorf("Delete(%q,%q,%q) err = %v, want ErrNotFound", c.study, c.series, c.sop, err)
		}
	}

	// Delete the whole study: everything but the other study is gone.
	keys, err = e.Delete(ctx, st, "", "")
	if err != nil || !slices.Equal(keys, []string{all[4].ObjectKey, all[5].ObjectKey}) {
		t.Fatalf("Delete study = %v, %v", keys, err)
	}
	if s := stats(t, e); s != [3]int{1, 1, 1} {
		t.Errorf("Stats = %v, want [1 1 1]", s)
	}
	if _, err := e.Refs(ctx, st, ""); !errors.Is(err, index.ErrNotFound) {
		t.Errorf("Refs of a deleted study: %v", err)
	}
	if rows := search(t, e, index.Query{Level: index.LevelStudy, StudyUID: st}); len(rows) != 0 {
		t.Errorf("deleted study still found")
	}
	// The other study's patient: deleting its only study leaves nothing
	// under its PatientID.
	if _, err := e.Delete(ctx, other.StudyUID, "", ""); err != nil {
		t.Fatal(err)
	}
	if s := stats(t, e); s != [3]int{} {
		t.Errorf("Stats = %v after deleting everything", s)
	}
	if rows := search(t, e, index.Query{Level: index.LevelStudy, Filters: []index.Filter{single(tPatientID, "LO", other.PatientID)}}); len(rows) != 0 {
		t.Errorf("deleted patient still found")
	}
	if changed, err := e.UpdatePatient(ctx, index.PatientUpdate{PatientID: other.PatientID, IssuerOfPatientID: other.IssuerOfPatientID,
		Attrs: []index.Attr{Attr(tPatientName, "PN", "New^Name")}}); err != nil || len(changed) != 0 {
		t.Errorf("UpdatePatient of a deleted patient: %v, %v", changed, err)
	}
	for name, walk := range map[string]func() (int, error){
		"ForEachObject": func() (int, error) {
			n := 0
			return n, e.ForEachObject(ctx, func(string) error { n++; return nil })
		},
		"ForEachInstance": func() (int, error) {
			n := 0
			return n, e.ForEachInstance(ctx, func(index.Ref) error { n++; return nil })
		},
	} {
		if n, err := walk(); n != 0 || err != nil {
			t.Errorf("%s after deleting everything: %d, %v", name, n, err)
		}
	}
	// The same UIDs can be stored again.
	for _, in := range all {
		mustPut(t, e, in)
	}
	if s := stats(t, e); s != [3]int{1, 3, 6} {
		t.Errorf("Stats after putting again = %v", s)
	}
	check("3", "6", "CT", "MR")
}

// confStatsReplace: a replacement keeps the counts; a replacement changing
// series attributes answers with the new ones.
func confStatsReplace(t *testing.T, open Opener) {
	e := open(t, index.Options{Replace: true})
	for i := 0; i < 3; i++ {
		mustPut(t, e, seriesInst(0, "1.7", "1.7.1", "1", "CT", i))
	}
	mustPut(t, e, Instance(1))
	if s := stats(t, e); s != [3]int{2, 2, 4} {
		t.Errorf("Stats = %v", s)
	}
	in := seriesInst(0, "1.7", "1.7.1", "1", "CT", 1)
	in2 := Instance(0, Study("1.7"), Series("1.7.1", "1", "CT"), SOP("1.7.1.1", "7"), Content("v2"))
	res := mustPut(t, e, in2)
	if res.ReplacedObjectKey != in.ObjectKey {
		t.Errorf("ReplacedObjectKey = %q, want %q", res.ReplacedObjectKey, in.ObjectKey)
	}
	if s := stats(t, e); s != [3]int{2, 2, 4} {
		t.Errorf("Stats after replace = %v", s)
	}
	got := uids(search(t, e, index.Query{Level: index.LevelInstance, StudyUID: "1.7"}), index.LevelInstance)
	if want := []string{"1.7.1.0", "1.7.1.2", "1.7.1.1"}; !slices.Equal(got, want) {
		t.Errorf("instances after replace = %v, want %v (new InstanceNumber 7)", got, want)
	}
	rows := search(t, e, index.Query{Level: index.LevelStudy, StudyUID: "1.7"})
	if len(rows) != 1 || value(rows[0][0], tNumInst) != "3" {
		t.Errorf("study after replace: %v", rows)
	}
}

func confUpdatePatient(t *testing.T, open Opener) {
	e := fixture(t, open)
	ctx := context.Background()
	name := Attr(tPatientName, "PN", "Meier^Hans")
	birth := Attr(tBirthDate, "DA", "19700101")
	if v, err := e.PatientVersion(ctx, f1); err != nil || !v.IsZero() {
		t.Errorf("PatientVersion before any update = %v, %v", v, err)
	}
	if a, err := e.PatientAttrs(ctx, f1); err != nil || a != nil {
		t.Errorf("PatientAttrs before any update = %v, %v", a, err)
	}
	before := time.Now()
	changed, err := e.UpdatePatient(ctx, index.PatientUpdate{PatientID: "P1", IssuerOfPatientID: "A", Attrs: []index.Attr{name, birth}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(changed, []string{f1}) {
		t.Fatalf("changed %v, want [%s]", changed, f1)
	}
	match := func(filters ...index.Filter) []string {
		return uids(search(t, e, index.Query{Level: index.LevelStudy, Filters: filters}), index.LevelStudy)
	}
	if got := match(wild(tPatientName, "PN", "meier*")); !slices.Equal(got, []string{f1}) {
		t.Errorf("new name finds %v", got)
	}
	if got := match(single(tPatientName, "PN", "MEIER^HANS")); !slices.Equal(got, []string{f1}) {
		t.Errorf("new name (exact) finds %v", got)
	}
	if got := uids(search(t, e, index.Query{Fuzzy: true, Filters: []index.Filter{single(tPatientName, "PN", "mei")}}), index.LevelStudy); !slices.Equal(got, []string{f1}) {
		t.Errorf("new name (fuzzy) finds %v", got)
	}
	if got := match(single(tBirthDate, "DA", "19700101")); !slices.Equal(got, []string{f1}) {
		t.Errorf("new birth date finds %v", got)
	}
	if got := match(single(tPatientName, "PN", "Müller^Hans")); !slices.Equal(got, []string{f2}) {
		t.Errorf("old name finds %v, want only the other issuer's %s", got, f2)
	}
	for _, l := range []index.Level{index.LevelStudy, index.LevelSeries, index.LevelInstance} {
		rows := search(t, e, index.Query{Level: l, StudyUID: f1})
		for _, r := range rows {
			if a := find(r[0], tPatientName); a == nil || string(a.JSON) != string(name.JSON) || value(r[0], tBirthDate) != "19700101" {
				t.Errorf("level %d answer's patient: %+v", l, a)
			}
		}
	}
	// Metadata gives the record's attributes in place of the object's;
	// other studies are as stored.
	n := 0
	err = e.Metadata(ctx, f1, "", "", func(js []byte) error {
		n++
		if !bytes.Contains(js, []byte(`"00100010":{"vr":"PN","Value":[{"Alphabetic":"Meier^Hans"}]}`)) || bytes.Contains(js, []byte(`Müller`)) ||
			!bytes.Contains(js, []byte(`"00100030":{"vr":"DA","Value":["19700101"]}`)) {
			t.Errorf("metadata after the update: %s", js)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(js, &m); err != nil {
			t.Errorf("metadata after the update is not JSON: %v", err)
		}
		return nil
	})
	if err != nil || n != 3 {
		t.Fatalf("metadata: %d, %v", n, err)
	}
	specs := fixtureSpecs()
	err = e.Metadata(ctx, f2, "", "", func(js []byte) error {
		if want := Build(specs[3]).Metadata; !bytes.Equal(js, want) {
			t.Errorf("another issuer's study metadata changed: %s", js)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := e.PatientVersion(ctx, f1); err != nil || v.IsZero() || v.Before(before.Add(-time.Minute)) {
		t.Errorf("PatientVersion after the update = %v, %v", v, err)
	}
	if v, err := e.PatientVersion(ctx, f2); err != nil || !v.IsZero() {
		t.Errorf("PatientVersion of an untouched study = %v, %v", v, err)
	}
	if v, err := e.PatientVersion(ctx, "9.9"); err != nil || !v.IsZero() {
		t.Errorf("PatientVersion of an unknown study = %v, %v", v, err)
	}
	wantPA := index.PatientGroup(index.WithAttrs(Build(specs[0]).Study, name, birth))
	if a, err := e.PatientAttrs(ctx, f1); err != nil || DiffAttrs(a, wantPA) != "" {
		t.Errorf("PatientAttrs = %v, %v: %s", a, err, DiffAttrs(a, wantPA))
	}
	if a, err := e.PatientAttrs(ctx, f2); err != nil || a != nil {
		t.Errorf("PatientAttrs of an untouched study = %v, %v", a, err)
	}

	// A merge into P9: the study moves, P1 of issuer B stays.
	idAttrs := []index.Attr{Attr(tPatientID, "LO", "P9"), Attr(tIssuer, "LO", "A")}
	changed, err = e.UpdatePatient(ctx, index.PatientUpdate{PatientID: "P1", IssuerOfPatientID: "A", NewPatientID: "P9", NewIssuer: "A", IDAttrs: idAttrs})
	if err != nil || !slices.Equal(changed, []string{f1}) {
		t.Fatalf("move: %v %v", changed, err)
	}
	if got := match(single(tPatientID, "LO", "P9")); !slices.Equal(got, []string{f1}) {
		t.Errorf("PatientID P9 finds %v", got)
	}
	if got := match(single(tPatientID, "LO", "P1")); !slices.Equal(got, []string{f2}) {
		t.Errorf("PatientID P1 finds %v, want only the other issuer's %s", got, f2)
	}
	if got := match(single(tPatientID, "LO", "P9"), single(tIssuer, "LO", "A")); !slices.Equal(got, []string{f1}) {
		t.Errorf("P9 of A finds %v", got)
	}
	if got := match(wild(tPatientName, "PN", "meier*")); !slices.Equal(got, []string{f1}) {
		t.Errorf("a move lost the demographics: %v", got)
	}
	err = e.Metadata(ctx, f1, "", f1+".2.1", func(js []byte) error {
		if !bytes.Contains(js, []byte(`"00100020":{"vr":"LO","Value":["P9"]}`)) {
			t.Errorf("metadata after the move: %s", js)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A merge into an existing patient: P3 of A joins P9.
	changed, err = e.UpdatePatient(ctx, index.PatientUpdate{PatientID: "P3", IssuerOfPatientID: "A", NewPatientID: "P9", NewIssuer: "A", IDAttrs: idAttrs})
	if err != nil || !slices.Equal(changed, []string{f3}) {
		t.Fatalf("merge: %v %v", changed, err)
	}
	if got := match(single(tPatientID, "LO", "P9")); !slices.Equal(got, []string{f3, f1}) {
		t.Errorf("PatientID P9 finds %v after the merge", got)
	}
	if got := match(single(tPatientID, "LO", "P3")); len(got) != 0 {
		t.Errorf("PatientID P3 finds %v after the merge", got)
	}
	// Both now update together.
	changed, err = e.UpdatePatient(ctx, index.PatientUpdate{PatientID: "P9", IssuerOfPatientID: "A", Attrs: []index.Attr{Attr(tPatientName, "PN", "Merged^One")}})
	slices.Sort(changed)
	if err != nil || !slices.Equal(changed, []string{f1, f3}) {
		t.Fatalf("update of the merged patient: %v %v", changed, err)
	}
	if got := match(single(tPatientName, "PN", "merged^one")); !slices.Equal(got, []string{f3, f1}) {
		t.Errorf("merged name finds %v", got)
	}
	if s := stats(t, e); s != [3]int{5, 6, 7} {
		t.Errorf("Stats after updates = %v", s)
	}

	for _, u := range []index.PatientUpdate{
		{PatientID: "P9", IssuerOfPatientID: "A", Attrs: []index.Attr{Attr(tAccession, "SH", "X")}},
		{PatientID: "P9", IssuerOfPatientID: "A", NewPatientID: "P10"},
	} {
		if _, err := e.UpdatePatient(ctx, u); !errors.Is(err, index.ErrInvalid) {
			t.Errorf("UpdatePatient(%+v) = %v, want ErrInvalid", u, err)
		}
	}
	// Nothing under that identifier: no study changed, no error.
	if changed, err := e.UpdatePatient(ctx, index.PatientUpdate{PatientID: "NOPE", Attrs: []index.Attr{name}}); err != nil || len(changed) != 0 {
		t.Errorf("unknown patient: %v %v", changed, err)
	}
	// Deleting an updated study forgets its patient record.
	if _, err := e.Delete(ctx, f3, "", ""); err != nil {
		t.Fatal(err)
	}
	if a, err := e.PatientAttrs(ctx, f3); err != nil || a != nil {
		t.Errorf("PatientAttrs of a deleted study = %v, %v", a, err)
	}
}

// confUpdatePatientRemove: Remove drops attributes from the answers and
// from the metadata overlay's attributes.
func confUpdatePatientRemove(t *testing.T, open Opener) {
	e := fixture(t, open)
	ctx := context.Background()
	changed, err := e.UpdatePatient(ctx, index.PatientUpdate{PatientID: "P3", IssuerOfPatientID: "A",
		Attrs: []index.Attr{Attr(tSex, "CS", "F")}, Remove: []uint32{tBirthDate}})
	if err != nil || !slices.Equal(changed, []string{f3}) {
		t.Fatalf("UpdatePatient: %v, %v", changed, err)
	}
	rows := search(t, e, index.Query{Level: index.LevelStudy, StudyUID: f3})
	if len(rows) != 1 || find(rows[0][0], tBirthDate) != nil || value(rows[0][0], tSex) != "F" {
		t.Errorf("study after Remove: %v", rows)
	}
	if got := uids(search(t, e, index.Query{Filters: []index.Filter{single(tSex, "CS", "F")}}), index.LevelStudy); !slices.Contains(got, f3) {
		t.Errorf("new sex does not find %s: %v", f3, got)
	}
	old := Build(fixtureSpecs()[4]).Study
	if got := uids(search(t, e, index.Query{Filters: []index.Filter{single(tBirthDate, "DA", value(old, tBirthDate))}}), index.LevelStudy); slices.Contains(got, f3) {
		t.Errorf("removed birth date still matches: %v", got)
	}
	a, err := e.PatientAttrs(ctx, f3)
	if err != nil || find(a, tBirthDate) != nil || value(a, tSex) != "F" || value(a, tPatientID) != "P3" {
		t.Errorf("PatientAttrs = %v, %v", a, err)
	}
	err = e.Metadata(ctx, f3, "", "", func(js []byte) error {
		if !bytes.Contains(js, []byte(`"00100040":{"vr":"CS","Value":["F"]}`)) {
			t.Errorf("metadata after the update: %s", js)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// confPatientFromRecord: an instance whose patient attributes come from a
// record gives them in its metadata in place of its object's.
func confPatientFromRecord(t *testing.T, open Opener) {
	e := open(t, index.Options{})
	ctx := context.Background()
	in := Instance(1)
	in.PatientFromRecord = true
	rec := Attr(tPatientName, "PN", "Record^Name")
	in.Study = index.WithAttrs(in.Study, rec)
	mustPut(t, e, in)
	plain := Instance(2)
	mustPut(t, e, plain)
	err := e.Metadata(ctx, in.StudyUID, "", "", func(js []byte) error {
		want := bytes.Replace(in.Metadata, []byte(`{"vr":"PN","Value":[{"Alphabetic":"`+PatientName(0)+`"}]}`), rec.JSON, 1)
		if !bytes.Equal(js, want) {
			t.Errorf("metadata = %s\nwant %s", js, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := e.PatientVersion(ctx, in.StudyUID); err != nil || v.IsZero() {
		t.Errorf("PatientVersion = %v, %v", v, err)
	}
	if a, err := e.PatientAttrs(ctx, in.StudyUID); err != nil || DiffAttrs(a, index.PatientGroup(in.Study)) != "" {
		t.Errorf("PatientAttrs = %v, %v", a, err)
	}
	if v, err := e.PatientVersion(ctx, plain.StudyUID); err != nil || !v.IsZero() {
		t.Errorf("PatientVersion of a plain study = %v, %v", v, err)
	}
	if got := uids(search(t, e, index.Query{Filters: []index.Filter{single(tPatientName, "PN", "record^name")}}), index.LevelStudy); !slices.Equal(got, []string{in.StudyUID}) {
		t.Errorf("record name finds %v", got)
	}
}

// confRecords: records are written atomically, read back, listed by
// prefix in key order, deleted, refused for an unknown kind or a bad key,
// and carried into another engine by CopyRecords.
func confRecords(t *testing.T, open Opener) {
	ctx := context.Background()
	e := open(t, index.Options{})
	err := e.PutRecords(ctx,
		index.Record{Kind: index.RecordOrder, Key: "B1\x00S1", Value: []byte(`{"b":1}`)},
		index.Record{Kind: index.RecordOrder, Key: "A1\x00S2", Value: []byte(`{"a":2}`)},
		index.Record{Kind: index.RecordOrder, Key: "A1\x00S1", Value: []byte(`{"a":1}`)},
		index.Record{Kind: index.RecordOrder, Key: "A1", Value: []byte(`{"a":0}`)},
		index.Record{Kind: index.RecordOrder, Key: "A10", Value: []byte{}},
		index.Record{Kind: index.RecordJournal, Key: "RIS^H\x001", Value: []byte("MSH|ack")},
		index.Record{Kind: index.RecordPatient, Key: "P1\x00A", Value: []byte("\x00\xff binary")},
		index.Record{Kind: index.RecordShare, Key: "s", Value: []byte("old")},
		index.Record{Kind: index.RecordShare, Key: "s", Value: []byte("new")}, // last write wins
	)
	if err != nil {
		t.Fatal(err)
	}
	// A failing write changes nothing.
	for _, bad := range []index.Record{{Kind: "nope", Key: "k"}, {Kind: index.RecordOrder, Key: ""},
		{Kind: index.RecordOrder, Key: strings.Repeat("k", index.MaxRecordKey+1)}} {
		if err := e.PutRecords(ctx, index.Record{Kind: index.RecordOrder, Key: "C1", Value: []byte("x")}, bad); err == nil {
			t.Errorf("record %.20q of kind %q accepted", bad.Key, bad.Kind)
		}
		if _, err := e.GetRecord(ctx, index.RecordOrder, "C1"); !errors.Is(err, index.ErrNotFound) {
			t.Fatalf("half a failed write is visible: %v", err)
		}
	}
	if err := e.PutRecords(ctx, index.Record{Kind: index.RecordReport, Key: strings.Repeat("k", index.MaxRecordKey), Value: []byte("max")}); err != nil {
		t.Errorf("key of MaxRecordKey bytes: %v", err)
	}
	type kv struct{ k, v string }
	scan := func(kind index.RecordKind, prefix string) []kv {
		t.Helper()
		var out []kv
		if err := e.ForEachRecord(ctx, kind, prefix, func(k string, v []byte) error { out = append(out, kv{k, string(v)}); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got, want := scan(index.RecordOrder, "A1\x00"), []kv{{"A1\x00S1", `{"a":1}`}, {"A1\x00S2", `{"a":2}`}}; !slices.Equal(got, want) {
		t.Errorf("prefix scan: %q, want %q", got, want)
	}
	if got, want := scan(index.RecordOrder, ""), []kv{{"A1", `{"a":0}`}, {"A1\x00S1", `{"a":1}`}, {"A1\x00S2", `{"a":2}`}, {"A10", ""}, {"B1\x00S1", `{"b":1}`}}; !slices.Equal(got, want) {
		t.Errorf("full scan: %q, want %q", got, want)
	}
	if got := scan(index.RecordOrder, "Z"); len(got) != 0 {
		t.Errorf("scan of a missing prefix: %q", got)
	}
	if got := scan(index.RecordShare, ""); !slices.Equal(got, []kv{{"s", "new"}}) {
		t.Errorf("share records: %q", got)
	}
	if v, err := e.GetRecord(ctx, index.RecordPatient, "P1\x00A"); err != nil || string(v) != "\x00\xff binary" {
		t.Errorf("GetRecord = %q, %v", v, err)
	}
	if v, err := e.GetRecord(ctx, index.RecordOrder, "A10"); err != nil || len(v) != 0 {
		t.Errorf("GetRecord of an empty value = %q, %v", v, err)
	}
	if _, err := e.GetRecord(ctx, index.RecordJournal, "A1"); !errors.Is(err, index.ErrNotFound) {
		t.Errorf("GetRecord of another kind's key: %v", err)
	}
	if _, err := e.GetRecord(ctx, "nope", "A1"); err == nil {
		t.Error("GetRecord of an unknown kind succeeded")
	}
	if err := e.ForEachRecord(ctx, "nope", "", func(string, []byte) error { return nil }); err == nil {
		t.Error("ForEachRecord of an unknown kind succeeded")
	}
	stop := errors.New("stop")
	if err := e.ForEachRecord(ctx, index.RecordOrder, "", func(string, []byte) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("ForEachRecord callback error = %v, want it", err)
	}
	if err := e.PutRecords(ctx, index.Record{Kind: index.RecordOrder, Key: "A1\x00S2", Delete: true},
		index.Record{Kind: index.RecordOrder, Key: "never", Delete: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.GetRecord(ctx, index.RecordOrder, "A1\x00S2"); !errors.Is(err, index.ErrNotFound) {
		t.Fatalf("deleted record: %v", err)
	}
	// Records are not instances.
	if s := stats(t, e); s != [3]int{} {
		t.Errorf("Stats with records only = %v", s)
	}

	other := open(t, index.Options{})
	if err := other.PutRecords(ctx, index.Record{Kind: index.RecordOrder, Key: "A1", Value: []byte("overwritten")},
		index.Record{Kind: index.RecordOrder, Key: "kept", Value: []byte("k")}); err != nil {
		t.Fatal(err)
	}
	n, err := other.CopyRecords(ctx, e)
	if err != nil || n != 8 {
		t.Fatalf("CopyRecords: %d, %v; want 8", n, err)
	}
	for _, k := range index.RecordKinds() {
		var a, b []kv
		_ = e.ForEachRecord(ctx, k, "", func(key string, v []byte) error { a = append(a, kv{key, string(v)}); return nil })
		_ = other.ForEachRecord(ctx, k, "", func(key string, v []byte) error {
			if key != "kept" {
				b = append(b, kv{key, string(v)})
			}
			return nil
		})
		if !slices.Equal(a, b) {
			t.Errorf("records of kind %s after CopyRecords: %q, want %q", k, b, a)
		}
	}
	if v, err := other.GetRecord(ctx, index.RecordOrder, "kept"); err != nil || string(v) != "k" {
		t.Errorf("CopyRecords dropped a record of the target: %q %v", v, err)
	}
}

// confObjects: HasObject, ForEachObject (key order) and ForEachInstance
// (SOP Instance UID order, no Layout).
func confObjects(t *testing.T, open Opener) {
	e := open(t, index.Options{})
	ctx := context.Background()
	const n = 150
	var keys []string
	refs := map[string]*index.Instance{}
	var sops []string
	insts := make([]*index.Instance, n)
	for i := range insts {
		insts[i] = Instance(i)
		if i%5 == 0 {
			insts[i].ObjectKey = fmt.Sprintf("dicom/%03d", n-i) // keys not in SOP order
		}
		keys = append(keys, insts[i].ObjectKey)
		refs[insts[i].SOPInstanceUID] = insts[i]
		sops = append(sops, insts[i].SOPInstanceUID)
	}
	for i := 0; i < n; i += 50 {
		_, errs := e.PutMany(ctx, insts[i:i+50])
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	slices.Sort(keys)
	slices.Sort(sops)
	var got []string
	if err := e.ForEachObject(ctx, func(k string) error { got = append(got, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, keys) {
		t.Errorf("ForEachObject: %d keys, want %d in order", len(got), len(keys))
	}
	got = nil
	err := e.ForEachInstance(ctx, func(r index.Ref) error {
		got = append(got, r.SOPInstanceUID)
		in := refs[r.SOPInstanceUID]
		if in == nil || r.StudyUID != in.StudyUID || r.SeriesUID != in.SeriesUID || r.SOPClassUID != in.SOPClassUID ||
			r.TransferSyntaxUID != in.TransferSyntaxUID || r.ObjectKey != in.ObjectKey || r.SHA256 != in.SHA256 ||
			r.Size != in.Size || r.Layout != nil {
			t.Errorf("ForEachInstance ref %+v", r)
		}
		return nil
	})
	if err != nil || !slices.Equal(got, sops) {
		t.Errorf("ForEachInstance: %d refs, %v; want %d in SOP order", len(got), err, len(sops))
	}
	stop := errors.New("stop")
	if err := e.ForEachObject(ctx, func(string) error { return stop }); err != stop {
		t.Errorf("ForEachObject callback error = %v", err)
	}
	if err := e.ForEachInstance(ctx, func(index.Ref) error { return stop }); err != stop {
		t.Errorf("ForEachInstance callback error = %v", err)
	}
	for _, k := range []string{keys[0], keys[n-1], "dicom/005"} {
		if ok, err := e.HasObject(ctx, k); err != nil || !ok {
			t.Errorf("HasObject(%q) = %v, %v", k, ok, err)
		}
	}
	for _, k := range []string{"", "obj/none", "dicom/", "dicom/0050"} {
		if ok, err := e.HasObject(ctx, k); err != nil || ok {
			t.Errorf("HasObject(%q) = %v, %v", k, ok, err)
		}
	}
}

// confClosed: every call after Close fails with ErrClosed; Close again is
// harmless.
func confClosed(t *testing.T, open Opener) {
	e := open(t, index.Options{})
	ctx := context.Background()
	in := Instance(4)
	mustPut(t, e, in)
	if err := e.PutRecords(ctx, index.Record{Kind: index.RecordOrder, Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	other := open(t, index.Options{})
	none := func(*index.Result) error { return nil }
	for name, call := range map[string]func() error{
		"Ping":    func() error { return e.Ping(ctx) },
		"Put":     func() error { _, err := e.Put(ctx, in); return err },
		"PutMany": func() error { _, errs := e.PutMany(ctx, []*index.Instance{Instance(5)}); return errs[0] },
		"Delete":  func() error { _, err := e.Delete(ctx, in.StudyUID, "", ""); return err },
		"Lookup":  func() error { _, err := e.Lookup(ctx, in.SOPInstanceUID); return err },
		"Instance": func() error {
			_, err := e.Instance(ctx, in.StudyUID, "", in.SOPInstanceUID)
			return err
		},
		"Refs":            func() error { _, err := e.Refs(ctx, in.StudyUID, ""); return err },
		"Metadata":        func() error { return e.Metadata(ctx, in.StudyUID, "", "", func([]byte) error { return nil }) },
		"Search":          func() error { return e.Search(ctx, index.Query{}, none) },
		"SearchInstances": func() error { return e.Search(ctx, index.Query{Level: index.LevelInstance}, none) },
		"Stats":           func() error { _, _, _, err := e.Stats(ctx); return err },
		"HasObject":       func() error { _, err := e.HasObject(ctx, in.ObjectKey); return err },
		"ForEachObject":   func() error { return e.ForEachObject(ctx, func(string) error { return nil }) },
		"ForEachInstance": func() error { return e.ForEachInstance(ctx, func(index.Ref) error { return nil }) },
		"UpdatePatient": func() error {
			_, err := e.UpdatePatient(ctx, index.PatientUpdate{PatientID: in.PatientID, IssuerOfPatientID: in.IssuerOfPatientID,
				Attrs: []index.Attr{Attr(tPatientName, "PN", "X")}})
			return err
		},
		"PatientAttrs":   func() error { _, err := e.PatientAttrs(ctx, in.StudyUID); return err },
		"PatientVersion": func() error { _, err := e.PatientVersion(ctx, in.StudyUID); return err },
		"PutRecords": func() error {
			return e.PutRecords(ctx, index.Record{Kind: index.RecordOrder, Key: "k2", Value: []byte("v")})
		},
		"GetRecord": func() error { _, err := e.GetRecord(ctx, index.RecordOrder, "k"); return err },
		"ForEachRecord": func() error {
			return e.ForEachRecord(ctx, index.RecordOrder, "", func(string, []byte) error { return nil })
		},
		"CopyRecords": func() error { _, err := e.CopyRecords(ctx, other); return err },
		"CopyRecordsFrom": func() error {
			_, err := other.CopyRecords(ctx, e)
			return err
		},
	} {
		if err := call(); !errors.Is(err, index.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}
