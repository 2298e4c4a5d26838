package dicomweb_test

// WADO-RS frames through the HTTP handlers, against PS3.18 §8.7.3 (first
// written as a review probe).

import (
	"encoding/json"
	"mime"
	"testing"

	"github.com/minipacs/minipacs/dicomweb"
)

// PS3.18 §8.7.3 (Accept), RFC 9110 §12.5.1: a client that accepts only
// single-part application/octet-stream frames must get that media type or
// 406 — never image/jpeg. frames.go negotiateFrames/pickFrameSyntax returns
// the stored media type (image/jpeg) for lossy data under an
// application/octet-stream choice, and the single-part path sends it.
func TestFramesSinglePartOctetStreamOnLossyJPEG(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{})
	mustStow(t, f, file(t, "test_files/JPEG-lossy.dcm"))
	_, res := qido(t, f.base+"/instances")
	if len(res) != 1 {
		t.Fatalf("%d instances", len(res))
	}
	u := func(tag string) string {
		var s string
		json.Unmarshal(jsonValues(t, res[0], tag)[0], &s)
		return s
	}
	url := f.base + "/studies/" + u("0020000D") + "/series/" + u("0020000E") + "/instances/" + u("00080018") + "/frames/1"
	resp, _ := get(t, url, "Accept", "application/octet-stream")
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != 406 && !(resp.StatusCode == 200 && mt == "application/octet-stream") {
		t.Errorf("Accept: application/octet-stream: %d %q, want 406 or application/octet-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
