package dicomweb_test

// WADO-RS metadata through the HTTP handlers, against PS3.18 (first
// written as review probes: each test names the clause it checks).

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/minipacs/minipacs/dicomweb"
)

// Reference "WADO-RS": strong ETags on metadata with 304. A series'
// metadata changes when an instance is added, so its ETag must change.
func TestMetadataETagFollowsContent(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{})
	mustStow(t, f, makeInst(inst{study: "1.2.18", series: "1.2.18.1", sop: "1.2.18.1.1", modality: "CT"}))
	url := f.base + "/studies/1.2.18/series/1.2.18.1/metadata"
	resp, b := get(t, url)
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || etag == "" {
		t.Fatalf("metadata: %d, ETag %q", resp.StatusCode, etag)
	}
	var arr []json.RawMessage
	if err := json.Unmarshal(b, &arr); err != nil || len(arr) != 1 {
		t.Fatalf("metadata: %v %s", err, b)
	}
	mustStow(t, f, makeInst(inst{study: "1.2.18", series: "1.2.18.1", sop: "1.2.18.1.2", modality: "CT"}))
	resp, b = get(t, url, "If-None-Match", etag)
	if resp.StatusCode != 200 || resp.Header.Get("ETag") == etag {
		t.Fatalf("after a new instance: %d, ETag %q (was %q)", resp.StatusCode, resp.Header.Get("ETag"), etag)
	}
	if err := json.Unmarshal(b, &arr); err != nil || len(arr) != 2 {
		t.Fatalf("metadata after a new instance: %v, %d objects", err, len(arr))
	}
}

// Reference "WADO-RS": bulkdata is served at the URIs handed out in the
// metadata, including those of values inside sequences (waveform data).
func TestBulkDataURIsResolve(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{})
	mustStow(t, f, file(t, "test_files/waveform_ecg.dcm"))
	_, res := qido(t, f.base+"/instances")
	if len(res) != 1 {
		t.Fatalf("%d instances", len(res))
	}
	var st, se, sop string
	json.Unmarshal(jsonValues(t, res[0], "0020000D")[0], &st)
	json.Unmarshal(jsonValues(t, res[0], "0020000E")[0], &se)
	json.Unmarshal(jsonValues(t, res[0], "00080018")[0], &sop)
	_, b := get(t, f.base+"/studies/"+st+"/series/"+se+"/instances/"+sop+"/metadata")
	var uris []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, y := range x {
				if k == "BulkDataURI" {
					uris = append(uris, y.(string))
				}
				walk(y)
			}
		case []any:
			for _, y := range x {
				walk(y)
			}
		}
	}
	var md any
	if err := json.Unmarshal(b, &md); err != nil {
		t.Fatal(err)
	}
	walk(md)
	nested := 0
	for _, u := range uris {
		if strings.Count(u[strings.Index(u, "/bulkdata/"):], "/") > 2 {
			nested++
		}
		resp, body := get(t, u, "Accept", `multipart/related; type="application/octet-stream"`)
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", u, resp.StatusCode)
			continue
		}
		if parts := readParts(t, resp, body); len(parts) != 1 || len(parts[0].body) == 0 {
			t.Errorf("%s: %d parts", u, len(parts))
		}
	}
	if nested == 0 {
		t.Errorf("no BulkDataURI into a sequence among %q", uris)
	}
}
