package index_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/index/indextest"
)

// The matching fixture: five studies. s1 has a CT series (two instances)
// and an MR series (one instance); the others one series, one instance.
const (
	s1 = "1.1"
	s2 = "1.2"
	s3 = "1.3"
	s4 = "1.4"
	s5 = "1.5"
)

func fixture(t testing.TB) *index.Index {
	t.Helper()
	ix, _ := openTest(t, index.Options{})
	for _, s := range fixtureSpecs() {
		mustPut(t, ix, indextest.Build(s))
	}
	return ix
}

// fixtureSpecs are the instances of the fixture (testdata/schema2.db.gz
// holds them too, written by schema 2).
func fixtureSpecs() []indextest.Spec {
	spec := func(i int, study, pid, issuer, name, date, tm, acc, mod string) indextest.Spec {
		s := indextest.DefaultSpec(i)
		s.StudyUID, s.SeriesUID, s.SOPInstanceUID = study, study+".1", study+".1.1"
		s.PatientID, s.IssuerOfPatientID, s.PatientName = pid, issuer, name
		s.StudyDate, s.StudyTime, s.AccessionNumber, s.Modality = date, tm, acc, mod
		return s
	}
	var specs []indextest.Spec
	a := spec(1, s1, "P1", "A", "Müller^Hans", "20240115", "101500", "ACC1", "CT")
	a.InstanceNumber = "2"
	specs = append(specs, a)
	b := a
	b.SOPInstanceUID, b.InstanceNumber, b.ImageType = s1+".1.0", "1", []string{"DERIVED", "SECONDARY", "LOCALIZER"}
	specs = append(specs, b)
	c := a
	c.SeriesUID, c.SOPInstanceUID, c.SeriesNumber, c.Modality, c.SeriesDescription = s1+".2", s1+".2.1", "2", "MR", "T1 axial"
	specs = append(specs, c)
	specs = append(specs,
		spec(2, s2, "P1", "B", "muller^hans^^ ", "20240131", "0930", "ACC2", "MR"),
		spec(3, s3, "P3", "A", "Doe^John=ドウ^ジョン", "20240201", "235959.5", "X-3", "US"),
		spec(4, s4, "P4", "A", "Smith^Jane", "", "", "", "CT"),
		spec(5, s5, "p1", "A", "O'Brien^Liam", "20231231", "", "ACC5", "CR"),
	)
	specs[len(specs)-1].StudyDescription = "Brain MRI"
	specs[len(specs)-2].PatientSex = ""
	return specs
}

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

const (
	tPatientName = 0x00100010
	tPatientID   = 0x00100020
	tIssuer      = 0x00100021
	tSex         = 0x00100040
	tStudyDate   = 0x00080020
	tStudyTime   = 0x00080030
	tAccession   = 0x00080050
	tModality    = 0x00080060
	tModsInStudy = 0x00080061
	tStudyDesc   = 0x00081030
	tSeriesDesc  = 0x0008103E
	tStudyUID    = 0x0020000D
	tSeriesUID   = 0x0020000E
	tSOPUID      = 0x00080018
	tImageType   = 0x00080008
	tNumInst     = 0x00201208
	tInstNumber  = 0x00200013
)

