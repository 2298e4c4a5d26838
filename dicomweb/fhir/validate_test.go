package fhir

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// validator is the node script that validates FHIR R4 JSON with the fhir
// npm package (scripts/install-deps runs npm ci in its folder).
const validator = "testdata/validate/validate.js"

// validate runs the independent validator on the files and returns its
// output and whether it passed.
func validate(t *testing.T, files ...string) (string, bool) {
	t.Helper()
	if _, err := os.Stat("testdata/validate/node_modules/fhir"); err != nil {
		t.Fatalf("the fhir npm package is not installed (scripts/install-deps: npm ci in testdata/validate): %v", err)
	}
	out, err := exec.Command("node", append([]string{validator}, files...)...).CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("node: %v", err)
		}
	}
	return string(out), err == nil
}

// TestValidateR4 validates every kind of resource the facade answers
// (CapabilityStatement, Patient, ImagingStudy, Endpoint, ServiceRequest,
// DiagnosticReport, Bundle with its entries, OperationOutcome of each
// error) with an independent R4 validator; a broken resource must fail it.
func TestValidateR4(t *testing.T) {
	base := serve(t, Config{Records: testRecords(t), Location: zoneNY})
	dir := t.TempDir()
	var files []string
	for i, tc := range []struct {
		method, path, accept string
		kind                 string
	}{
		{"GET", "/fhir/metadata", "", "CapabilityStatement"},
		{"GET", "/fhir/Patient/" + ctPatient, "", "Patient"},
		{"GET", "/fhir/Patient/" + ecgPatient, "", "Patient"},
		{"GET", "/fhir/Patient/" + rtPatient, "", "Patient"},
		{"GET", "/fhir/Patient/" + jpPatient, "", "Patient"},
		{"GET", "/fhir/ImagingStudy/" + ctStudy, "", "ImagingStudy"},
		{"GET", "/fhir/ImagingStudy/" + ecgStudy, "", "ImagingStudy"},
		{"GET", "/fhir/ImagingStudy/" + rtStudy, "", "ImagingStudy"},
		{"GET", "/fhir/Endpoint/dicomweb", "", "Endpoint"},
		{"GET", "/fhir/Patient?colour=blue&_count=3", "", "Bundle"},
		{"GET", "/fhir/ImagingStudy", "", "Bundle"},
		{"GET", "/fhir/ImagingStudy?modality=XX", "", "Bundle"},
		{"GET", "/fhir/Endpoint", "", "Bundle"},
		{"GET", "/fhir/ServiceRequest/" + srMR, "", "ServiceRequest"},
		{"GET", "/fhir/ServiceRequest/" + srCT, "", "ServiceRequest"},
		{"GET", "/fhir/ServiceRequest/" + srMRDone, "", "ServiceRequest"},
		{"GET", "/fhir/ServiceRequest/" + srLong, "", "ServiceRequest"},
		{"GET", "/fhir/DiagnosticReport/" + drMR, "", "DiagnosticReport"},
		{"GET", "/fhir/DiagnosticReport/" + drCT, "", "DiagnosticReport"},
		{"GET", "/fhir/ServiceRequest?colour=blue", "", "Bundle"},
		{"GET", "/fhir/DiagnosticReport?patient=" + mrPatient, "", "Bundle"},
		{"GET", "/fhir/DiagnosticReport?identifier=nothing", "", "Bundle"},
		{"GET", "/fhir/DiagnosticReport", "", "OperationOutcome"},
		{"GET", "/fhir/ServiceRequest?status=scheduled", "", "OperationOutcome"},
		{"GET", "/fhir/DiagnosticReport/" + drLong, "", "OperationOutcome"},
		{"GET", "/fhir/Patient/" + PatientLogicalID(PatientKey{ID: "nobody"}), "", "OperationOutcome"},
		{"GET", "/fhir/Patient?birthdate=2001-13", "", "OperationOutcome"},
		{"GET", "/fhir/metadata", "application/xml", "OperationOutcome"},
		{"DELETE", "/fhir/Patient/" + ctPatient, "", "OperationOutcome"},
	} {
		r := get(t, tc.method, base+tc.path, "Accept", tc.accept)
		if got := path(r.obj, "resourceType"); got != tc.kind {
			t.Fatalf("%s %s: %v, want %s", tc.method, tc.path, got, tc.kind)
		}
		f := filepath.Join(dir, fmt.Sprintf("%s-%02d.json", tc.kind, i))
		if err := os.WriteFile(f, r.body, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if out, ok := validate(t, files...); !ok {
		t.Errorf("R4 validation failed:\n%s", out)
	}

	// The validator can fail: a Patient with a bad gender and an
	// ImagingStudy without its status and subject.
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"resourceType":"Bundle","type":"searchset","entry":[{"fullUrl":"http://x/fhir/Patient/a","resource":{"resourceType":"Patient","id":"a","gender":"M"}},{"resource":{"resourceType":"ImagingStudy","id":"1.2"}}]}`), 0o644)
	out, ok := validate(t, bad)
	if ok || !strings.Contains(out, "gender") || !strings.Contains(out, "status") || !strings.Contains(out, "subject") {
		t.Errorf("the validator passed a broken Bundle:\n%s", out)
	}
	// Nor does it pass a ServiceRequest without intent and with a bad
	// status, or a DiagnosticReport without code.
	os.WriteFile(bad, []byte(`{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"ServiceRequest","id":"a","status":"scheduled","subject":{"reference":"Patient/x"}}},{"resource":{"resourceType":"DiagnosticReport","id":"b","status":"final"}}]}`), 0o644)
	out, ok = validate(t, bad)
	if ok || !strings.Contains(out, "intent") || !strings.Contains(out, "status") || !strings.Contains(out, "code") {
		t.Errorf("the validator passed a broken Bundle:\n%s", out)
	}
}
