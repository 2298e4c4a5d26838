package query

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/minipacs/minipacs/index"
)

var opts = Options{MaxLimit: 1000}

func single(tag uint32, vr string, v ...string) index.Filter {
	k := index.MatchSingle
	if len(v) > 1 {
		k = index.MatchList
	}
	return index.Filter{Tag: tag, VR: vr, Kind: k, Values: v}
}

func wildcard(tag uint32, vr, v string) index.Filter {
	return index.Filter{Tag: tag, VR: vr, Kind: index.MatchWildcard, Values: []string{v}}
}

func rng(tag uint32, vr, lo, hi string) index.Filter {
	return index.Filter{Tag: tag, VR: vr, Kind: index.MatchRange, Low: lo, High: hi}
}

func hasField(r *Request, tag uint32) bool {
	return slices.ContainsFunc(r.Include.Fields, func(f Field) bool { return f.Tag == tag })
}

func TestParse(t *testing.T) {
	type tc struct {
		name     string
		level    index.Level
		study    string
		series   string
		query    string
		opt      *Options
		filters  []index.Filter // compared when non-nil; use []index.Filter{} for none
		limit    int
		offset   int
		fuzzy    bool
		warnings int
		fields   []uint32 // must be present
		noFields []uint32 // must be absent
		all      bool
	}
	tests := []tc{
		{name: "OHIF study list", query: "limit=101&offset=0&fuzzymatching=false&includefield=00081030%2C00080060",
			filters: []index.Filter{}, limit: 101, fields: []uint32{0x00081030, 0x00080061}, noFields: []uint32{0x00080060}},
		{name: "instance includefield at study level ignored", query: "includefield=SOPInstanceUID",
			filters: []index.Filter{}, limit: 1000, warnings: 1, noFields: []uint32{0x00080018}},
		{name: "padding only is empty", query: "PatientID=+++",
			filters: []index.Filter{}, limit: 1000, fields: []uint32{0x00100020}},
		{name: "separators only is empty", query: "ModalitiesInStudy=%5C,",
			filters: []index.Filter{}, limit: 1000},
		{name: "OHIF patient id", query: "00100020=PAT-001",
			filters: []index.Filter{single(0x00100020, "LO", "PAT-001")}, limit: 1000},
		{name: "PN wildcard encoded", query: "PatientName=Doe%5EJ%2A",
			filters: []index.Filter{wildcard(0x00100010, "PN", "Doe^J*")}, limit: 1000},
		{name: "PN UTF-8", query: "PatientName=%E5%B1%B1%E7%94%B0*",
			filters: []index.Filter{wildcard(0x00100010, "PN", "山田*")}, limit: 1000},
		{name: "PN plus is space", query: "PatientName=Doe%5EJohn+Paul",
			filters: []index.Filter{single(0x00100010, "PN", "Doe^John Paul")}, limit: 1000},
		{name: "PN comma is literal", query: "PatientName=Doe%2CJohn",
			filters: []index.Filter{single(0x00100010, "PN", "Doe,John")}, limit: 1000},
		{name: "PN question mark", query: "PatientName=D%3Fe",
			filters: []index.Filter{wildcard(0x00100010, "PN", "D?e")}, limit: 1000},
		{name: "fuzzy", query: "PatientName=doe&fuzzymatching=true",
			filters: []index.Filter{single(0x00100010, "PN", "doe")}, limit: 1000, fuzzy: true},
		{name: "date range", query: "StudyDate=20240101-20240131",
			filters: []index.Filter{rng(0x00080020, "DA", "20240101", "20240131")}, limit: 1000},
		{name: "date open low", query: "StudyDate=-20240131",
			filters: []index.Filter{rng(0x00080020, "DA", "", "20240131")}, limit: 1000},
		{name: "date open high", query: "StudyDate=20240101-",
			filters: []index.Filter{rng(0x00080020, "DA", "20240101", "")}, limit: 1000},
		{name: "date equal bounds", query: "StudyDate=20240101-20240101",
			filters: []index.Filter{rng(0x00080020, "DA", "20240101", "20240101")}, limit: 1000},
		{name: "date single", query: "StudyDate=20240229",
			filters: []index.Filter{single(0x00080020, "DA", "20240229")}, limit: 1000},
		{name: "date list", query: "StudyDate=20240101%5C20240102",
			filters: []index.Filter{single(0x00080020, "DA", "20240101", "20240102")}, limit: 1000},
		{name: "time range partial", query: "StudyTime=08-1730",
			filters: []index.Filter{rng(0x00080030, "TM", "08", "1730")}, limit: 1000},
		{name: "time range same hour", query: "StudyTime=1030-10",
			filters: []index.Filter{rng(0x00080030, "TM", "1030", "10")}, limit: 1000},
		{name: "time fraction", query: "StudyTime=120000.123456",
			filters: []index.Filter{single(0x00080030, "TM", "120000.123456")}, limit: 1000},
		{name: "datetime with offset is single", level: index.LevelInstance, query: "AcquisitionDateTime=20240101120000-0500",
			filters: []index.Filter{single(0x0008002A, "DT", "20240101120000-0500")}, limit: 1000},
		{name: "datetime range", level: index.LevelInstance, query: "AcquisitionDateTime=2024-202406",
			filters: []index.Filter{rng(0x0008002A, "DT", "2024", "202406")}, limit: 1000},
		{name: "datetime range with offsets", level: index.LevelInstance,
			query:   "AcquisitionDateTime=20240101120000-0500-20240102%2B0100",
			filters: []index.Filter{rng(0x0008002A, "DT", "20240101120000-0500", "20240102+0100")}, limit: 1000},
		{name: "uid list comma", query: "StudyInstanceUID=1.2.3,1.2.4",
			filters: []index.Filter{single(0x0020000D, "UI", "1.2.3", "1.2.4")}, limit: 1000},
		{name: "uid list encoded comma", query: "StudyInstanceUID=1.2.3%2C1.2.4",
			filters: []index.Filter{single(0x0020000D, "UI", "1.2.3", "1.2.4")}, limit: 1000},
		{name: "uid list backslash", query: "StudyInstanceUID=1.2.3%5C1.2.4",
			filters: []index.Filter{single(0x0020000D, "UI", "1.2.3", "1.2.4")}, limit: 1000},
		{name: "uid list duplicates", query: "StudyInstanceUID=1.2.3%5C1.2.3",
			filters: []index.Filter{single(0x0020000D, "UI", "1.2.3")}, limit: 1000},
		{name: "uid leading zero accepted", query: "StudyInstanceUID=1.02.3",
			filters: []index.Filter{single(0x0020000D, "UI", "1.02.3")}, limit: 1000},
		{name: "repeated key is a list", query: "StudyInstanceUID=1.2.3&StudyInstanceUID=1.2.4",
			filters: []index.Filter{single(0x0020000D, "UI", "1.2.3", "1.2.4")}, limit: 1000},
		{name: "repeated key with empty", query: "PatientID=&PatientID=X",
			filters: []index.Filter{single(0x00100020, "LO", "X")}, limit: 1000},
		{name: "modalities in study list", query: "ModalitiesInStudy=CT%5CMR",
			filters: []index.Filter{single(0x00080061, "CS", "CT", "MR")}, limit: 1000},
		{name: "modalities in study comma", query: "ModalitiesInStudy=CT,MR",
			filters: []index.Filter{single(0x00080061, "CS", "CT", "MR")}, limit: 1000},
		{name: "modality at study level", query: "Modality=CT",
			filters: []index.Filter{single(0x00080061, "CS", "CT")}, limit: 1000, warnings: 1,
			fields: []uint32{0x00080061}, noFields: []uint32{0x00080060}},
		{name: "sop class at study level", query: "SOPClassUID=1.2.840.10008.5.1.4.1.1.2",
			filters: []index.Filter{single(0x00080062, "UI", "1.2.840.10008.5.1.4.1.1.2")}, limit: 1000, warnings: 1},
		{name: "tag form", query: "00100010=Doe",
			filters: []index.Filter{single(0x00100010, "PN", "Doe")}, limit: 1000},
		{name: "lower-case tag form", query: "0020000d=1.2.3",
			filters: []index.Filter{single(0x0020000D, "UI", "1.2.3")}, limit: 1000},
		{name: "empty value is return key", query: "StudyDescription=",
			filters: []index.Filter{}, limit: 1000, fields: []uint32{0x00081030}},
		{name: "key without equals", query: "StudyDescription",
			filters: []index.Filter{}, limit: 1000, fields: []uint32{0x00081030}},
		{name: "star alone is universal", query: "PatientName=*",
			filters: []index.Filter{}, limit: 1000, fields: []uint32{0x00100010}},
		{name: "empty value matching warns", query: "PatientName=%22%22",
			filters: []index.Filter{}, limit: 1000, warnings: 1},
		{name: "emptyvaluematching option warns", query: "emptyvaluematching=true&multiplevaluematching=true",
			filters: []index.Filter{}, limit: 1000, warnings: 1},
		{name: "limit clamped", query: "limit=100000", filters: []index.Filter{}, limit: 1000, warnings: 1},
		{name: "limit overflow clamped", query: "limit=99999999999999999999999", filters: []index.Filter{}, limit: 1000, warnings: 1},
		{name: "limit zero means none", query: "limit=0", filters: []index.Filter{}, limit: 1000},
		{name: "default limit", query: "", opt: &Options{MaxLimit: 1000, DefaultLimit: 50}, filters: []index.Filter{}, limit: 50},
		{name: "no cap", query: "limit=5000", opt: &Options{}, filters: []index.Filter{}, limit: 5000},
		{name: "no cap no limit", query: "", opt: &Options{}, filters: []index.Filter{}, limit: 0},
		{name: "offset", query: "offset=20&limit=10", filters: []index.Filter{}, limit: 10, offset: 20},
		{name: "option names case-insensitive", query: "Limit=7&IncludeField=StudyDescription",
			filters: []index.Filter{}, limit: 7, fields: []uint32{0x00081030}},
		{name: "includefield all", query: "includefield=all", filters: []index.Filter{}, limit: 1000, all: true},
		{name: "includefield repeated", query: "includefield=StudyDescription&includefield=00101010",
			filters: []index.Filter{}, limit: 1000, fields: []uint32{0x00081030, 0x00101010}},
		{name: "includefield sequence path", level: index.LevelSeries,
			query: "includefield=RequestAttributesSequence.RequestedProcedureID", filters: []index.Filter{}, limit: 1000,
			fields: []uint32{0x00400275}},
		{name: "sequence path as return key", level: index.LevelSeries, query: "00400275.00401001=",
			filters: []index.Filter{}, limit: 1000, fields: []uint32{0x00400275}},
		{name: "accept parameter", query: "accept=application%2Fdicom%2Bjson", filters: []index.Filter{}, limit: 1000},
		{name: "study defaults", query: "", filters: []index.Filter{}, limit: 1000,
			fields:   []uint32{0x00080005, 0x00080020, 0x00080030, 0x00080050, 0x00080056, 0x00080061, 0x00080090, 0x00080201, 0x00081190, 0x00100010, 0x00100020, 0x00100030, 0x00100040, 0x0020000D, 0x00200010, 0x00201206, 0x00201208},
			noFields: []uint32{0x00081030, 0x0020000E}},
		{name: "series in study defaults", level: index.LevelSeries, study: "1.2.3", query: "", filters: []index.Filter{}, limit: 1000,
			fields:   []uint32{0x00080005, 0x00080060, 0x00080201, 0x0008103E, 0x00081190, 0x0020000D, 0x0020000E, 0x00200011, 0x00201209, 0x00400244, 0x00400245, 0x00400275},
			noFields: []uint32{0x00100010, 0x00080056, 0x00080020}},
		{name: "all series adds study defaults", level: index.LevelSeries, query: "PatientName=Doe",
			filters: []index.Filter{single(0x00100010, "PN", "Doe")}, limit: 1000,
			fields: []uint32{0x00100010, 0x00080020, 0x00201206, 0x00080060}},
		{name: "study attribute on fixed study", level: index.LevelSeries, study: "1.2.3", query: "PatientID=X",
			filters: []index.Filter{single(0x00100020, "LO", "X")}, limit: 1000, fields: []uint32{0x00100020}},
		{name: "instance defaults", level: index.LevelInstance, study: "1.2.3", series: "1.2.3.4", query: "", filters: []index.Filter{}, limit: 1000,
			fields:   []uint32{0x00080005, 0x00080016, 0x00080018, 0x00080056, 0x00080201, 0x00081190, 0x00200013, 0x00280008, 0x00280010, 0x00280011, 0x00280100, 0x0020000D, 0x0020000E},
			noFields: []uint32{0x00080060, 0x00100010}},
		{name: "study instances adds series", level: index.LevelInstance, study: "1.2.3", query: "", filters: []index.Filter{}, limit: 1000,
			fields: []uint32{0x00080060, 0x0020000E, 0x00200011}, noFields: []uint32{0x00100010}},
		{name: "all instances adds study", level: index.LevelInstance, query: "SOPInstanceUID=1.2.3.4.5&Modality=MR", limit: 1000,
			filters: []index.Filter{single(0x00080018, "UI", "1.2.3.4.5"), single(0x00080060, "CS", "MR")},
			fields:  []uint32{0x00100010, 0x00080060, 0x00080018}},
		{name: "numbers", level: index.LevelInstance, query: "InstanceNumber=3%5C4&Rows=512&SliceThickness=1.25", limit: 1000,
			filters: []index.Filter{single(0x00200013, "IS", "3", "4"), single(0x00280010, "US", "512"), single(0x00180050, "DS", "1.25")}},
		{name: "LT backslash literal", level: index.LevelInstance, query: "ImageComments=a%5Cb", limit: 1000,
			filters: []index.Filter{single(0x00204000, "LT", `a\b`)}},
		{name: "timezone at every level", query: "TimezoneOffsetFromUTC=%2B0100", limit: 1000,
			filters: []index.Filter{single(0x00080201, "SH", "+0100")}},
		{name: "series keys at series level", level: index.LevelSeries, study: "1.2.3", query: "Modality=CT&SeriesNumber=2", limit: 1000,
			filters: []index.Filter{single(0x00080060, "CS", "CT"), single(0x00200011, "IS", "2")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := opts
			if tt.opt != nil {
				o = *tt.opt
			}
			r, err := Parse(tt.level, tt.study, tt.series, tt.query, o)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			q := r.Query
			if q.Level != tt.level || q.StudyUID != tt.study || q.SeriesUID != tt.series {
				t.Errorf("query target = %v %q %q", q.Level, q.StudyUID, q.SeriesUID)
			}
			if tt.filters != nil {
				got := q.Filters
				if got == nil {
					got = []index.Filter{}
				}
				if !reflect.DeepEqual(got, tt.filters) {
					t.Errorf("filters:\n got %+v\nwant %+v", got, tt.filters)
				}
			}
			if q.Limit != tt.limit || q.Offset != tt.offset || q.Fuzzy != tt.fuzzy {
				t.Errorf("limit/offset/fuzzy = %d/%d/%v, want %d/%d/%v", q.Limit, q.Offset, q.Fuzzy, tt.limit, tt.offset, tt.fuzzy)
			}
			if len(r.Warnings) != tt.warnings {
				t.Errorf("warnings = %q, want %d", r.Warnings, tt.warnings)
			}
			for _, f := range tt.fields {
				if !hasField(r, f) {
					t.Errorf("field %08X missing", f)
				}
			}
			for _, f := range tt.noFields {
				if hasField(r, f) {
					t.Errorf("field %08X present", f)
				}
			}
			if r.Include.All != tt.all {
				t.Errorf("All = %v", r.Include.All)
			}
			if !slices.IsSortedFunc(r.Include.Fields, func(a, b Field) int { return int(int64(a.Tag) - int64(b.Tag)) }) {
				t.Errorf("fields not sorted")
			}
			for i := 1; i < len(r.Include.Fields); i++ {
				if r.Include.Fields[i].Tag == r.Include.Fields[i-1].Tag {
					t.Errorf("duplicate field %08X", r.Include.Fields[i].Tag)
				}
			}
		})
	}
}

