package dicomweb_test

// QIDO-RS through the HTTP handlers, against PS3.18 §8.3.4, §10.6 and
// PS3.4 C.2.2.2 (first written as review probes: each test names the
// clause it checks).

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/minipacs/minipacs/dicomweb"
)

// qido runs a search and decodes the answer.
func qido(t *testing.T, url string, hdr ...string) (*http.Response, []map[string]json.RawMessage) {
	t.Helper()
	resp, b := get(t, url, hdr...)
	if resp.StatusCode != 200 {
		return resp, nil
	}
	var out []map[string]json.RawMessage
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: not a JSON array: %v\n%s", url, err, b)
	}
	return resp, out
}

// qidoOK reports whether a QIDO answer holds want results: 200 with them,
// or 204 No Content when there are none (PS3.18 §8.3.4.4.1).
func qidoOK(resp *http.Response, res []map[string]json.RawMessage, want int) bool {
	if want == 0 {
		return resp.StatusCode == http.StatusNoContent
	}
	return resp.StatusCode == http.StatusOK && len(res) == want
}

// jsonValues returns the Value array of one attribute of a result.
func jsonValues(t *testing.T, m map[string]json.RawMessage, tag string) []json.RawMessage {
	t.Helper()
	raw, ok := m[tag]
	if !ok {
		return nil
	}
	var a struct {
		Value []json.RawMessage `json:"Value"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("attribute %s: %v", tag, err)
	}
	return a.Value
}

// PS3.18 §8.3.4.4 (Query Result Messages): when the server limits the
// number of results, it "shall return a Warning header field: 299 {SERVICE}:
// The number of results exceeded the maximum supported by the server.
// Additional results can be requested." query.Parse sets
// Request.ServerLimited and defines query.MoreResultsWarning for this, but
// search.go never uses them: a client with no limit cannot know that its
// list was cut.
func TestQIDOServerLimitWarning(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{QIDOMaxLimit: 2})
	for i := range 3 {
		mustStow(t, f, makeInst(inst{study: fmt.Sprintf("1.2.10.%d", i), series: fmt.Sprintf("1.2.10.%d.1", i),
			sop: fmt.Sprintf("1.2.10.%d.1.1", i), modality: "CT"}))
	}
	resp, res := qido(t, f.base+"/studies")
	if len(res) != 2 {
		t.Fatalf("%d results, want the server maximum 2", len(res))
	}
	found := false
	for _, w := range resp.Header.Values("Warning") {
		if strings.HasPrefix(w, "299 ") && strings.Contains(w, "Additional results can be requested") {
			found = true
		}
	}
	if !found {
		t.Errorf("no Warning 299 about the server limit; Warning headers: %q", resp.Header.Values("Warning"))
	}
}

// PS3.18 §8.3.4.4.1: answers past the last match are 204 No Content (the
// reference says 200 []; the standard wins); a client limit above the cap
// is clamped with a Warning.
func TestQIDOOffsetPastEndAndClamp(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{QIDOMaxLimit: 5})
	mustStow(t, f, makeInst(inst{study: "1.2.11", series: "1.2.11.1", sop: "1.2.11.1.1", modality: "CT"}))
	for _, u := range []string{"/studies?offset=1", "/studies?offset=100&limit=1", "/series?offset=7", "/instances?offset=1"} {
		resp, b := get(t, f.base+u)
		if resp.StatusCode != http.StatusNoContent || len(b) != 0 {
			t.Errorf("%s: %d %s, want 204 and no body", u, resp.StatusCode, b)
		}
	}
	resp, res := qido(t, f.base+"/studies?limit=50")
	if len(res) != 1 || len(resp.Header.Values("Warning")) == 0 {
		t.Errorf("limit above the cap: %d results, Warning %q", len(res), resp.Header.Values("Warning"))
	}
}

// PS3.4 C.6.2.1.2 / reference: ModalitiesInStudy is multi-valued; a key
// matches when any one value matches (a study with CT and MR is found by
// MR alone, by CT, and by the list CT\MR — once).
func TestQIDOModalitiesInStudyAnyValue(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{})
	mustStow(t, f,
		makeInst(inst{study: "1.2.12", series: "1.2.12.1", sop: "1.2.12.1.1", modality: "CT", patientID: "P12"}),
		makeInst(inst{study: "1.2.12", series: "1.2.12.2", sop: "1.2.12.2.1", modality: "MR", patientID: "P12"}),
		makeInst(inst{study: "1.2.13", series: "1.2.13.1", sop: "1.2.13.1.1", modality: "US", patientID: "P13"}),
	)
	tests := []struct {
		q    string
		want int
	}{
		{"ModalitiesInStudy=MR", 1},
		{"ModalitiesInStudy=CT", 1},
		{"00080061=CT%5CMR", 1},
		{"ModalitiesInStudy=CT,US", 2},
		{"ModalitiesInStudy=MR&PatientID=P12", 1},
		{"ModalitiesInStudy=MR&PatientID=P13", 0},
		{"ModalitiesInStudy=XA", 0},
		{"ModalitiesInStudy=M*", 1},
	}
	for _, tt := range tests {
		resp, res := qido(t, f.base+"/studies?"+tt.q)
		if !qidoOK(resp, res, tt.want) {
			t.Errorf("%s: status %d, %d results, want %d", tt.q, resp.StatusCode, len(res), tt.want)
			continue
		}
		for _, r := range res {
			if vals := jsonValues(t, r, "00080061"); len(vals) == 0 {
				t.Errorf("%s: ModalitiesInStudy not returned", tt.q)
			}
		}
	}
	// Counts kept current.
	_, res := qido(t, f.base+"/studies?StudyInstanceUID=1.2.12")
	if len(res) != 1 || string(jsonValues(t, res[0], "00201206")[0]) != "2" || string(jsonValues(t, res[0], "00201208")[0]) != "2" {
		t.Errorf("study counts: %v", res)
	}
}

// Reference "QIDO-RS": a search returns the attributes of every level above
// its target that its path does not fix; keys of upper levels filter.
func TestQIDOUpperLevelAttributes(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{})
	mustStow(t, f,
		makeInst(inst{study: "1.2.14", series: "1.2.14.1", sop: "1.2.14.1.1", modality: "CT", patientID: "P14", patientName: "Doe^Jane", studyDate: "20240105"}),
		makeInst(inst{study: "1.2.15", series: "1.2.15.1", sop: "1.2.15.1.1", modality: "MR", patientID: "P15", patientName: "Roe^Rick", studyDate: "20230105"}),
	)
	// /series with a study key; the answer carries study attributes.
	_, res := qido(t, f.base+"/series?PatientID=P14")
	if len(res) != 1 || len(jsonValues(t, res[0], "00100020")) != 1 || len(jsonValues(t, res[0], "0020000D")) != 1 {
		t.Fatalf("/series?PatientID: %v", res)
	}
	// /instances with a series key and a study key.
	_, res = qido(t, f.base+"/instances?Modality=MR&StudyDate=20230101-20231231")
	if len(res) != 1 || string(jsonValues(t, res[0], "00080018")[0]) != `"1.2.15.1.1"` {
		t.Fatalf("/instances?Modality&StudyDate: %v", res)
	}
	if len(jsonValues(t, res[0], "00080060")) != 1 || len(jsonValues(t, res[0], "00100010")) != 1 {
		t.Errorf("/instances does not return series and study attributes: %v", res[0])
	}
	// /studies/{s}/instances adds series attributes.
	_, res = qido(t, f.base+"/studies/1.2.14/instances")
	if len(res) != 1 || len(jsonValues(t, res[0], "00080060")) != 1 || len(jsonValues(t, res[0], "0020000E")) != 1 {
		t.Errorf("/studies/{s}/instances: %v", res)
	}
	// includefield=all at each level.
	for _, u := range []string{"/studies?includefield=all", "/series?includefield=all", "/instances?includefield=all"} {
		resp, res := qido(t, f.base+u)
		if resp.StatusCode != 200 || len(res) != 2 {
			t.Errorf("%s: %d, %d results", u, resp.StatusCode, len(res))
		}
	}
}

// PS3.4 C.2.2.2.1 / C.2.2.2.4 and reference: PN matching case and accent
// insensitive, '*' and '?' wildcards, '*' alone universal, any component
// group; a PN key with '=' matches group by group.
func TestQIDOPersonNames(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{})
	mustStow(t, f, file(t, "charset_files/chrH31.dcm"))
	mustStow(t, f, makeInst(inst{study: "1.2.16", series: "1.2.16.1", sop: "1.2.16.1.1", modality: "CT", patientName: "Müller^Jürgen"}))
	tests := []struct {
		q    string
		want int
	}{
		{"PatientName=Yamada%5ETarou", 1},
		{"PatientName=yamada%5Etarou", 1},
		{"PatientName=" + urlq("山田^太郎"), 1},
		{"PatientName=" + urlq("やまだ^たろう"), 1},
		{"PatientName=" + urlq("Yamada^Tarou=山田^太郎"), 1},
		{"PatientName=" + urlq("山田*"), 1},
		{"PatientName=Yam%3Fda*", 1},
		{"PatientName=*", 2},
		{"PatientName=MULLER%5EJURGEN", 1},
		{"PatientName=m%C3%BCller*", 1},
		{"PatientName=Yamada", 0},
		{"PatientName=Yamada%5ETarou%5E%5E", 1},
		{"PatientName=Yamada%5ETarou%20", 1},
		{"PatientName=Yamada&fuzzymatching=true", 1},
		{"PatientName=tar&fuzzymatching=true", 1},
	}
	for _, tt := range tests {
		resp, res := qido(t, f.base+"/studies?"+tt.q)
		if !qidoOK(resp, res, tt.want) {
			t.Errorf("%s: status %d, %d results, want %d", tt.q, resp.StatusCode, len(res), tt.want)
		}
	}
}

func urlq(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	return b.String()
}

// Reference: "Unknown attribute keyword or malformed value ...: 400 with a
// text/plain reason" — never a 500.
func TestQIDOBadInputIs400(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{})
	mustStow(t, f, makeInst(inst{study: "1.2.17", series: "1.2.17.1", sop: "1.2.17.1.1", modality: "CT"}))
	for _, q := range []string{
		"StudyDate=2024", "StudyDate=20240231", "StudyDate=20240201-20240101", "limit=-1", "limit=abc", "offset=x",
		"StudyInstanceUID=1..2", "StudyInstanceUID=*", "NumberOfFrames=abc", "includefield=NoSuchKeyword",
		"PatientName=%ZZ", "fuzzymatching=maybe", "00400275.00401001=X",
	} {
		resp, body := get(t, f.base+"/studies?"+q)
		if resp.StatusCode != 400 {
			t.Errorf("%s: %d %s, want 400", q, resp.StatusCode, body)
		}
	}
}

// PS3.4 C.2.2.2.5 range matching on DA and TM, lists of dates.
func TestQIDODateTimeRanges(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{})
	mustStow(t, f,
		makeInst(inst{study: "1.2.23", series: "1.2.23.1", sop: "1.2.23.1.1", modality: "CT", studyDate: "20240131",
			extra: []rel{str(0x00080030, "TM", "235959.5")}}),
		makeInst(inst{study: "1.2.24", series: "1.2.24.1", sop: "1.2.24.1.1", modality: "CT", studyDate: "20240201",
			extra: []rel{str(0x00080030, "TM", "0800")}}),
		makeInst(inst{study: "1.2.25", series: "1.2.25.1", sop: "1.2.25.1.1", modality: "CT"}),
	)
	tests := []struct {
		q    string
		want int
	}{
		{"StudyDate=20240101-20240131", 1},
		{"StudyDate=20240131-20240201", 2},
		{"StudyDate=-20240131", 1},
		{"StudyDate=20240201-", 1},
		{"StudyDate=20240131", 1},
		{"StudyDate=20240131%5C20240201", 2},
		{"StudyTime=0700-0900", 1},
		{"StudyTime=2359-", 1},
		{"StudyTime=-075959", 0},
		{"StudyDate=", 3},
	}
	for _, tt := range tests {
		resp, res := qido(t, f.base+"/studies?"+tt.q)
		if !qidoOK(resp, res, tt.want) {
			t.Errorf("%s: status %d, %d results, want %d", tt.q, resp.StatusCode, len(res), tt.want)
		}
	}
}

// PS3.18 §8.3.3.1 (Accept query parameter): "accept" in the query string
// replaces the Accept header field. query.Parse collects Request.Accept "for
// the caller's content negotiation", but search.go never looks at it, so a
// request for XML only (accept=application/dicom+xml) gets a 200 JSON
// answer instead of the 406 the same request gets with an Accept header.
func TestQIDOAcceptQueryParameter(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{})
	mustStow(t, f, makeInst(inst{study: "1.2.26", series: "1.2.26.1", sop: "1.2.26.1.1", modality: "CT"}))
	resp, _ := get(t, f.base+"/studies", "Accept", "application/dicom+xml")
	if resp.StatusCode != 406 {
		t.Fatalf("Accept header XML only: %d, want 406", resp.StatusCode)
	}
	resp, b := get(t, f.base+"/studies?accept=application%2Fdicom%2Bxml")
	if resp.StatusCode != 406 {
		t.Errorf("accept=application/dicom+xml query parameter: %d %.60s, want 406", resp.StatusCode, b)
	}
	resp, _ = get(t, f.base+"/studies?accept=application%2Fdicom%2Bjson", "Accept", "application/dicom+xml")
	if resp.StatusCode != 200 {
		t.Errorf("accept=application/dicom+json query parameter overriding an XML Accept header: %d, want 200", resp.StatusCode)
	}
}
