package fhir

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/archive/ingest"
	"github.com/minipacs/minipacs/dicomweb/testkit/testcorpus"
	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/storage/disk"
)

// corpusFiles are the pydicom files of the test archive: five patients
// of test_files (CT, MR, NM, RT plan, ECG with a birth date and an
// accession number) and two of charset_files (a Latin-1 accented name
// and a Japanese one with ideographic groups).
var corpusFiles = []string{
	"test_files/CT_small.dcm", "test_files/MR_small.dcm", "test_files/JPEG2000.dcm",
	"test_files/rtplan.dcm", "test_files/waveform_ecg.dcm",
	"charset_files/chrFren.dcm", "charset_files/chrH31.dcm",
}

// Study Instance UIDs of the corpus files.
const (
	ctStudy  = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
	mrStudy  = "1.3.6.1.4.1.5962.1.2.4.20040826185059.5457"
	nmStudy  = "1.3.6.1.4.1.5962.1.2.8.20040826185059.5457"
	rtStudy  = "1.22.333.4.555555.6.7777777777777777777777777777"
	ecgStudy = "1.3.76.13.65829.2.20130125082826.1072139.2"
)

var (
	ctPatient  = PatientLogicalID(PatientKey{ID: "1CT1"})
	mrPatient  = PatientLogicalID(PatientKey{ID: "4MR1"})
	nmPatient  = PatientLogicalID(PatientKey{ID: "8NM1"})
	rtPatient  = PatientLogicalID(PatientKey{ID: "id00001"})
	ecgPatient = PatientLogicalID(PatientKey{ID: "642341"})
	frPatient  = PatientLogicalID(PatientKey{ID: "SCSFREN"})
	jpPatient  = PatientLogicalID(PatientKey{ID: "H31EXAMPLE"})
)

// testArchive is an index loaded with the corpus files through the real
// ingester, shared by the tests (read-only).
var testArchive = sync.OnceValues(func() (*index.Index, error) {
	dir, err := os.MkdirTemp("", "fhir-test")
	if err != nil {
		return nil, err
	}
	d, err := disk.Open(filepath.Join(dir, "store"))
	if err != nil {
		return nil, err
	}
	idx, err := index.Open(context.Background(), filepath.Join(dir, "index.db"), index.Options{})
	if err != nil {
		return nil, err
	}
	ing, err := ingest.New(d, idx, ingest.Config{SpoolDir: filepath.Join(dir, "spool")})
	if err != nil {
		return nil, err
	}
	corpus, err := testcorpus.Dir()
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	for _, name := range corpusFiles {
		f, err := os.Open(filepath.Join(corpus, name))
		if err != nil {
			return nil, err
		}
		b := ing.Begin(ctx, "")
		err = b.Add(ctx, f)
		f.Close()
		if err != nil {
			return nil, err
		}
		if res := b.Commit(ctx)[0]; res.Failure != 0 {
			return nil, res.Err
		}
	}
	return idx, nil
})

func archiveT(t *testing.T) *index.Index {
	t.Helper()
	idx, err := testArchive()
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

// serve runs the facade over the test archive on loopback.
func serve(t *testing.T, cfg Config) string {
	t.Helper()
	cfg.Index = archiveT(t)
	e := echo.New()
	New(cfg).Install(e)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv.URL
}

type response struct {
	status int
	ctype  string
	body   []byte
	obj    map[string]any
}

func get(t *testing.T, method, url string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), body: b}
	if err := json.Unmarshal(b, &r.obj); err != nil {
		t.Fatalf("%s %s: not JSON (%v): %s", method, url, err, b)
	}
	return r
}

