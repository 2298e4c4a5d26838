package fhir

import (
	"context"
	"encoding/base64"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb/archive/report"
	"github.com/minipacs/minipacs/dicomweb/archive/worklist"
	"github.com/minipacs/minipacs/index"
)

// zoneNY is the zone of the order start times in the tests.
var zoneNY = time.FixedZone("EST", -5*3600)

// longPlacer and longReport are keys over 48 bytes: their ids are hashed.
var (
	longPlacer = strings.Repeat("9", 50)
	longReport = "R-" + strings.Repeat("7", 58)
)

// Ids of the HL7 records of testRecords.
var (
	srMR     = ServiceRequestID("PL1", "S1")
	srCT     = ServiceRequestID("PL2", "S1")
	srMRDone = ServiceRequestID("PL3", "S2")
	srLong   = ServiceRequestID(longPlacer, "S1")
	drMR     = DiagnosticReportID("FI1")
	drCT     = DiagnosticReportID("FI2")
	drMRCanc = DiagnosticReportID("FI3")
	drLong   = DiagnosticReportID(longReport)
)

const reportText = "Findings: no acute abnormality.\nImpression: normal MR of the brain (Ünal)."

// testRecords returns the Records of worklist orders and reports stored
// through the archive services in a new index: the MR patient (4MR1) and
// the CT patient (1CT1) of the test archive, and a patient with an issuer
// whose order key is long.
func testRecords(t *testing.T) Records {
	t.Helper()
	ctx := context.Background()
	idx, err := index.Open(ctx, filepath.Join(t.TempDir(), "index.db"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	wl, rp := worklist.New(idx), report.New(idx)
	for _, o := range []worklist.Order{
		{PlacerOrder: "PL1", FillerOrder: "FI1", StepID: "S1", AccessionNumber: "ACC1", PatientID: "4MR1",
			PatientName: "CompressedSamples^MR1", RequestedProcedureDescription: "MR Brain w/o contrast",
			ReferringPhysicianName: "Smith^John^^Dr", Modality: "MR", StartDate: "20261207", StartTime: "083000",
			StudyInstanceUID: mrStudy},
		{PlacerOrder: "PL2", FillerOrder: "FI2", StepID: "S1", AccessionNumber: "ACC2", PatientID: "1CT1",
			PatientName: "CompressedSamples^CT1", StepDescription: "CT Chest", StartDate: "20261208", Status: worklist.Discontinued},
		{PlacerOrder: "PL3", StepID: "S2", AccessionNumber: "ACC3", PatientID: "4MR1", Status: worklist.Completed},
		{PlacerOrder: longPlacer, StepID: "S1", PatientID: "PX", IssuerOfPatientID: "urn:oid:1.2.3.4", Status: worklist.InProgress},
	} {
		if _, err := wl.Put(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	observed := time.Date(2026, 12, 7, 9, 15, 0, 0, zoneNY)
	for _, r := range []report.Report{
		{ID: "FI1", AccessionNumber: "ACC1", StudyInstanceUID: mrStudy, PatientID: "4MR1", PatientName: "CompressedSamples^MR1",
			Code: "MRBRAIN", Title: "MR Brain report", Status: report.Final, Text: reportText,
			Observed: observed, Issued: observed.Add(2 * time.Hour), Author: "Radiologist^Rita"},
		{ID: "FI2", AccessionNumber: "ACC2", PatientID: "1CT1", Code: "CTCHEST", Status: report.Preliminary},
		{ID: "FI3", AccessionNumber: "ACC1", PatientID: "4MR1", Status: report.Cancelled, Text: "Cancelled."},
		{ID: longReport, StudyInstanceUID: mrStudy, PatientID: "4MR1", Status: report.Corrected, Text: "Corrected."},
	} {
		if err := rp.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	return NewRecords(wl, rp, zoneNY)
}

func TestRecordIDs(t *testing.T) {
	for _, id := range []string{srMR, srLong, drMR, drLong} {
		if len(id) == 0 || len(id) > 64 || strings.Trim(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.") != "" {
			t.Errorf("id %q is not a FHIR id", id)
		}
	}
	if raw, hashed, ok := parseKeyID(srMR); !ok || hashed || raw != "PL1\x00S1" {
		t.Errorf("ServiceRequest id %q: %q %v %v", srMR, raw, hashed, ok)
	}
	if _, hashed, ok := parseKeyID(srLong); !ok || !hashed {
		t.Errorf("long ServiceRequest id %q not hashed", srLong)
	}
}

func TestRecordsRead(t *testing.T) {
	base := serve(t, Config{Records: testRecords(t)})
	for _, tc := range []struct {
		path   string
		status int
		checks map[string]any
	}{
		{"/fhir/ServiceRequest/" + srMR, 200, map[string]any{"resourceType": "ServiceRequest", "id": srMR,
			"status": "active", "intent": "order", "code.text": "MR Brain w/o contrast",
			"subject.reference": "Patient/" + mrPatient, "subject.display": "MR1 CompressedSamples",
			"occurrenceDateTime": "2026-12-07T08:30:00-05:00", "requester.display": "Dr John Smith",
			"identifier.0.value": "PL1", "identifier.0.type.coding.0.code": "PLAC",
			"identifier.0.type.coding.0.system": systemV2_0203,
			"identifier.1.value":                "FI1", "identifier.1.type.coding.0.code": "FILL",
			"identifier.2.value": "ACC1", "identifier.2.type.coding.0.code": "ACSN"}},
		{"/fhir/ServiceRequest/" + srCT, 200, map[string]any{"status": "revoked", "code.text": "CT Chest",
			"occurrenceDateTime": "2026-12-08", "requester": nil, "subject.reference": "Patient/" + ctPatient}},
		{"/fhir/ServiceRequest/" + srMRDone, 200, map[string]any{"status": "completed", "code": nil, "occurrenceDateTime": nil}},
		{"/fhir/ServiceRequest/" + srLong, 200, map[string]any{"status": "active", "identifier.0.value": longPlacer,
			"subject.reference": "Patient/" + PatientLogicalID(PatientKey{ID: "PX", Issuer: "urn:oid:1.2.3.4"})}},
		{"/fhir/ServiceRequest/" + ServiceRequestID("PL1", "S9"), 404, map[string]any{"issue.0.code": "not-found"}},
		{"/fhir/ServiceRequest/" + keyID("PL1"), 404, nil},
		{"/fhir/ServiceRequest/h" + strings.Repeat("0", 40), 404, nil},
		{"/fhir/ServiceRequest/not_an_id", 404, nil},
		{"/fhir/DiagnosticReport/" + drMR, 200, map[string]any{"resourceType": "DiagnosticReport", "id": drMR,
			"status": "final", "code.text": "MR Brain report", "code.coding.0.system": "http://loinc.org",
			"code.coding.0.code": "18748-4", "category.0.coding.0.code": "RAD",
			"subject.reference": "Patient/" + mrPatient, "effectiveDateTime": "2026-12-07T09:15:00-05:00",
			"issued": "2026-12-07T11:15:00-05:00", "resultsInterpreter.0.display": "Rita Radiologist",
			"imagingStudy.0.reference": "ImagingStudy/" + mrStudy,
			"identifier.0.value":       "FI1", "identifier.1.value": "ACC1", "identifier.1.type.coding.0.code": "ACSN",
			"presentedForm.0.contentType": "text/plain; charset=utf-8",
			"presentedForm.0.data":        base64.StdEncoding.EncodeToString([]byte(reportText)),
			"presentedForm.0.size":        float64(len(reportText))}},
		{"/fhir/DiagnosticReport/" + drCT, 200, map[string]any{"status": "preliminary", "code.text": "CTCHEST",
			"imagingStudy": nil, "presentedForm": nil, "effectiveDateTime": nil, "subject.display": nil}},
		// A report ID over 48 bytes has a hashed id that a read cannot
		// resolve (the reports cannot be listed); a search gives it.
		{"/fhir/DiagnosticReport/" + drLong, 404, nil},
		{"/fhir/DiagnosticReport/" + DiagnosticReportID("FI9"), 404, map[string]any{"issue.0.code": "not-found"}},
	} {
		r := get(t, "GET", base+tc.path)
		if r.status != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.path, r.status, tc.status, r.body)
			continue
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
	r := get(t, "GET", base+"/fhir/metadata")
	var types []string
	for i := 0; path(r.obj, "rest", 0, "resource", i) != nil; i++ {
		types = append(types, path(r.obj, "rest", 0, "resource", i, "type").(string))
	}
	if !slices.Equal(types, []string{"DiagnosticReport", "Endpoint", "ImagingStudy", "Patient", "ServiceRequest"}) {
		t.Errorf("CapabilityStatement types %v", types)
	}
	if n, _ := path(r.obj, "rest", 0, "resource", 4, "searchParam").([]any); len(n) != 4 {
		t.Errorf("ServiceRequest search parameters: %v", n)
	}
}

func TestRecordsSearch(t *testing.T) {
	base := serve(t, Config{Records: testRecords(t)})
	for _, tc := range []struct {
		query  string
		status int
		want   []string
		warn   bool
	}{
		{"ServiceRequest", 200, sorted(srMR, srCT, srMRDone, srLong), false},
		{"ServiceRequest?patient=" + mrPatient, 200, sorted(srMR, srMRDone), false},
		{"ServiceRequest?patient=Patient/" + ctPatient + "," + mrPatient, 200, sorted(srMR, srCT, srMRDone), false},
		{"ServiceRequest?patient=" + PatientLogicalID(PatientKey{ID: "PX"}), 200, nil, false},
		{"ServiceRequest?patient=Group/1", 400, nil, false},
		{"ServiceRequest?status=active", 200, sorted(srMR, srLong), false},
		{"ServiceRequest?status=" + systemRequestStatus + "|revoked,completed", 200, sorted(srCT, srMRDone), false},
		{"ServiceRequest?status=scheduled", 400, nil, false},
		{"ServiceRequest?status=http://x|active", 400, nil, false},
		{"ServiceRequest?identifier=ACC2", 200, sorted(srCT), false},
		{"ServiceRequest?identifier=|PL1", 200, sorted(srMR), false},
		{"ServiceRequest?identifier=FI1", 200, sorted(srMR), false},
		{"ServiceRequest?identifier=urn:oid:1.2|PL1", 200, nil, false},
		{"ServiceRequest?_id=" + srLong, 200, sorted(srLong), false},
		{"ServiceRequest?patient=" + mrPatient + "&status=completed", 200, sorted(srMRDone), false},
		{"ServiceRequest?status:not=active", 400, nil, false},
		{"ServiceRequest?occurrence=2026&patient=" + ctPatient, 200, sorted(srCT), true},
		{"DiagnosticReport?patient=" + mrPatient, 200, sorted(drMR, drMRCanc, drLong), false},
		{"DiagnosticReport?patient=" + mrPatient + "&status=final,corrected", 200, sorted(drMR, drLong), false},
		{"DiagnosticReport?patient=" + ctPatient, 200, sorted(drCT), false},
		{"DiagnosticReport?identifier=ACC1", 200, sorted(drMR, drMRCanc), false},
		{"DiagnosticReport?identifier=FI2", 200, sorted(drCT), false},
		{"DiagnosticReport?identifier=ACC1&status=cancelled", 200, sorted(drMRCanc), false},
		{"DiagnosticReport?identifier=http://x|ACC1", 200, nil, false},
		{"DiagnosticReport?_id=" + drMR + "," + drCT, 200, sorted(drMR, drCT), false},
		{"DiagnosticReport?_id=" + drMR + "&patient=" + ctPatient, 200, nil, false},
		{"DiagnosticReport?status=final", 400, nil, false},
		{"DiagnosticReport", 400, nil, false},
		{"DiagnosticReport?patient=" + mrPatient + "&status=done", 400, nil, false},
		{"DiagnosticReport?identifier=ACC2&colour=blue", 200, sorted(drCT), true},
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
	// Paging: two pages of the four orders.
	r := get(t, "GET", base+"/fhir/ServiceRequest?_count=3")
	if len(matchIDs(t, r)) != 3 || path(r.obj, "total") != nil || path(r.obj, "link", 1, "relation") != "next" {
		t.Errorf("first page: %s", r.body)
	}
	r = get(t, "GET", path(r.obj, "link", 1, "url").(string))
	if len(matchIDs(t, r)) != 1 || path(r.obj, "total") != 4.0 {
		t.Errorf("second page: %s", r.body)
	}
}

// TestRecordsRestrictionAndAudit: a reader restricted to the MR patient
// sees only its orders and reports; each request is audited with the
// patients it touched.
func TestRecordsRestrictionAndAudit(t *testing.T) {
	rec := &recorder{}
	onlyMR := func(ctx context.Context) func(id, issuer string) bool {
		return func(id, issuer string) bool { return id == "4MR1" && issuer == "" }
	}
	base := serve(t, Config{PatientFilter: onlyMR, Auditor: rec, Records: testRecords(t)})
	for _, tc := range []struct {
		path   string
		status int
		want   []string
	}{
		{"/fhir/ServiceRequest", 200, sorted(srMR, srMRDone)},
		{"/fhir/ServiceRequest?identifier=ACC2", 200, nil},
		{"/fhir/DiagnosticReport?identifier=ACC1,ACC2", 200, sorted(drMR, drMRCanc)},
		{"/fhir/DiagnosticReport?patient=" + ctPatient, 200, nil},
		{"/fhir/ServiceRequest/" + srMR, 200, nil},
		{"/fhir/ServiceRequest/" + srCT, 404, nil},
		{"/fhir/ServiceRequest/" + srLong, 404, nil},
		{"/fhir/DiagnosticReport/" + drCT, 404, nil},
		{"/fhir/DiagnosticReport/" + drMR, 200, nil},
		{"/fhir/DiagnosticReport", 400, nil},
	} {
		r := get(t, "GET", base+tc.path)
		if r.status != tc.status {
			t.Errorf("%s: %d, want %d", tc.path, r.status, tc.status)
		}
		if path(r.obj, "resourceType") == "Bundle" && !slices.Equal(matchIDs(t, r), tc.want) {
			t.Errorf("%s: %v, want %v", tc.path, matchIDs(t, r), tc.want)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.events) != 10 {
		t.Fatalf("%d events, want 10: %+v", len(rec.events), rec.events)
	}
	if ev := rec.events[0]; ev.Kind != AccessSearched || ev.Resource != "ServiceRequest" || ev.Status != 200 ||
		len(ev.Studies) != 2 || ev.Studies[0].PatientID != "4MR1" || ev.Studies[0].AccessionNumber != "ACC1" ||
		ev.Studies[0].StudyUID != mrStudy || ev.Query != "/fhir/ServiceRequest" {
		t.Errorf("search event %+v", ev)
	}
	if ev := rec.events[2]; len(ev.Studies) != 2 || ev.Resource != "DiagnosticReport" {
		t.Errorf("report search event %+v", ev)
	}
	if ev := rec.events[5]; ev.Kind != AccessRead || ev.Status != 404 || len(ev.Studies) != 0 {
		t.Errorf("refused read event %+v", ev)
	}
	if ev := rec.events[8]; ev.Kind != AccessRead || ev.Status != 200 || len(ev.Studies) != 1 ||
		ev.Studies[0].StudyUID != mrStudy || ev.Studies[0].PatientName != "CompressedSamples^MR1" {
		t.Errorf("read event %+v", ev)
	}
	if ev := rec.events[9]; ev.Kind != AccessSearched || ev.Status != 400 {
		t.Errorf("refused search event %+v", ev)
	}
}
