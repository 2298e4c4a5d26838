package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/fhir"
)

// TestFHIRThroughBinary checks the FHIR facade of the real binary: the
// CapabilityStatement is public, the resources need a reader's
// credential, a reader restricted to one patient sees only it, writes
// are 405, and the Endpoint points at --base-url.
func TestFHIRThroughBinary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	adminTok, adminLine := secMakeToken(t, "all", "admin")
	rTok, rLine := secMakeToken(t, "restricted", "reader", "--patients", "4MR1")
	tokens := secWriteFile(t, dir, "tokens", adminLine, rLine)
	s := startSecServer(t, filepath.Join(dir, "data"), nil, "--api-tokens", tokens, "--base-url", "https://pacs.example/dicomweb")

	corpus, err := corpusDir()
	if err != nil {
		t.Fatal(err)
	}
	var parts [][]byte
	for _, f := range []string{"CT_small.dcm", "MR_small.dcm"} {
		b, err := os.ReadFile(filepath.Join(corpus, "test_files", f))
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, b)
	}
	body, ctype := multipartBody(parts...)
	if r := s.must(t, "POST", "/dicomweb/studies", secHdr("Authorization", bearer(adminTok), "Content-Type", ctype, "Accept", "application/dicom+json"), body); r.status != 200 {
		t.Fatalf("STOW: %s", r)
	}
	ct := fhir.PatientLogicalID(fhir.PatientKey{ID: "1CT1"})
	mr := fhir.PatientLogicalID(fhir.PatientKey{ID: "4MR1"})
	ids := func(b []byte) string {
		var bundle struct {
			Entry []struct {
				Resource struct{ ID string }
			}
		}
		json.Unmarshal(b, &bundle)
		var out []string
		for _, e := range bundle.Entry {
			out = append(out, e.Resource.ID)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		method, path, tok string
		status            int
		want              string // substring of the body
	}{
		{"GET", "/fhir/metadata", "", 200, `"fhirVersion":"4.0.1"`},
		{"GET", "/fhir/Patient", "", 401, ""},
		{"GET", "/fhir/Patient?_count=10", adminTok, 200, ct},
		{"GET", "/fhir/Patient?_count=10", adminTok, 200, mr},
		{"GET", "/fhir/Patient", rTok, 200, `"total":1`},
		{"GET", "/fhir/Patient/" + ct, rTok, 404, "OperationOutcome"},
		{"GET", "/fhir/ImagingStudy?patient=" + mr, rTok, 200, `"total":1`},
		{"GET", "/fhir/Endpoint/dicomweb", rTok, 200, `"address":"https://pacs.example/dicomweb"`},
		{"GET", "/fhir/ImagingStudy", adminTok, 200, `"fullUrl":"https://pacs.example/fhir/ImagingStudy/`},
		{"DELETE", "/fhir/Patient/" + mr, rTok, 405, "OperationOutcome"},
	} {
		hdr := secHdr()
		if tc.tok != "" {
			hdr = secHdr("Authorization", bearer(tc.tok))
		}
		r := s.must(t, tc.method, tc.path, hdr, nil)
		if r.status != tc.status || !strings.Contains(string(r.body), tc.want) {
			t.Errorf("%s %s: %s, want %d with %q", tc.method, tc.path, r, tc.status, tc.want)
		}
	}
	if got := ids(s.must(t, "GET", "/fhir/Patient", secHdr("Authorization", bearer(rTok)), nil).body); got != mr {
		t.Errorf("restricted Patient search: %q, want only %q", got, mr)
	}
}