// path walks a decoded JSON value: keys of objects, indexes of arrays.
func path(v any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

// matchIDs are the ids of the match entries of a searchset.
func matchIDs(t *testing.T, r response) []string {
	t.Helper()
	if path(r.obj, "resourceType") != "Bundle" || path(r.obj, "type") != "searchset" {
		t.Fatalf("not a searchset: %s", r.body)
	}
	var ids []string
	entries, _ := path(r.obj, "entry").([]any)
	for _, e := range entries {
		if path(e, "search", "mode") == "match" {
			ids = append(ids, path(e, "resource", "id").(string))
			if !strings.HasSuffix(path(e, "fullUrl").(string), "/"+path(e, "resource", "resourceType").(string)+"/"+ids[len(ids)-1]) {
				t.Errorf("fullUrl %v", path(e, "fullUrl"))
			}
		}
	}
	sort.Strings(ids)
	return ids
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	if len(s) == 0 {
		return nil
	}
	return s
}

func TestPatientIDs(t *testing.T) {
	long := PatientKey{ID: strings.Repeat("9", 40), Issuer: "urn:oid:1.2.3.4.5.6.7.8"}
	for _, k := range []PatientKey{{ID: "1CT1"}, {}, {ID: "a/b c?é", Issuer: "HOSP^A"}, {ID: strings.Repeat("x", 47)}, long} {
		id := PatientLogicalID(k)
		if len(id) == 0 || len(id) > 64 || strings.Trim(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.") != "" {
			t.Errorf("%q: id %q is not a FHIR id", k, id)
		}
		got, hashed, ok := parsePatientID(id)
		if !ok {
			t.Errorf("%q: id %q does not parse", k, id)
		}
		if len(k.raw()) <= maxDirectKey && (hashed || got != k) {
			t.Errorf("%q: id %q gives %q", k, id, got)
		}
		if len(k.raw()) > maxDirectKey && !hashed {
			t.Errorf("%q: id %q should be the hashed form", k, id)
		}
	}
	for _, bad := range []string{"", "A", "AAAA", "h12", "AB_C", strings.Repeat("A", 65), "QUI"} {
		if _, _, ok := parsePatientID(bad); ok {
			t.Errorf("%q parsed as a patient id", bad)
		}
	}
}

func TestRead(t *testing.T) {
	base := serve(t, Config{DICOMwebURL: "https://pacs.example/dicomweb"})
	for _, tc := range []struct {
		path   string
		status int
		checks map[string]any // JSON path ("a.0.b") to value
	}{
		{"/fhir/Patient/" + ctPatient, 200, map[string]any{"resourceType": "Patient", "gender": "other",
			"name.0.family": "CompressedSamples", "name.0.given.0": "CT1", "identifier.0.value": "1CT1"}},
		{"/fhir/Patient/" + ecgPatient, 200, map[string]any{"gender": "female", "birthDate": "1971-01-23"}},
		{"/fhir/Patient/" + rtPatient, 200, map[string]any{"name.0.family": "Last", "name.0.given.0": "First",
			"name.0.given.1": "mid", "name.0.prefix.0": "pre"}},
		{"/fhir/Patient/" + frPatient, 200, map[string]any{"name.0.given.0": "Jérôme", "gender": "unknown"}},
		{"/fhir/Patient/" + jpPatient, 200, map[string]any{"name.0.family": "Yamada"}},
		{"/fhir/Patient/" + PatientLogicalID(PatientKey{ID: "nobody"}), 404, map[string]any{"resourceType": "OperationOutcome", "issue.0.code": "not-found"}},
		{"/fhir/Patient/not-an-id", 404, map[string]any{"resourceType": "OperationOutcome"}},
		{"/fhir/ImagingStudy/" + ctStudy, 200, map[string]any{"resourceType": "ImagingStudy", "status": "available",
			"identifier.0.system": "urn:dicom:uid", "identifier.0.value": "urn:oid:" + ctStudy,
			"subject.reference": "Patient/" + ctPatient, "started": "2004-01-19T07:27:30-05:00",
			"numberOfSeries": 1.0, "numberOfInstances": 1.0, "modality.0.code": "CT",
			"modality.0.system": systemDCM, "endpoint.0.reference": "Endpoint/dicomweb",
			"series.0.modality.code": "CT", "series.0.number": 1.0, "series.0.numberOfInstances": 1.0,
			"series.0.instance.0.sopClass.code":   "urn:oid:1.2.840.10008.5.1.4.1.1.2",
			"series.0.instance.0.sopClass.system": "urn:ietf:rfc:3986"}},
		{"/fhir/ImagingStudy/" + ecgStudy, 200, map[string]any{"identifier.1.value": "03028041970546",
			"identifier.1.type.coding.0.code": "ACSN", "started": "2013-01-25"}},
		{"/fhir/ImagingStudy/1.2.3.4", 404, map[string]any{"resourceType": "OperationOutcome"}},
		{"/fhir/ImagingStudy/x_y", 404, nil},
		{"/fhir/Endpoint/dicomweb", 200, map[string]any{"resourceType": "Endpoint", "address": "https://pacs.example/dicomweb",
			"connectionType.code": "dicom-wado-rs", "payloadMimeType.0": "application/dicom", "status": "active"}},
		{"/fhir/Endpoint/other", 404, nil},
		{"/fhir/Observation/1", 404, map[string]any{"issue.0.code": "not-supported"}},
		{"/fhir/DiagnosticReport/1", 404, nil},
		{"/fhir/metadata", 200, map[string]any{"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1",
			"format.0": "json", "kind": "instance", "rest.0.resource.0.type": "Endpoint",
			"rest.0.resource.1.type": "ImagingStudy", "rest.0.resource.2.type": "Patient", "rest.0.resource.3": nil}},
	} {
		r := get(t, "GET", base+tc.path)
		if r.status != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.path, r.status, tc.status, r.body)
			continue
		}
		if !strings.HasPrefix(r.ctype, "application/fhir+json") {
			t.Errorf("%s: Content-Type %q", tc.path, r.ctype)
		}
		for p, want := range tc.checks {
			var keys []any
			for _, k := range strings.Split(p, ".") {
				if n, err := parseInt(k); err == nil {
					keys = append(keys, n)
				} else {
					keys = append(keys, k)
				}
			}
			if got := path(r.obj, keys...); got != want {
				t.Errorf("%s: %s = %v, want %v", tc.path, p, got, want)
			}
		}
	}
}

