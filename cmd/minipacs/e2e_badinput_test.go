package main_test

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strings"
	"testing"
)

// checkBadInput sends malformed requests: each must get its status code,
// with a text/plain error body marked nosniff, and store nothing.
func checkBadInput(t *testing.T, c *corpusRun) {
	ct := c.byRel("test_files/CT_small.dcm")
	ctOut := c.out[ct.rel]
	// A fresh instance (new SOP Instance UID) that the failing requests
	// carry: it must never become retrievable.
	fresh := replaceUID(t, ct.data, ctOut.uid, sameLengthUID(ctOut.uid, 900002))
	freshURL := c.s.url("/studies/" + ctOut.study + "/series/" + ctOut.series + "/instances/" + sameLengthUID(ctOut.uid, 900002))

	body, mct := multipartBody(fresh)
	boundary := mct[strings.LastIndex(mct, "=")+1:]
	noClose := bytes.TrimSuffix(body, []byte("--"+boundary+"--\r\n"))
	if bytes.Equal(noClose, body) {
		t.Fatal("could not cut the closing delimiter")
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(body)
	zw.Close()
	garbage := bytes.Repeat([]byte("this is not DICOM nor MIME\r\n"), 50)

	type hdr = map[string]string
	cases := []struct {
		name   string
		method string
		path   string
		header hdr
		body   []byte
		want   int
		// json is true when the answer is a STOW response data set rather
		// than a text/plain error.
		json bool
	}{
		{"content-type json", "POST", "/studies", hdr{"Content-Type": "application/json"}, []byte(`{}`), 415, false},
		{"content-type form-data", "POST", "/studies", hdr{"Content-Type": "multipart/form-data; boundary=" + boundary}, body, 415, false},
		{"content-type missing", "POST", "/studies", hdr{}, body, 415, false},
		{"content-encoding gzip", "POST", "/studies", hdr{"Content-Type": mct, "Content-Encoding": "gzip"}, gz.Bytes(), 415, false},
		{"multipart without boundary", "POST", "/studies", hdr{"Content-Type": `multipart/related; type="application/dicom"`}, body, 400, false},
		{"garbage multipart body", "POST", "/studies", hdr{"Content-Type": `multipart/related; type="application/dicom"; boundary=xyz`}, garbage, 400, false},
		{"empty multipart body", "POST", "/studies", hdr{"Content-Type": `multipart/related; type="application/dicom"; boundary=xyz`}, nil, 400, false},
		{"wrong boundary", "POST", "/studies", hdr{"Content-Type": `multipart/related; type="application/dicom"; boundary=not-the-one`}, body, 400, false},
		{"no closing delimiter", "POST", "/studies", hdr{"Content-Type": mct}, noClose, 400, false},
		{"garbage application/dicom", "POST", "/studies", hdr{"Content-Type": "application/dicom"}, garbage, 400, true},
		{"STOW Accept XML only", "POST", "/studies", hdr{"Content-Type": mct, "Accept": "application/dicom+xml"}, body, 406, false},
		{"STOW bad study UID in URL", "POST", "/studies/1..2", hdr{"Content-Type": mct}, body, 400, false},
		{"invalid UID in series path", "GET", "/studies/1..2/series", nil, nil, 400, false},
		{"invalid UID in metadata path", "GET", "/studies/abc/metadata", nil, nil, 400, false},
		{"invalid UID in retrieve path", "GET", "/studies/1.2.3/series/1.2.x", hdr{"Accept": acceptDICOM}, nil, 400, false},
		{"UID too long", "GET", "/studies/" + strings.Repeat("1.", 40) + "1", hdr{"Accept": acceptDICOM}, nil, 400, false},
		{"unknown study", "GET", "/studies/1.2.3.4.5.6.7.8.9.999", hdr{"Accept": acceptDICOM}, nil, 404, false},
		{"unknown study metadata", "GET", "/studies/1.2.3.4.5.6.7.8.9.999/metadata", hdr{"Accept": acceptJSON}, nil, 404, false},
		{"unknown instance", "GET", "/studies/" + ctOut.study + "/series/" + ctOut.series + "/instances/1.2.3.999", hdr{"Accept": acceptDICOM}, nil, 404, false},
		{"frame 0", "GET", strings.TrimPrefix(ctOut.url, c.s.url("")) + "/frames/0", hdr{"Accept": acceptFrames}, nil, 400, false},
		{"frame past the end", "GET", strings.TrimPrefix(ctOut.url, c.s.url("")) + "/frames/2", hdr{"Accept": acceptFrames}, nil, 404, false},
		{"QIDO bad date", "GET", "/studies?StudyDate=2024-13-45", nil, nil, 400, false},
		{"QIDO reversed date range", "GET", "/studies?StudyDate=20240201-20240101", nil, nil, 400, false},
		{"QIDO unknown keyword", "GET", "/studies?NoSuchKeyword=1", nil, nil, 400, false},
		{"QIDO non-numeric limit", "GET", "/studies?limit=ten", nil, nil, 400, false},
		{"QIDO Accept XML only", "GET", "/studies", hdr{"Accept": `multipart/related; type="application/dicom+xml"`}, nil, 406, false},
		{"method not allowed", "PUT", "/studies", nil, nil, 405, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.header {
				h.Set(k, v)
			}
			var rd *bytes.Reader
			if tc.body != nil {
				rd = bytes.NewReader(tc.body)
			}
			var r *response
			if rd != nil {
				r = do(t, tc.method, c.s.url(tc.path), h, rd)
			} else {
				r = do(t, tc.method, c.s.url(tc.path), h, nil)
			}
			expectStatus(t, tc.method+" "+tc.path, r, tc.want)
			ctype := r.header.Get("Content-Type")
			switch {
			case tc.json:
				if !strings.HasPrefix(ctype, "application/dicom+json") {
					t.Errorf("Content-Type %q, want application/dicom+json", ctype)
				}
			case len(r.body) > 0:
				if !strings.HasPrefix(ctype, "text/plain") {
					t.Errorf("error body Content-Type %q, want text/plain", ctype)
				}
				if r.header.Get("X-Content-Type-Options") != "nosniff" {
					t.Errorf("error response without X-Content-Type-Options: nosniff")
				}
			}
			if tc.want == 405 && r.header.Get("Allow") == "" {
				t.Errorf("405 without an Allow header")
			}
		})
	}
	// Nothing of the failed requests was stored.
	expectStatus(t, "retrieve of an instance from failed requests", get(t, freshURL, acceptDICOM), 404)
	r := get(t, c.s.url("/instances?SOPInstanceUID="+sameLengthUID(ctOut.uid, 900002)), acceptJSON)
	if r.status != 204 && (r.status != 200 || strings.TrimSpace(string(r.body)) != "[]") {
		t.Errorf("QIDO for the instance of failed requests: %s, want 200 []", r)
	}
}
