package dicomweb_test

// Routing of the DICOMweb handlers: methods and paths (first written as a
// review probe).

import (
	"net/http"
	"testing"

	"github.com/minipacs/minipacs/dicomweb"
)

// Reference "Other statuses": method not allowed on a path is 405 with
// Allow (RFC 9110 §15.5.6: the origin server MUST generate an Allow header).
func TestMethodNotAllowed(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{})
	for _, tt := range []struct{ method, path string }{
		{"PUT", "/studies"},
		{"PATCH", "/studies/1.2.3"},
		{"POST", "/studies/1.2.3/metadata"},
		{"DELETE", "/studies"},
	} {
		req, _ := http.NewRequest(tt.method, f.base+tt.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 || resp.Header.Get("Allow") == "" {
			t.Errorf("%s %s: %d, Allow %q; want 405 with Allow", tt.method, tt.path, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
}
