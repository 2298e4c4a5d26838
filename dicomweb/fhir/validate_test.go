package fhir

import (
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
// (CapabilityStatement, Patient, ImagingStudy, Endpoint, Bundle with its
// entries, OperationOutcome of each error) with an independent R4
// validator; a broken resource must fail it.
func TestValidateR4(t *testing.T) {
	base := serve(t, Config{})
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
		{"GET", "/fhir/Patient/" + PatientLogicalID(PatientKey{ID: "nobody"}), "", "OperationOutcome"},
		{"GET", "/fhir/Patient?birthdate=2001-13", "", "OperationOutcome"},
		{"GET", "/fhir/metadata", "application/xml", "OperationOutcome"},
		{"DELETE", "/fhir/Patient/" + ctPatient, "", "OperationOutcome"},
	} {
		r := get(t, tc.method, base+tc.path, "Accept", tc.accept)
		if got := path(r.obj, "resourceType"); got != tc.kind {
			t.Fatalf("%s %s: %v, want %s", tc.method, tc.path, got, tc.kind)
		}
		f := filepath.Join(dir, tc.kind+"-"+string(rune('a'+i))+".json")
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
}