func parseInt(s string) (int, error) {
	n := 0
	if s == "" {
		return 0, io.EOF
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, io.EOF
		}
		n = n*10 + int(c-'0')
	}
	return n, nil
}

func TestSearch(t *testing.T) {
	base := serve(t, Config{})
	allPatients := sorted(ctPatient, mrPatient, nmPatient, rtPatient, ecgPatient, frPatient, jpPatient)
	for _, tc := range []struct {
		query  string
		status int
		want   []string // ids of the matches (sorted)
		warn   bool     // an OperationOutcome entry with a warning
	}{
		{"Patient", 200, allPatients, false},
		{"Patient?identifier=1CT1", 200, sorted(ctPatient), false},
		{"Patient?identifier=|1CT1", 200, sorted(ctPatient), false},
		{"Patient?identifier=urn:oid:1.2.3|1CT1", 200, nil, false},
		{"Patient?identifier=1CT1,4MR1", 200, sorted(ctPatient, mrPatient), false},
		{"Patient?_id=" + nmPatient, 200, sorted(nmPatient), false},
		{"Patient?name=compressed", 200, sorted(ctPatient, mrPatient, nmPatient), false},
		{"Patient?name=jerome", 200, sorted(frPatient), false},
		{"Patient?family=Compressed&given=MR", 200, sorted(mrPatient), false},
		{"Patient?family=CT1", 200, nil, false},
		{"Patient?given=mid", 200, sorted(rtPatient), false},
		{"Patient?gender=female", 200, sorted(mrPatient, ecgPatient), false},
		{"Patient?gender=male,other", 200, sorted(ctPatient, nmPatient, rtPatient), false},
		{"Patient?gender=unknown", 200, sorted(frPatient, jpPatient), false},
		{"Patient?gender=woman", 400, nil, false},
		{"Patient?birthdate=1971", 200, sorted(ecgPatient), false},
		{"Patient?birthdate=1971-01-23", 200, sorted(ecgPatient), false},
		{"Patient?birthdate=ge1971-01-24", 200, nil, false},
		{"Patient?birthdate=lt1972&birthdate=gt1970-12", 200, sorted(ecgPatient), false},
		{"Patient?birthdate=le1970", 200, nil, false},
		{"Patient?birthdate=1971-13", 400, nil, false},
		{"Patient?birthdate=sa1971", 400, nil, false},
		{"Patient?birthdate=1971-01-23T10:00:00Z", 400, nil, false},
		{"Patient?name:exact=Last", 400, nil, false},
		{"Patient?_count=x", 400, nil, false},
		{"Patient?identifier=1CT1&colour=blue", 200, sorted(ctPatient), true},
		{"Patient?_sort=name&identifier=4MR1", 200, sorted(mrPatient), true},
		{"ImagingStudy", 200, sorted(ctStudy, mrStudy, nmStudy, rtStudy, ecgStudy,
			"1.3.6.1.4.1.5962.1.2.0.1175775772.5720.0", "1.3.6.1.4.1.5962.1.2.0.1175775771.5702.0"), false},
		{"ImagingStudy?patient=Patient/" + mrPatient, 200, sorted(mrStudy), false},
		{"ImagingStudy?patient=" + ctPatient, 200, sorted(ctStudy), false},
		{"ImagingStudy?patient=http://x.example/fhir/Patient/" + nmPatient, 200, sorted(nmStudy), false},
		{"ImagingStudy?patient=Group/1", 400, nil, false},
		{"ImagingStudy?identifier=urn:dicom:uid|urn:oid:" + rtStudy, 200, sorted(rtStudy), false},
		{"ImagingStudy?identifier=urn:oid:" + rtStudy, 200, sorted(rtStudy), false},
		{"ImagingStudy?identifier=urn:oid:1..2", 400, nil, false},
		{"ImagingStudy?identifier=03028041970546", 200, sorted(ecgStudy), false},
		{"ImagingStudy?identifier=|03028041970546", 200, sorted(ecgStudy), false},
		{"ImagingStudy?identifier=http://acme|03028041970546", 200, nil, false},
		{"ImagingStudy?_id=" + ctStudy, 200, sorted(ctStudy), false},
		{"ImagingStudy?modality=MR", 200, sorted(mrStudy), false},
		{"ImagingStudy?modality=" + systemDCM + "|NM,CT", 200, sorted(ctStudy, nmStudy), false},
		{"ImagingStudy?modality=http://loinc.org|MR", 200, nil, false},
		{"ImagingStudy?started=2004-08-26", 200, sorted(mrStudy, nmStudy), false},
		{"ImagingStudy?started=ge2004&started=lt2013", 200, sorted(ctStudy, mrStudy, nmStudy), false},
		{"ImagingStudy?started=gt2004-08-26", 200, sorted(ecgStudy), false},
		{"ImagingStudy?started=ne2004", 200, sorted(rtStudy, ecgStudy), false},
		{"ImagingStudy?started=2004-02-30", 400, nil, false},
		{"ImagingStudy?started=2004&modality=MR&patient=" + mrPatient, 200, sorted(mrStudy), false},
		{"Endpoint", 200, sorted("dicomweb"), false},
		{"Endpoint?_id=x", 200, nil, false},
		{"Observation", 404, nil, false},
	} {
		r := get(t, "GET", base+"/fhir/"+tc.query)
		if r.status != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.query, r.status, tc.status, r.body)
			continue
		}
		if tc.status != 200 {
			if path(r.obj, "resourceType") != "OperationOutcome" {
				t.Errorf("%s: %s", tc.query, r.body)
			}
			continue
		}
		if got := matchIDs(t, r); !slices.Equal(got, tc.want) {
			t.Errorf("%s: matches %v, want %v", tc.query, got, tc.want)
		}
		if got := path(r.obj, "total"); got != float64(len(tc.want)) {
			t.Errorf("%s: total %v, want %d", tc.query, got, len(tc.want))
		}
		warned := path(r.obj, "entry", 0, "search", "mode") == "outcome" &&
			path(r.obj, "entry", 0, "resource", "issue", 0, "severity") == "warning"
		if warned != tc.warn {
			t.Errorf("%s: warning %v, want %v: %s", tc.query, warned, tc.warn, r.body)
		}
	}
}

