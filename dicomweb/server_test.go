package dicomweb_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/testkit/testcorpus"

	"github.com/minipacs/minipacs/dicomweb"
	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/dicomweb/testkit/dicomwebtest"
	"github.com/minipacs/minipacs/index"
)

// testdataDir is shared/testdata/pydicom.
func testdataDir(t testing.TB) string { return testcorpus.DirT(t) }

type fixture struct {
	srv  *httptest.Server
	base string
	idx  *index.Index
	data string
}

func newFixture(t testing.TB, lim dicomweb.Limits) *fixture {
	t.Helper()
	return fixtureOf(dicomwebtest.New(t, dicomwebtest.Options{Limits: lim}))
}

func fixtureOf(a *dicomwebtest.Archive) *fixture {
	return &fixture{srv: a.Server, base: a.Base, idx: a.Index, data: a.Dir}
}

func file(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdataDir(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// multipartBody builds a STOW body of the given parts.
func multipartBody(t *testing.T, parts ...[]byte) (io.Reader, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		w, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(p)
	}
	mw.Close()
	return &buf, `multipart/related; type="application/dicom"; boundary=` + mw.Boundary()
}

type stowResponse map[string]struct {
	VR    string            `json:"vr"`
	Value []json.RawMessage `json:"Value"`
}

func (f *fixture) stow(t *testing.T, path string, body io.Reader, ct string, hdr ...string) (int, stowResponse) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.base+path, body)
	req.Header.Set("Content-Type", ct)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out stowResponse
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/dicom+json") {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("response is not JSON: %v\n%s", err, b)
		}
	}
	return resp.StatusCode, out
}

// failureReasons lists the FailureReason of each FailedSOPSequence item.
func failureReasons(r stowResponse) []int {
	var out []int
	for _, item := range r["00081198"].Value {
		var m map[string]struct {
			Value []int `json:"Value"`
		}
		json.Unmarshal(item, &m)
		out = append(out, m["00081197"].Value...)
	}
	return out
}

func get(t *testing.T, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

const (
	ctStudy  = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
	ctSeries = "1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322"
	ctSOP    = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"
)

func TestSTOWStatuses(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{MaxRequestBytes: 4 << 20})
	ct := file(t, "test_files/CT_small.dcm")
	mr := file(t, "test_files/MR_small.dcm")
	trunc := file(t, "test_files/MR_truncated.dcm")

	body, ctype := multipartBody(t, ct)
	if st, r := f.stow(t, "/studies", body, ctype); st != 200 || len(r["00081199"].Value) != 1 {
		t.Fatalf("store: %d %v", st, r)
	}
	body, ctype = multipartBody(t, ct)
	if st, _ := f.stow(t, "/studies", body, ctype); st != 200 {
		t.Fatalf("idempotent re-send: %d", st)
	}
	// Same SOP Instance UID, other bytes: 0x0111.
	changed := bytes.Clone(ct)
	i := bytes.Index(changed, []byte("CompressedSamples"))
	changed[i] = 'X'
	body, ctype = multipartBody(t, changed)
	if st, r := f.stow(t, "/studies", body, ctype); st != 409 || fmt.Sprint(failureReasons(r)) != "[273]" {
		t.Fatalf("conflict: %d %v", st, failureReasons(r))
	}
	// One good, one truncated: 202 with 0xC000.
	body, ctype = multipartBody(t, mr, trunc)
	if st, r := f.stow(t, "/studies", body, ctype); st != 202 || fmt.Sprint(failureReasons(r)) != "[49152]" {
		t.Fatalf("partial: %d %v", st, failureReasons(r))
	}
	// Study in the URL differs: 0xA900.
	body, ctype = multipartBody(t, ct)
	if st, r := f.stow(t, "/studies/1.2.3", body, ctype); st != 409 || fmt.Sprint(failureReasons(r)) != "[43264]" {
		t.Fatalf("study mismatch: %d %v", st, failureReasons(r))
	}
	// Nothing DICOM at all: 400.
	body, ctype = multipartBody(t, []byte("hello, not DICOM"))
	if st, _ := f.stow(t, "/studies", body, ctype); st != 400 {
		t.Fatalf("not DICOM: %d", st)
	}
	// Bare application/dicom.
	if st, _ := f.stow(t, "/studies", bytes.NewReader(mr), "application/dicom"); st != 200 {
		t.Fatalf("bare: %d", st)
	}
	tests := []struct {
		name   string
		path   string
		body   string
		ct     string
		hdr    []string
		status int
	}{
		{"form data", "/studies", "x", "multipart/form-data; boundary=x", nil, 415},
		{"json", "/studies", "{}", "application/json", nil, 415},
		{"gzip", "/studies", "x", `multipart/related; type="application/dicom"; boundary=x`, []string{"Content-Encoding", "gzip"}, 415},
		{"no boundary", "/studies", "x", `multipart/related; type="application/dicom"`, nil, 400},
		{"garbage", "/studies", "garbage", `multipart/related; type="application/dicom"; boundary=x`, nil, 400},
		{"xml answer only", "/studies", "x", `multipart/related; type="application/dicom"; boundary=x`, []string{"Accept", "application/dicom+xml"}, 406},
		{"bad study UID", "/studies/1..2", "x", `multipart/related; type="application/dicom"; boundary=x`, nil, 400},
		{"too large", "/studies", strings.Repeat("x", 5<<20), `multipart/related; type="application/dicom"; boundary=x`, nil, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, _ := f.stow(t, tt.path, strings.NewReader(tt.body), tt.ct, tt.hdr...)
			if st != tt.status {
				t.Errorf("status %d, want %d", st, tt.status)
			}
		})
	}
}