func TestParseServerLimited(t *testing.T) {
	r, err := Parse(index.LevelStudy, "", "", "", Options{MaxLimit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if !r.ServerLimited || r.Query.Limit != 10 {
		t.Errorf("ServerLimited=%v Limit=%d", r.ServerLimited, r.Query.Limit)
	}
	r, err = Parse(index.LevelStudy, "", "", "limit=5", Options{MaxLimit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if r.ServerLimited || r.Query.Limit != 5 {
		t.Errorf("ServerLimited=%v Limit=%d", r.ServerLimited, r.Query.Limit)
	}
}

func TestParseErrors(t *testing.T) {
	secret := "Sensitive%5EPatient"
	tests := []struct {
		name   string
		level  index.Level
		study  string
		query  string
		inMsg  string // must appear in the message
		secret string // must not appear in the message
	}{
		{name: "reversed range", query: "StudyDate=20240131-20240101", inMsg: "reversed"},
		{name: "reversed time range", query: "StudyTime=1200-1100", inMsg: "reversed"},
		{name: "reversed datetime range", level: index.LevelInstance, query: "AcquisitionDateTime=2025-2024", inMsg: "reversed"},
		{name: "bad date", query: "StudyDate=20241301", inMsg: "StudyDate"},
		{name: "bad day", query: "StudyDate=20230229", inMsg: "StudyDate"},
		{name: "old date format", query: "StudyDate=2024.01.01", inMsg: "StudyDate"},
		{name: "short date", query: "StudyDate=202401", inMsg: "StudyDate"},
		{name: "date dash only", query: "StudyDate=-", inMsg: "StudyDate"},
		{name: "date two dashes", query: "StudyDate=20240101-20240102-20240103", inMsg: "StudyDate"},
		{name: "date range in list", query: "StudyDate=20240101-20240102%5C20240105", inMsg: "StudyDate"},
		{name: "bad time", query: "StudyTime=2500", inMsg: "StudyTime"},
		{name: "bad time colon", query: "StudyTime=12:00", inMsg: "StudyTime"},
		{name: "time fraction without seconds", query: "StudyTime=1200.5", inMsg: "StudyTime"},
		{name: "wildcard in date", query: "StudyDate=2024*", inMsg: "wildcard"},
		{name: "limit abc", query: "limit=abc", inMsg: "limit"},
		{name: "limit negative", query: "limit=-1", inMsg: "limit"},
		{name: "limit empty", query: "limit=", inMsg: "limit"},
		{name: "limit twice", query: "limit=1&limit=2", inMsg: "limit"},
		{name: "offset negative", query: "offset=-5", inMsg: "offset"},
		{name: "offset huge", query: "offset=99999999999999999999999", inMsg: "offset"},
		{name: "fuzzy bad", query: "fuzzymatching=yes", inMsg: "fuzzymatching"},
		{name: "wildcard on uid", query: "StudyInstanceUID=1.2.*", inMsg: "wildcard"},
		{name: "invalid uid", query: "StudyInstanceUID=1..2", inMsg: "UID"},
		{name: "uid with letters", query: "StudyInstanceUID=1.2.abc", inMsg: "UID"},
		{name: "uid too long", query: "StudyInstanceUID=" + strings.Repeat("1.", 32) + "1", inMsg: "UID"},
		{name: "uid list with bad item", query: "StudyInstanceUID=1.2.3,,x", inMsg: "UID"},
		{name: "unknown keyword", query: "PatientNam=Doe", inMsg: "PatientNam"},
		{name: "keyword wrong case", query: "patientname=Doe", inMsg: "patientname"},
		{name: "name is not keyword", query: "Patient%27s+Name=Doe", inMsg: "not shown"},
		{name: "unknown includefield", query: "includefield=Nonsense", inMsg: "Nonsense"},
		{name: "bad tag", query: "0010001G=x", inMsg: "unknown"},
		{name: "item tag", query: "FFFEE000=x", inMsg: "FFFEE000"},
		{name: "instance key at study level", query: "SOPInstanceUID=1.2.3", inMsg: "SOPInstanceUID"},
		{name: "instance key at series level", level: index.LevelSeries, query: "InstanceNumber=1", inMsg: "InstanceNumber"},
		{name: "series key at study level", query: "SeriesInstanceUID=1.2.3", inMsg: "SeriesInstanceUID"},
		{name: "sequence matching", level: index.LevelSeries, query: "00400275.00401001=RP1", inMsg: "sequence"},
		{name: "not a sequence", query: "PatientName.PatientID=", inMsg: "PatientName"},
		{name: "matching on sequence", level: index.LevelSeries, query: "RequestAttributesSequence=x", inMsg: "SQ"},
		{name: "private tag matching", level: index.LevelInstance, query: "00091001=x", inMsg: "00091001"},
		{name: "bad percent encoding", query: "PatientName=Doe%ZZ", inMsg: "percent"},
		{name: "bad percent key", query: "Patient%ZZName=Doe", inMsg: "percent"},
		{name: "invalid utf8", query: "PatientName=%FF%FE", inMsg: "UTF-8"},
		{name: "control char", query: "PatientName=Doe%00", inMsg: "control"},
		{name: "wildcard in list", query: "ModalitiesInStudy=C*%5CMR", inMsg: "wildcard"},
		{name: "repeated wildcard", query: "PatientName=Do*&PatientName=Sm*", inMsg: "more than once"},
		{name: "repeated range", query: "StudyDate=20240101-&StudyDate=20240105", inMsg: "more than once"},
		{name: "bad number", level: index.LevelInstance, query: "InstanceNumber=abc", inMsg: "InstanceNumber"},
		{name: "number overflow", level: index.LevelInstance, query: "Rows=70000", inMsg: "Rows"},
		{name: "wildcard on number", level: index.LevelInstance, query: "InstanceNumber=1*", inMsg: "wildcard"},
		{name: "nan DS", level: index.LevelInstance, query: "SliceThickness=NaN", inMsg: "SliceThickness"},
		{name: "bad age", query: "PatientAge=12", inMsg: "PatientAge"},
		{name: "bad path uid", level: index.LevelSeries, study: "1..2", query: "", inMsg: "path"},
		{name: "secret in unknown key is not echoed", query: "Sensitive%5EPatient=1", secret: "Sensitive"},
		{name: "secret in value is not echoed", query: "StudyDate=" + secret, secret: "Sensitive"},
		{name: "secret in uid is not echoed", query: "StudyInstanceUID=" + secret, secret: "Sensitive"},
		{name: "too many params", query: strings.Repeat("PatientID=1&", 300), inMsg: "too many"},
		{name: "query too long", query: "PatientID=" + strings.Repeat("a", 70000), inMsg: "too long"},
		{name: "value too long", query: "PatientID=" + strings.Repeat("a", 5000), inMsg: "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse(tt.level, tt.study, "", tt.query, opts)
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", r.Query)
			}
			var qe *Error
			if !errors.As(err, &qe) {
				t.Fatalf("error %v is %T, not *Error", err, err)
			}
			if tt.inMsg != "" && !strings.Contains(qe.Msg, tt.inMsg) {
				t.Errorf("message %q does not mention %q", qe.Msg, tt.inMsg)
			}
			if tt.secret != "" && strings.Contains(qe.Msg, tt.secret) {
				t.Errorf("message %q echoes input", qe.Msg)
			}
		})
	}
}

func TestParseCallerErrors(t *testing.T) {
	tests := []struct {
		level         index.Level
		study, series string
	}{
		{index.LevelStudy, "1.2", ""},
		{index.LevelSeries, "1.2", "1.3"},
		{index.LevelInstance, "", "1.3"},
		{index.Level(7), "", ""},
	}
	for _, tt := range tests {
		_, err := Parse(tt.level, tt.study, tt.series, "", opts)
		var qe *Error
		if err == nil || errors.As(err, &qe) {
			t.Errorf("Parse(%v, %q, %q) = %v, want a non-*Error error", tt.level, tt.study, tt.series, err)
		}
	}
}

func TestLevelOf(t *testing.T) {
	tests := []struct {
		tag  uint32
		want index.Level
	}{
		{0x00100010, index.LevelStudy},    // PatientName
		{0x00101010, index.LevelStudy},    // PatientAge
		{0x00081030, index.LevelStudy},    // StudyDescription
		{0x0020000D, index.LevelStudy},    // StudyInstanceUID
		{0x00080061, index.LevelStudy},    // ModalitiesInStudy
		{0x00401012, index.LevelStudy},    // ReasonForPerformedProcedureCodeSequence
		{0x00080060, index.LevelSeries},   // Modality
		{0x0020000E, index.LevelSeries},   // SeriesInstanceUID
		{0x00400275, index.LevelSeries},   // RequestAttributesSequence
		{0x00400244, index.LevelSeries},   // PerformedProcedureStepStartDate
		{0x00102210, index.LevelSeries},   // AnatomicalOrientationType
		{0x00080080, index.LevelSeries},   // InstitutionName
		{0x00080018, index.LevelInstance}, // SOPInstanceUID
		{0x00280010, index.LevelInstance}, // Rows
		{0x00400555, index.LevelInstance}, // AcquisitionContextSequence
		{0x00091001, index.LevelInstance}, // private
	}
	for _, tt := range tests {
		if got := LevelOf(tt.tag); got != tt.want {
			t.Errorf("LevelOf(%08X) = %v, want %v", tt.tag, got, tt.want)
		}
	}
}