// TestPaging follows next links with _count=2 over all patients: every
// patient once, each page at most 2, total only on the last page.
func TestPaging(t *testing.T) {
	base := serve(t, Config{})
	url := base + "/fhir/Patient?_count=2"
	var all []string
	pages := 0
	for url != "" && pages < 10 {
		r := get(t, "GET", url)
		pages++
		ids := matchIDs(t, r)
		if len(ids) > 2 {
			t.Fatalf("page of %d", len(ids))
		}
		all = append(all, ids...)
		url = ""
		links, _ := path(r.obj, "link").([]any)
		for _, l := range links {
			if path(l, "relation") == "next" {
				url = path(l, "url").(string)
			}
		}
		if (url == "") != (path(r.obj, "total") != nil) {
			t.Errorf("page %d: next %q with total %v", pages, url, path(r.obj, "total"))
		}
	}
	sort.Strings(all)
	if pages != 4 || len(all) != 7 || len(slices.Compact(slices.Clone(all))) != 7 {
		t.Errorf("%d pages, patients %v", pages, all)
	}
	if r := get(t, "GET", base+"/fhir/ImagingStudy?_count=0"); path(r.obj, "total") != 7.0 || path(r.obj, "entry") != nil {
		t.Errorf("_count=0: %s", r.body)
	}
	if r := get(t, "GET", base+"/fhir/ImagingStudy?_count=9999&_offset=6"); len(matchIDs(t, r)) != 1 ||
		!strings.Contains(path(r.obj, "link", 0, "url").(string), "_count=500") {
		t.Errorf("_count clamp / _offset: %s", r.body)
	}
}