func TestSTOWUnterminatedStoresNothing(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{})
	body, ctype := multipartBody(t, file(t, "test_files/CT_small.dcm"), file(t, "test_files/MR_small.dcm"))
	b, _ := io.ReadAll(body)
	b = b[:len(b)-len("--\r\n")-40] // cut into the closing delimiter and the last part
	if st, _ := f.stow(t, "/studies", bytes.NewReader(b), ctype); st != 400 {
		t.Fatalf("status %d, want 400", st)
	}
	resp, body2 := get(t, f.base+"/studies")
	if resp.StatusCode != http.StatusNoContent || len(body2) != 0 {
		t.Fatalf("after a failed request: %d %s", resp.StatusCode, body2)
	}
	ents, _ := os.ReadDir(filepath.Join(f.data, "spool"))
	if len(ents) != 0 {
		t.Fatalf("spool not empty: %v", ents)
	}
}

func TestRetrieveMetadataFrames(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{})
	ct := file(t, "test_files/CT_small.dcm")
	body, ctype := multipartBody(t, ct)
	if st, _ := f.stow(t, "/studies", body, ctype); st != 200 {
		t.Fatal(st)
	}
	inst := f.base + "/studies/" + ctStudy + "/series/" + ctSeries + "/instances/" + ctSOP

	// Retrieve: bit-exact after the preamble.
	resp, b := get(t, inst, "Accept", `multipart/related; type="application/dicom"; transfer-syntax=*`)
	parts := readParts(t, resp, b)
	want := bytes.Clone(ct)
	clear(want[:128])
	if len(parts) != 1 || !bytes.Equal(parts[0].body, want) {
		t.Fatalf("retrieve: %d parts", len(parts))
	}
	if !strings.Contains(parts[0].ct, "transfer-syntax=1.2.840.10008.1.2.1") {
		t.Errorf("part content type %q", parts[0].ct)
	}

	// Metadata with ETag and 304.
	resp, b = get(t, inst+"/metadata")
	if resp.StatusCode != 200 || !json.Valid(b) || !bytes.Contains(b, []byte(`"00083002"`)) {
		t.Fatalf("metadata: %d %s", resp.StatusCode, b)
	}
	if !bytes.Contains(b, []byte(`"BulkDataURI":"`+f.base+"/studies/")) {
		t.Errorf("BulkDataURI not absolute: %s", b)
	}
	etag := resp.Header.Get("ETag")
	resp, _ = get(t, inst+"/metadata", "If-None-Match", etag)
	if etag == "" || resp.StatusCode != 304 {
		t.Errorf("If-None-Match: %d (etag %q)", resp.StatusCode, etag)
	}

	// Frames: OHIF's Accept, type unquoted.
	resp, b = get(t, inst+"/frames/1", "Accept", "multipart/related; type=application/octet-stream; transfer-syntax=*")
	parts = readParts(t, resp, b)
	if len(parts) != 1 || len(parts[0].body) != 128*128*2 {
		t.Fatalf("frame: %d parts", len(parts))
	}
	for _, tt := range []struct {
		url    string
		accept string
		status int
	}{
		{inst + "/frames/2", "", 404},
		{inst + "/frames/0", "", 400},
		{inst + "/frames/1", `multipart/related; type="image/jpeg"`, 406},
		{f.base + "/studies/1.2.3/metadata", "", 404},
		{f.base + "/studies/1.2.3", "", 404},
		{f.base + "/studies/abc", "", 400},
		{f.base + "/studies?00100010=x&Foo=1", "", 400},
		{f.base + "/studies", "application/dicom+xml", 406},
	} {
		resp, body := get(t, tt.url, "Accept", tt.accept)
		if resp.StatusCode != tt.status {
			t.Errorf("%s (%s): %d, want %d", tt.url, tt.accept, resp.StatusCode, tt.status)
		}
		if tt.status >= 400 && (!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") || resp.Header.Get("X-Content-Type-Options") != "nosniff") {
			t.Errorf("%s: error body %q as %q", tt.url, body, resp.Header.Get("Content-Type"))
		}
	}

	// Delete: index first, then objects; afterwards 404.
	req, _ := http.NewRequest("DELETE", f.base+"/studies/"+ctStudy, nil)
	dr, err := http.DefaultClient.Do(req)
	if err != nil || dr.StatusCode != 204 {
		t.Fatalf("delete: %v %v", err, dr)
	}
	if resp, _ := get(t, inst+"/metadata"); resp.StatusCode != 404 {
		t.Errorf("after delete: %d", resp.StatusCode)
	}
	var objects int
	filepath.WalkDir(filepath.Join(f.data, "objects"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			objects++
		}
		return nil
	})
	if objects != 0 {
		t.Errorf("%d objects left after delete", objects)
	}
}

