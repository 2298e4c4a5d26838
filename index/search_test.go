package index_test

import (
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