func TestFormatAndMethods(t *testing.T) {
	base := serve(t, Config{})
	for _, tc := range []struct {
		method, path, accept string
		status               int
		ctype                string
	}{
		{"GET", "/fhir/metadata", "application/fhir+json", 200, "application/fhir+json"},
		{"GET", "/fhir/metadata", "application/json", 200, "application/json"},
		{"GET", "/fhir/metadata", "text/html, */*;q=0.1", 200, "application/fhir+json"},
		{"GET", "/fhir/metadata", "application/fhir+xml", 406, "application/fhir+json"},
		{"GET", "/fhir/Patient?_format=xml", "", 406, "application/fhir+json"},
		{"GET", "/fhir/Patient?_format=json", "application/xml", 200, "application/fhir+json"},
		{"GET", "/fhir/Endpoint/dicomweb?_format=application/json", "", 200, "application/json"},
		{"POST", "/fhir/Patient", "", 405, "application/fhir+json"},
		{"PUT", "/fhir/Patient/" + ctPatient, "", 405, "application/fhir+json"},
		{"DELETE", "/fhir/ImagingStudy/" + ctStudy, "", 405, "application/fhir+json"},
		{"POST", "/fhir", "", 405, "application/fhir+json"},
	} {
		r := get(t, tc.method, base+tc.path, "Accept", tc.accept)
		if r.status != tc.status || !strings.HasPrefix(r.ctype, tc.ctype) {
			t.Errorf("%s %s (Accept %q): %d %q, want %d %q", tc.method, tc.path, tc.accept, r.status, r.ctype, tc.status, tc.ctype)
		}
		if tc.status != 200 && path(r.obj, "resourceType") != "OperationOutcome" {
			t.Errorf("%s %s: %s", tc.method, tc.path, r.body)
		}
	}
}

type recorder struct {
	mu     sync.Mutex
	events []AccessEvent
}