func TestStudyMatching(t *testing.T) {
	ix := fixture(t)
	for _, c := range []struct {
		name    string
		filters []index.Filter
		fuzzy   bool
		want    []string // in result order
	}{
		{"no filter: newest first, no date last", nil, false, []string{s3, s2, s1, s5, s4}},
		{"PN exact, case and accents", []index.Filter{single(tPatientName, "PN", "muller^hans")}, false, []string{s2, s1}},
		{"PN exact, trailing ^ and spaces", []index.Filter{single(tPatientName, "PN", "MÜLLER^HANS^ ")}, false, []string{s2, s1}},
		{"PN exact is not prefix", []index.Filter{single(tPatientName, "PN", "Muller")}, false, nil},
		{"PN prefix wildcard", []index.Filter{wild(tPatientName, "PN", "mül*")}, false, []string{s2, s1}},
		{"PN inner wildcards", []index.Filter{wild(tPatientName, "PN", "*ller^h?ns")}, false, []string{s2, s1}},
		{"PN suffix wildcard", []index.Filter{wild(tPatientName, "PN", "*OHN")}, false, []string{s3}},
		{"PN ideographic exact", []index.Filter{single(tPatientName, "PN", "ドウ^ジョン")}, false, []string{s3}},
		{"PN ideographic prefix", []index.Filter{wild(tPatientName, "PN", "ドウ*")}, false, []string{s3}},
		{"PN with groups", []index.Filter{single(tPatientName, "PN", "doe^john=ドウ^ジョン")}, false, []string{s3}},
		{"PN universal star", []index.Filter{wild(tPatientName, "PN", "*")}, false, []string{s3, s2, s1, s5, s4}},
		{"PN list", []index.Filter{list(tPatientName, "PN", "smith^jane", "doe^john")}, false, []string{s3, s4}},
		{"fuzzy given name", []index.Filter{single(tPatientName, "PN", "hans")}, true, []string{s2, s1}},
		{"fuzzy prefixes any order", []index.Filter{single(tPatientName, "PN", "jo do")}, true, []string{s3}},
		{"fuzzy all components needed", []index.Filter{single(tPatientName, "PN", "jo smith")}, true, nil},
		{"fuzzy apostrophe", []index.Filter{single(tPatientName, "PN", "o'b")}, true, []string{s5}},
		{"not fuzzy without flag", []index.Filter{single(tPatientName, "PN", "hans")}, false, nil},
		{"PatientID exact case-sensitive", []index.Filter{single(tPatientID, "LO", "P1")}, false, []string{s2, s1}},
		{"PatientID padded", []index.Filter{single(tPatientID, "LO", " P1 ")}, false, []string{s2, s1}},
		{"PatientID list", []index.Filter{list(tPatientID, "LO", "P1", "P3")}, false, []string{s3, s2, s1}},
		{"PatientID and issuer", []index.Filter{single(tPatientID, "LO", "P1"), single(tIssuer, "LO", "A")}, false, []string{s1}},
		{"PatientID prefix", []index.Filter{wild(tPatientID, "LO", "P*")}, false, []string{s3, s2, s1, s4}},
		{"PatientID ?", []index.Filter{wild(tPatientID, "LO", "?1")}, false, []string{s2, s1, s5}},
		{"Accession exact", []index.Filter{single(tAccession, "SH", "ACC2")}, false, []string{s2}},
		{"Accession prefix", []index.Filter{wild(tAccession, "SH", "ACC*")}, false, []string{s2, s1, s5}},
		{"Accession missing never matches", []index.Filter{wild(tAccession, "SH", "*3")}, false, []string{s3}},
		{"StudyDate single", []index.Filter{single(tStudyDate, "DA", "20240115")}, false, []string{s1}},
		{"StudyDate range", []index.Filter{rng(tStudyDate, "DA", "20240101", "20240131")}, false, []string{s2, s1}},
		{"StudyDate open low", []index.Filter{rng(tStudyDate, "DA", "", "20231231")}, false, []string{s5}},
		{"StudyDate open high", []index.Filter{rng(tStudyDate, "DA", "20240201", "")}, false, []string{s3}},
		{"StudyDate list", []index.Filter{list(tStudyDate, "DA", "20240201", "20231231")}, false, []string{s3, s5}},
		{"StudyTime range HHMM", []index.Filter{rng(tStudyTime, "TM", "0900", "1000")}, false, []string{s2}},
		{"StudyTime range HH inclusive high", []index.Filter{rng(tStudyTime, "TM", "", "10")}, false, []string{s2, s1}},
		{"StudyTime fraction", []index.Filter{rng(tStudyTime, "TM", "235959.4", "")}, false, []string{s3}},
		{"StudyTime single normalised", []index.Filter{single(tStudyTime, "TM", "093000")}, false, []string{s2}},
		{"Modality means ModalitiesInStudy", []index.Filter{single(tModality, "CS", "MR")}, false, []string{s2, s1}},
		{"Modality CT multi-valued", []index.Filter{single(tModality, "CS", "CT")}, false, []string{s1, s4}},
		{"Modality list", []index.Filter{list(tModality, "CS", "US", "CR")}, false, []string{s3, s5}},
		{"ModalitiesInStudy tag", []index.Filter{single(tModsInStudy, "CS", "CT")}, false, []string{s1, s4}},
		{"Modality wildcard", []index.Filter{wild(tModality, "CS", "?R")}, false, []string{s2, s1, s5}},
		{"StudyInstanceUID list", []index.Filter{list(tStudyUID, "UI", s1, s3, "9.9")}, false, []string{s3, s1}},
		{"StudyInstanceUID single", []index.Filter{single(tStudyUID, "UI", s4)}, false, []string{s4}},
		{"non-PN case-sensitive wildcard", []index.Filter{wild(tStudyDesc, "LO", "*MRI")}, false, []string{s5}},
		{"non-PN case-sensitive no match", []index.Filter{wild(tStudyDesc, "LO", "*mri")}, false, nil},
		{"missing attribute never matches", []index.Filter{single(tSex, "CS", "M")}, false, []string{s3, s5}},
		{"series attribute at study level", []index.Filter{single(tSeriesDesc, "LO", "T1 axial")}, false, nil},
		{"computed count", []index.Filter{single(tNumInst, "IS", "3")}, false, []string{s1}},
		{"combined index and filter", []index.Filter{wild(tPatientName, "PN", "mul*"), rng(tStudyDate, "DA", "20240120", "")}, false, []string{s2}},
		{"combined two indexes", []index.Filter{single(tPatientID, "LO", "P1"), single(tModality, "CS", "CT")}, false, []string{s1}},
		{"invalid range bound", []index.Filter{rng(tStudyDate, "DA", "2024", "")}, false, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := studyUIDs(search(t, ix, index.Query{Level: index.LevelStudy, Filters: c.filters, Fuzzy: c.fuzzy}))
			if !slices.Equal(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestSeriesAndInstanceMatching(t *testing.T) {
	ix := fixture(t)
	for _, c := range []struct {
		name string
		q    index.Query
		want []string // series or SOP UIDs in order
	}{
		{"series of a study by number", index.Query{Level: index.LevelSeries, StudyUID: s1}, []string{s1 + ".1", s1 + ".2"}},
		{"series of unknown study", index.Query{Level: index.LevelSeries, StudyUID: "9.9"}, nil},
		{"all series", index.Query{Level: index.LevelSeries}, []string{s3 + ".1", s2 + ".1", s1 + ".1", s1 + ".2", s5 + ".1", s4 + ".1"}},
		{"series by modality", index.Query{Level: index.LevelSeries, Filters: []index.Filter{single(tModality, "CS", "MR")}},
			[]string{s2 + ".1", s1 + ".2"}},
		{"series by ModalitiesInStudy", index.Query{Level: index.LevelSeries, Filters: []index.Filter{single(tModsInStudy, "CS", "MR")}},
			[]string{s2 + ".1", s1 + ".1", s1 + ".2"}},
		{"series by study key", index.Query{Level: index.LevelSeries, Filters: []index.Filter{single(tPatientID, "LO", "P1")}},
			[]string{s2 + ".1", s1 + ".1", s1 + ".2"}},
		{"series by UID without study", index.Query{Level: index.LevelSeries, Filters: []index.Filter{list(tSeriesUID, "UI", s1+".2", s3+".1")}},
			[]string{s3 + ".1", s1 + ".2"}},
		{"series description wildcard", index.Query{Level: index.LevelSeries, Filters: []index.Filter{wild(tSeriesDesc, "LO", "T1*")}},
			[]string{s1 + ".2"}},
		{"instances of a series by number", index.Query{Level: index.LevelInstance, StudyUID: s1, SeriesUID: s1 + ".1"},
			[]string{s1 + ".1.0", s1 + ".1.1"}},
		{"instances of a study", index.Query{Level: index.LevelInstance, StudyUID: s1},
			[]string{s1 + ".1.0", s1 + ".1.1", s1 + ".2.1"}},
		{"instances multi-valued ImageType", index.Query{Level: index.LevelInstance, Filters: []index.Filter{single(tImageType, "CS", "LOCALIZER")}},
			[]string{s1 + ".1.0"}},
		{"instances by SOP UID", index.Query{Level: index.LevelInstance, Filters: []index.Filter{list(tSOPUID, "UI", s1+".2.1", s4+".1.1", "9.9")}},
			[]string{s1 + ".2.1", s4 + ".1.1"}},
		{"instances by SOP UID in another study", index.Query{Level: index.LevelInstance, StudyUID: s2, Filters: []index.Filter{single(tSOPUID, "UI", s1+".2.1")}},
			nil},
		{"instances by number and series key", index.Query{Level: index.LevelInstance, Filters: []index.Filter{single(tInstNumber, "IS", "1"), single(tModality, "CS", "CT")}},
			[]string{s1 + ".1.0", s4 + ".1.1"}},
		{"instances with limit and offset", index.Query{Level: index.LevelInstance, Limit: 2, Offset: 1},
			[]string{s2 + ".1.1", s1 + ".1.0"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rs := search(t, ix, c.q)
			var got []string
			for _, r := range rs {
				if c.q.Level == index.LevelSeries {
					got = append(got, attrValue(r.Series, tSeriesUID))
				} else {
					got = append(got, attrValue(r.Instance, tSOPUID))
					if r.Series == nil || r.Study == nil {
						t.Errorf("instance result without upper levels")
					}
				}
				if r.Study == nil || attrValue(r.Study, tStudyUID) == "" {
					t.Errorf("result without study attributes")
				}
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
	// Series results carry NumberOfSeriesRelatedInstances.
	rs := search(t, ix, index.Query{Level: index.LevelSeries, StudyUID: s1})
	if n := attrValue(rs[0].Series, 0x00201209); n != "2" {
		t.Errorf("NumberOfSeriesRelatedInstances = %q, want 2", n)
	}
}

func TestLimitOffset(t *testing.T) {
	ix := fixture(t)
	all := []string{s3, s2, s1, s5, s4}
	for _, c := range []struct {
		limit, offset int
		want          []string
	}{
		{0, 0, all}, {2, 0, all[:2]}, {2, 2, all[2:4]}, {0, 3, all[3:]}, {10, 4, all[4:]}, {1, 5, nil}, {3, 99, nil},
	} {
		got := studyUIDs(search(t, ix, index.Query{Level: index.LevelStudy, Limit: c.limit, Offset: c.offset}))
		if !slices.Equal(got, c.want) {
			t.Errorf("limit %d offset %d: got %v, want %v", c.limit, c.offset, got, c.want)
		}
		// Same through an index plan (a PatientID key scan).
		got = studyUIDs(search(t, ix, index.Query{Level: index.LevelStudy, Limit: c.limit, Offset: c.offset,
			Filters: []index.Filter{wild(tPatientID, "LO", "?*")}}))
		if !slices.Equal(got, c.want) {
			t.Errorf("indexed limit %d offset %d: got %v, want %v", c.limit, c.offset, got, c.want)
		}
	}
	if err := ix.Search(context.Background(), index.Query{Limit: -1}, func(*index.Result) error { return nil }); err == nil {
		t.Error("negative limit accepted")
	}
	stop := errors.New("stop")
	if err := ix.Search(context.Background(), index.Query{}, func(*index.Result) error { return stop }); err != stop {
		t.Errorf("callback error = %v", err)
	}
}

// TestResultAttributes checks the study attributes of a result: stored
// ones as given plus the computed ones, in tag order.
func TestResultAttributes(t *testing.T) {
	ix := fixture(t)
	rs := search(t, ix, index.Query{Level: index.LevelStudy, StudyUID: s1})
	if len(rs) != 1 {
		t.Fatalf("%d results", len(rs))
	}
	a := rs[0].Study
	if !slices.IsSortedFunc(a, func(x, y index.Attr) int { return int(int64(x.Tag) - int64(y.Tag)) }) {
		t.Error("study attributes not sorted by tag")
	}
	for tag, want := range map[uint32]string{
		tPatientName: `{"vr":"PN","Value":[{"Alphabetic":"Müller^Hans"}]}`,
		tModsInStudy: `{"vr":"CS","Value":["CT","MR"]}`,
		0x00080062:   `{"vr":"UI","Value":["1.2.840.10008.5.1.4.1.1.4"]}`, // fixture s1 is spec 1 (MR class)
		0x00201206:   `{"vr":"IS","Value":[2]}`,
		tNumInst:     `{"vr":"IS","Value":[3]}`,
	} {
		if got := attrJSON(a, tag); got != want {
			t.Errorf("%08X JSON = %s, want %s", tag, got, want)
		}
	}
	if got := attrValues(a, tModsInStudy); got != "CT\\MR" {
		t.Errorf("ModalitiesInStudy values = %q", got)
	}
}

func studyUIDs(rs []*index.Result) []string {
	var out []string
	for _, r := range rs {
		out = append(out, attrValue(r.Study, tStudyUID))
	}
	return out
}

func TestMatchPrimitives(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Müller^Hans", "MULLER^HANS"},
		{"muller^hans^^ ", "MULLER^HANS"},
		{" Doe ^ John ^^^", "DOE^JOHN"},
		{"Ödegaard^Åsa", "ODEGAARD^ASA"},
		{"García^José", "GARCIA^JOSE"},
		{"ドウ^ジョン", "ドウ^ジョン"},
		{"ﾄﾞｳ", "ﾄﾞｳ"},
		{"Ŀukasz", "ĿUKASZ"},
		{"Łukasiewicz", "ŁUKASIEWICZ"},
		{"mül*", "MUL*"},
		{"", ""},
	} {
		if got := index.NormPN(c.in); got != c.want {
			t.Errorf("normPN(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, c := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"*", "abc", true}, {"a*", "abc", true}, {"a*", "bac", false},
		{"*c", "abc", true}, {"*b*", "abc", true}, {"a?c", "abc", true}, {"a?c", "ac", false},
		{"a?c", "aéc", true}, {"*a*a*a", "aaaa", true}, {"*a*a*b", "aaaa", false},
		{"", "", true}, {"", "a", false}, {"?", "", false}, {"a**", "a", true}, {"ドウ*", "ドウ^ジョン", true},
	} {
		if got := index.Glob(c.p, c.s); got != c.want {
			t.Errorf("glob(%q, %q) = %v, want %v", c.p, c.s, got, c.want)
		}
	}
	for _, c := range []struct {
		in   string
		high bool
		want string
		ok   bool
	}{
		{"10", false, "100000.000000", true}, {"10", true, "105959.999999", true},
		{"1030", false, "103000.000000", true}, {"103015.5", false, "103015.500000", true},
		{"103015.5", true, "103015.599999", true}, {"10:30:15", false, "103015.000000", true},
		{"1", false, "", false}, {"10.5", false, "", false}, {"ab", false, "", false},
	} {
		got, ok := index.NormTM(c.in, c.high)
		if got != c.want || ok != c.ok {
			t.Errorf("normTM(%q, %v) = %q %v, want %q %v", c.in, c.high, got, ok, c.want, c.ok)
		}
	}
	for _, c := range []struct {
		in   string
		high bool
		want string
		ok   bool
	}{
		{"2024", false, "20240101000000.000000", true}, {"2024", true, "20241231235959.999999", true},
		{"20240115103000+0100", false, "20240115103000.000000", true},
		{"20240115103000.5", true, "20240115103000.599999", true},
		{"202", false, "", false}, {"2024x", false, "", false},
	} {
		got, ok := index.NormDT(c.in, c.high)
		if got != c.want || ok != c.ok {
			t.Errorf("normDT(%q, %v) = %q %v, want %q %v", c.in, c.high, got, ok, c.want, c.ok)
		}
	}
}
