package query_test

// The QIDO-RS query parser as clients call it: what they send and the
// mistakes they make (PS3.18 §8.3.4, §10.6; PS3.4 C.2.2.2). First written
// as review probes.

import (
	"errors"
	"slices"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/archive/query"
	"github.com/minipacs/minipacs/index"
)

func fieldTags(r *query.Request) []uint32 {
	var out []uint32
	for _, f := range r.Include.Fields {
		out = append(out, f.Tag)
	}
	return out
}

// What OHIF 3.x sends for its study list (reference "What OHIF sends"):
// accepted as sent, StudyDescription and the study-level stand-in for
// Modality returned, fuzzy matching off, limit 101.
func TestParseOHIFStudyList(t *testing.T) {
	r, err := query.Parse(index.LevelStudy, "", "", "limit=101&offset=0&fuzzymatching=false&includefield=00081030%2C00080060", query.Options{MaxLimit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	tags := fieldTags(r)
	for _, want := range []uint32{0x00081030, 0x00080061, 0x0020000D, 0x00100010} {
		if !slices.Contains(tags, want) {
			t.Errorf("field %08X missing from %X", want, tags)
		}
	}
	if r.Query.Limit != 101 || r.Query.Offset != 0 || r.Query.Fuzzy || len(r.Warnings) != 0 {
		t.Errorf("query %+v, warnings %q", r.Query, r.Warnings)
	}
}

// PS3.4 C.2.2.2: the kind of matching chosen per VR and value.
func TestParseMatchingKinds(t *testing.T) {
	tests := []struct {
		level index.Level
		query string
		kind  index.MatchKind
		vals  []string
	}{
		{index.LevelStudy, "PatientName=Doe%5EJ*", index.MatchWildcard, []string{"Doe^J*"}},
		{index.LevelStudy, "PatientName=D%3Fe", index.MatchWildcard, []string{"D?e"}},
		{index.LevelStudy, "00100020=ID%2C1", index.MatchSingle, []string{"ID,1"}}, // LO: ',' is literal
		{index.LevelStudy, "StudyInstanceUID=1.2.3%2C1.2.4", index.MatchList, []string{"1.2.3", "1.2.4"}},
		{index.LevelStudy, "StudyInstanceUID=1.2.3%5C1.2.4", index.MatchList, []string{"1.2.3", "1.2.4"}},
		{index.LevelStudy, "StudyInstanceUID=1.2.3&StudyInstanceUID=1.2.4", index.MatchList, []string{"1.2.3", "1.2.4"}},
		{index.LevelSeries, "Modality=CT%5CMR", index.MatchList, []string{"CT", "MR"}},
		{index.LevelStudy, "AccessionNumber=A1", index.MatchSingle, []string{"A1"}},
	}
	for _, tt := range tests {
		r, err := query.Parse(tt.level, "", "", tt.query, query.Options{})
		if err != nil {
			t.Errorf("%s: %v", tt.query, err)
			continue
		}
		if len(r.Query.Filters) != 1 || r.Query.Filters[0].Kind != tt.kind || !slices.Equal(r.Query.Filters[0].Values, tt.vals) {
			t.Errorf("%s: filters %+v", tt.query, r.Query.Filters)
		}
	}
	// Universal matching: "*" alone and an empty value filter nothing but
	// return the attribute.
	for _, q := range []string{"PatientName=*", "PatientName=", "PatientName=**", "StudyDate="} {
		r, err := query.Parse(index.LevelStudy, "", "", q, query.Options{})
		if err != nil || len(r.Query.Filters) != 0 {
			t.Errorf("%s: %v, filters %+v", q, err, r)
		}
	}
	// Ranges.
	r, err := query.Parse(index.LevelStudy, "", "", "StudyDate=20240101-&StudyTime=-1200", query.Options{})
	if err != nil || len(r.Query.Filters) != 2 {
		t.Fatalf("ranges: %v %+v", err, r)
	}
	for _, f := range r.Query.Filters {
		if f.Kind != index.MatchRange {
			t.Errorf("range: %+v", f)
		}
	}
}

// Reference: client mistakes are *query.Error (400), never another error
// (500), and never echo the value.
func TestParseClientErrors(t *testing.T) {
	for _, q := range []string{
		"StudyDate=2024-01-01", "StudyDate=20241301", "StudyTime=25", "limit=1e3", "offset=-5", "limit=1&limit=2",
		"SeriesDescription=x", // a series attribute at study level
		"SOPInstanceUID=1.2.3", "StudyInstanceUID=1.2.*", "PatientName=%E0%A4", "PatientName=a%0Ab",
		"NoSuchKeyword=1", "FFFEE000=1", "00080020.00100010=x", "includefield=NoSuchKeyword", "fuzzymatching=yes",
		"NumberOfStudyRelatedInstances=many",
	} {
		_, err := query.Parse(index.LevelStudy, "", "", q, query.Options{})
		var qe *query.Error
		if !errors.As(err, &qe) {
			t.Errorf("%s: err %v, want *query.Error", q, err)
		}
	}
}