func (r *recorder) Access(_ context.Context, _ *http.Request, ev AccessEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

// TestRestrictionAndAudit: a reader restricted to the MR patient sees
// only it, every other patient is 404; each patient-data request is
// audited once.
func TestRestrictionAndAudit(t *testing.T) {
	rec := &recorder{}
	onlyMR := func(ctx context.Context) func(id, issuer string) bool {
		return func(id, issuer string) bool { return id == "4MR1" && issuer == "" }
	}
	base := serve(t, Config{PatientFilter: onlyMR, Auditor: rec})
	for _, tc := range []struct {
		path   string
		status int
		want   []string
	}{
		{"/fhir/Patient", 200, sorted(mrPatient)},
		{"/fhir/Patient?gender=female", 200, sorted(mrPatient)},
		{"/fhir/ImagingStudy", 200, sorted(mrStudy)},
		{"/fhir/ImagingStudy?patient=" + ctPatient, 200, nil},
		{"/fhir/Patient/" + mrPatient, 200, nil},
		{"/fhir/Patient/" + ctPatient, 404, nil},
		{"/fhir/ImagingStudy/" + ctStudy, 404, nil},
		{"/fhir/ImagingStudy/" + mrStudy, 200, nil},
	} {
		r := get(t, "GET", base+tc.path)
		if r.status != tc.status {
			t.Errorf("%s: %d, want %d", tc.path, r.status, tc.status)
		}
		if path(r.obj, "resourceType") == "Bundle" && !slices.Equal(matchIDs(t, r), tc.want) {
			t.Errorf("%s: %v, want %v", tc.path, matchIDs(t, r), tc.want)
		}
	}
	get(t, "GET", base+"/fhir/metadata")
	get(t, "GET", base+"/fhir/Endpoint/dicomweb")
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.events) != 8 {
		t.Fatalf("%d events, want 8: %+v", len(rec.events), rec.events)
	}
	if ev := rec.events[2]; ev.Kind != AccessSearched || ev.Resource != "ImagingStudy" || ev.Status != 200 ||
		len(ev.Studies) != 1 || ev.Studies[0].StudyUID != mrStudy || ev.Query != "/fhir/ImagingStudy" {
		t.Errorf("search event %+v", ev)
	}
	if ev := rec.events[5]; ev.Kind != AccessRead || ev.Status != 404 || len(ev.Studies) != 0 {
		t.Errorf("refused read event %+v", ev)
	}
	if ev := rec.events[7]; ev.Kind != AccessRead || ev.Status != 200 || ev.Studies[0].PatientID != "4MR1" {
		t.Errorf("read event %+v", ev)
	}
}

// fakeRecords stands for the HL7 reports: one DiagnosticReport.
type fakeRecords struct{}

func (fakeRecords) Types() map[string]map[string]string {
	return map[string]map[string]string{"DiagnosticReport": {"patient": "reference"}}
}

func (fakeRecords) Read(_ context.Context, typ, id string, _ func(string, string) bool) (json.RawMessage, error) {
	if id != "r1" {
		return nil, errNotFound
	}
	return json.RawMessage(`{"resourceType":"DiagnosticReport","id":"r1","status":"final","code":{"text":"CT report"}}`), nil
}

func (f fakeRecords) Search(ctx context.Context, typ string, _ url.Values, allow func(string, string) bool, fn func(string, json.RawMessage) error) error {
	r, _ := f.Read(ctx, typ, "r1", allow)
	return fn("r1", r)
}

func TestRecords(t *testing.T) {
	base := serve(t, Config{Records: fakeRecords{}})
	r := get(t, "GET", base+"/fhir/metadata")
	if path(r.obj, "rest", 0, "resource", 0, "type") != "DiagnosticReport" || path(r.obj, "rest", 0, "resource", 3, "type") != "Patient" {
		t.Errorf("CapabilityStatement without DiagnosticReport: %s", r.body)
	}
	if r := get(t, "GET", base+"/fhir/DiagnosticReport/r1"); r.status != 200 || path(r.obj, "id") != "r1" {
		t.Errorf("read: %d %s", r.status, r.body)
	}
	if r := get(t, "GET", base+"/fhir/DiagnosticReport/r2"); r.status != 404 {
		t.Errorf("read r2: %d", r.status)
	}
	if r := get(t, "GET", base+"/fhir/DiagnosticReport?patient=x"); !slices.Equal(matchIDs(t, r), []string{"r1"}) {
		t.Errorf("search: %s", r.body)
	}
}