type part struct {
	ct   string
	body []byte
	cl   string // Content-Length header, if any
}

func readParts(t *testing.T, resp *http.Response, b []byte) []part {
	t.Helper()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/related" {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(b), params["boundary"])
	var out []part
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, part{p.Header.Get("Content-Type"), body, p.Header.Get("Content-Length")})
	}
}

// TestRetrieveReencodes: instances stored as Implicit VR LE, Explicit VR BE
// or Deflated go out as Explicit VR Little Endian when the request names no
// syntax or names that one, with the pixels of the little endian original;
// transfer-syntax=* still gives the stored bytes.
func TestRetrieveReencodes(t *testing.T) {
	ctx := context.Background()
	frames := func(t *testing.T, data []byte) (*part10.File, [][]byte) {
		t.Helper()
		f, err := part10.Parse(ctx, bytes.NewReader(data), int64(len(data)), part10.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		open := func(_ context.Context, off, n int64) (io.ReadCloser, error) {
			end := int64(len(data))
			if n >= 0 {
				end = min(end, off+n)
			}
			return io.NopCloser(bytes.NewReader(data[off:end])), nil
		}
		var out [][]byte
		for _, fr := range f.Layout.Frames {
			var buf bytes.Buffer
			if err := part10.WriteFrame(ctx, &buf, open, &f.Layout, fr); err != nil {
				t.Fatal(err)
			}
			out = append(out, buf.Bytes())
		}
		return f, out
	}
	_, mrFrames := frames(t, file(t, "test_files/MR_small.dcm"))
	tests := []struct {
		rel    string
		pixels [][]byte // want; nil: the stored object's own frames
	}{
		{"test_files/MR_small_implicit.dcm", mrFrames},
		{"test_files/MR_small_bigendian.dcm", mrFrames},
		{"test_files/image_dfl.dcm", nil},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.rel), func(t *testing.T) {
			stored := file(t, tt.rel)
			src, want := frames(t, stored)
			if tt.pixels != nil {
				want = tt.pixels
			}
			if len(want) == 0 {
				t.Fatal("no frames to compare")
			}
			fx := newFixture(t, dicomweb.Limits{})
			body, ctype := multipartBody(t, stored)
			if st, _ := fx.stow(t, "/studies", body, ctype); st != 200 {
				t.Fatalf("stow: %d", st)
			}
			ds := src.DataSet
			series := fx.base + "/studies/" + ds.String(part10.TagStudyInstanceUID) + "/series/" + ds.String(part10.TagSeriesInstanceUID)
			inst := series + "/instances/" + ds.String(part10.TagSOPInstanceUID)

			check := func(t *testing.T, body []byte) {
				t.Helper()
				_, got := frames(t, body)
				g, _ := part10.Parse(ctx, bytes.NewReader(body), int64(len(body)), part10.Limits{})
				if g.TransferSyntax.UID != "1.2.840.10008.1.2.1" || g.Meta.String(part10.TagTransferSyntaxUID) != "1.2.840.10008.1.2.1" {
					t.Fatalf("sent as %q", g.TransferSyntax.UID)
				}
				if len(got) != len(want) {
					t.Fatalf("%d frames, want %d", len(got), len(want))
				}
				for i := range got {
					if !bytes.Equal(got[i], want[i]) {
						t.Errorf("frame %d differs from the little endian original", i+1)
					}
				}
			}
			for _, tc := range []struct{ name, url, accept string }{
				{"no accept", inst, ""},
				{"no syntax", inst, `multipart/related; type="application/dicom"`},
				{"explicit LE named", inst, `multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1`},
				{"series", series, ""},
			} {
				t.Run(tc.name, func(t *testing.T) {
					resp, b := get(t, tc.url, "Accept", tc.accept)
					parts := readParts(t, resp, b)
					if len(parts) != 1 {
						t.Fatalf("%d parts", len(parts))
					}
					if parts[0].ct != "application/dicom; transfer-syntax=1.2.840.10008.1.2.1" {
						t.Errorf("part content type %q", parts[0].ct)
					}
					if parts[0].cl != fmt.Sprint(len(parts[0].body)) {
						t.Errorf("part Content-Length %q for %d bytes", parts[0].cl, len(parts[0].body))
					}
					check(t, parts[0].body)
				})
			}
			t.Run("single part", func(t *testing.T) {
				resp, b := get(t, inst, "Accept", "application/dicom")
				if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/dicom; transfer-syntax=1.2.840.10008.1.2.1" {
					t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
				}
				if resp.ContentLength != int64(len(b)) {
					t.Errorf("Content-Length %d for %d bytes", resp.ContentLength, len(b))
				}
				check(t, b)
			})
			t.Run("as stored", func(t *testing.T) {
				resp, b := get(t, inst, "Accept", `multipart/related; type="application/dicom"; transfer-syntax=*`)
				parts := readParts(t, resp, b)
				exact := bytes.Clone(stored)
				clear(exact[:128])
				if len(parts) != 1 || !bytes.Equal(parts[0].body, exact) {
					t.Fatal("transfer-syntax=* is not the stored object")
				}
				if !strings.HasSuffix(parts[0].ct, "transfer-syntax="+src.TransferSyntax.UID) {
					t.Errorf("part content type %q", parts[0].ct)
				}
			})
			t.Run("compressed asked", func(t *testing.T) {
				resp, _ := get(t, inst, "Accept", `multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50`)
				if resp.StatusCode != 406 {
					t.Errorf("status %d, want 406", resp.StatusCode)
				}
			})
		})
	}
}

func TestJSONMediaTypes(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{})
	body, ctype := multipartBody(t, file(t, "test_files/CT_small.dcm"))
	if st, _ := f.stow(t, "/studies", body, ctype); st != 200 {
		t.Fatal(st)
	}
	for _, tt := range []struct{ accept, want string }{
		{"", "application/dicom+json"},
		{"application/json", "application/json"},
		{"application/dicom+json, application/json", "application/dicom+json"},
		{"*/*", "application/dicom+json"},
	} {
		resp, _ := get(t, f.base+"/studies", "Accept", tt.accept)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tt.want {
			t.Errorf("Accept %q: %d %q, want %q", tt.accept, resp.StatusCode, resp.Header.Get("Content-Type"), tt.want)
		}
	}
}
