package main_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb/dicom/dicomjson"
	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/dicomweb/testkit/testcorpus"
)

// corpusDir finds shared/testdata/pydicom.
var corpusDir = testcorpus.Dir

// testFile is one file of the corpus.
type testFile struct {
	rel  string // path relative to the corpus, with '/'
	data []byte
	// part10 is true when bytes 128..131 are "DICM".
	part10 bool
	// metaUID is MediaStorageSOPInstanceUID from the file meta group, or ""
	// when unknown.
	metaUID string
}

// want is the zeroed-preamble form that the server must give back.
func (f *testFile) want() []byte {
	b := bytes.Clone(f.data)
	clear(b[:min(128, len(b))])
	return b
}

// sameAttributes reports whether two Part-10 files hold the same
// attributes with the same values, whatever their encoding: their DICOM
// JSON (bulk values as URIs, compared by path only) is the same.
func sameAttributes(t *testing.T, a, b []byte) bool {
	t.Helper()
	js := func(data []byte) []byte {
		f, err := part10.Parse(context.Background(), bytes.NewReader(data), int64(len(data)), part10.DefaultLimits())
		if err != nil {
			return nil
		}
		var buf bytes.Buffer
		if err := dicomjson.EncodeDataSet(&buf, f, f.DataSet, dicomjson.Options{BulkURI: func(p string) string { return p }}); err != nil {
			return nil
		}
		return buf.Bytes()
	}
	ja, jb := js(a), js(b)
	return ja != nil && bytes.Equal(ja, jb)
}

// key groups files that may carry the same SOP Instance UID.
func (f *testFile) key() string {
	if f.metaUID != "" {
		return f.metaUID
	}
	return "file:" + f.rel
}

// loadCorpus reads every DICOM candidate in the corpus: *.dcm files and the
// extension-less files (DICOMDIRs and their images), sorted by path.
func loadCorpus(t *testing.T) []*testFile {
	t.Helper()
	dir, err := corpusDir()
	if err != nil {
		t.Fatal(err)
	}
	var files []*testFile
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := d.Name()
		ext := filepath.Ext(name)
		if ext != ".dcm" && !(ext == "" && name != "README") && !strings.HasPrefix(name, "DICOMDIR") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		f := &testFile{rel: filepath.ToSlash(rel), data: data}
		f.part10 = len(data) >= 132 && string(data[128:132]) == "DICM"
		if f.part10 {
			f.metaUID = metaString(data, 0x0003)
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].rel < files[j].rel })
	if len(files) < 150 {
		t.Fatalf("only %d DICOM files under %s", len(files), dir)
	}
	return files
}

// metaString returns the value of element (0002,elem) of a Part-10 file's
// meta group (always Explicit VR Little Endian), trimmed, or "".
func metaString(data []byte, elem uint16) string {
	p := 132
	for p+8 <= len(data) {
		group := binary.LittleEndian.Uint16(data[p:])
		el := binary.LittleEndian.Uint16(data[p+2:])
		if group != 0x0002 {
			return ""
		}
		vr := string(data[p+4 : p+6])
		var n, h int
		switch vr {
		case "OB", "OW", "OF", "SQ", "UT", "UN", "UC", "UR", "OD", "OL", "OV", "SV", "UV":
			if p+12 > len(data) {
				return ""
			}
			n, h = int(binary.LittleEndian.Uint32(data[p+8:])), 12
		default:
			n, h = int(binary.LittleEndian.Uint16(data[p+6:])), 8
		}
		if n < 0 || p+h+n > len(data) {
			return ""
		}
		if el == elem {
			return strings.TrimRight(string(data[p+h:p+h+n]), "\x00 ")
		}
		p += h + n
	}
	return ""
}

// replaceUID returns data with every occurrence of the UID old replaced by
// nu, which must have the same length (so that no length field changes).
func replaceUID(t *testing.T, data []byte, old, nu string) []byte {
	t.Helper()
	if len(old) != len(nu) {
		t.Fatalf("replaceUID: %q and %q differ in length", old, nu)
	}
	if !bytes.Contains(data, []byte(old)) {
		t.Fatalf("replaceUID: %q not found", old)
	}
	return bytes.ReplaceAll(data, []byte(old), []byte(nu))
}

// sameLengthUID makes a UID of the length of base whose tail is n.
func sameLengthUID(base string, n int) string {
	s := fmt.Sprintf("%d", n)
	return base[:len(base)-len(s)] + s
}

// ---- HTTP ----

var mimeParse = mime.ParseMediaType

var httpClient = &http.Client{Timeout: 60 * time.Second}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) String() string {
	b := r.body
	if len(b) > 600 {
		b = append(b[:600:600], "..."...)
	}
	return fmt.Sprintf("%d %s %q", r.status, r.header.Get("Content-Type"), b)
}

func do(t *testing.T, method, url string, header http.Header, body io.Reader) *response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}
}

func get(t *testing.T, url, accept string) *response {
	t.Helper()
	h := http.Header{}
	if accept != "" {
		h.Set("Accept", accept)
	}
	return do(t, http.MethodGet, url, h, nil)
}

const (
	acceptDICOM = `multipart/related; type="application/dicom"; transfer-syntax=*`
	// acceptFrames is what OHIF sends: type unquoted.
	acceptFrames = `multipart/related; type=application/octet-stream; transfer-syntax=*`
	acceptBulk   = `multipart/related; type="application/octet-stream"; transfer-syntax=*`
	acceptJSON   = `application/dicom+json`
)

// multipartBody builds a multipart/related body of DICOM parts.
func multipartBody(parts ...[]byte) (body []byte, contentType string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", "application/dicom")
		w, _ := mw.CreatePart(h)
		w.Write(p)
	}
	mw.Close()
	return buf.Bytes(), `multipart/related; type="application/dicom"; boundary=` + mw.Boundary()
}

// stow posts parts to url (…/studies or …/studies/{s}).
func stow(t *testing.T, url string, parts ...[]byte) (*response, stowResult) {
	t.Helper()
	body, ct := multipartBody(parts...)
	h := http.Header{}
	h.Set("Content-Type", ct)
	h.Set("Accept", acceptJSON)
	r := do(t, http.MethodPost, url, h, bytes.NewReader(body))
	var res stowResult
	if strings.HasPrefix(r.header.Get("Content-Type"), "application/dicom+json") {
		var err error
		if res, err = parseStow(r.body); err != nil {
			t.Fatalf("POST %s: %v\n%s", url, err, r)
		}
	}
	return r, res
}

// stowItem is one item of ReferencedSOPSequence or FailedSOPSequence.
type stowItem struct {
	classUID, instanceUID string
	retrieveURL           string // referenced only
	warning, failure      int
}

type stowResult struct {
	retrieveURL string
	referenced  []stowItem
	failed      []stowItem
}

// parseStow parses a STOW-RS response data set (DICOM JSON).
func parseStow(b []byte) (stowResult, error) {
	var obj map[string]jsonAttr
	if err := json.Unmarshal(b, &obj); err != nil {
		return stowResult{}, fmt.Errorf("STOW response is not a JSON object: %w", err)
	}
	var res stowResult
	res.retrieveURL = obj["00081190"].str(0)
	items := func(tag string) ([]stowItem, error) {
		var out []stowItem
		a, ok := obj[tag]
		if !ok {
			return nil, nil
		}
		if a.VR != "SQ" {
			return nil, fmt.Errorf("%s has VR %q, want SQ", tag, a.VR)
		}
		var seq []map[string]jsonAttr
		if len(a.Value) > 0 {
			if err := json.Unmarshal(a.Value, &seq); err != nil {
				return nil, fmt.Errorf("%s: %w", tag, err)
			}
		}
		for _, it := range seq {
			out = append(out, stowItem{
				classUID:    it["00081150"].str(0),
				instanceUID: it["00081155"].str(0),
				retrieveURL: it["00081190"].str(0),
				warning:     it["00081196"].num(0),
				failure:     it["00081197"].num(0),
			})
		}
		return out, nil
	}
	var err error
	if res.referenced, err = items("00081199"); err != nil {
		return res, err
	}
	if res.failed, err = items("00081198"); err != nil {
		return res, err
	}
	for _, f := range res.failed {
		if f.failure == 0 {
			return res, fmt.Errorf("FailedSOPSequence item without FailureReason: %+v", f)
		}
	}
	return res, nil
}

// jsonAttr is one attribute of the DICOM JSON model.
type jsonAttr struct {
	VR          string          `json:"vr"`
	Value       json.RawMessage `json:"Value"`
	BulkDataURI string          `json:"BulkDataURI"`
	InlineBin   string          `json:"InlineBinary"`
}

func (a jsonAttr) values() []any {
	var v []any
	if len(a.Value) > 0 {
		d := json.NewDecoder(bytes.NewReader(a.Value))
		d.UseNumber()
		d.Decode(&v)
	}
	return v
}

func (a jsonAttr) str(i int) string {
	v := a.values()
	if i < len(v) {
		if s, ok := v[i].(string); ok {
			return s
		}
	}
	return ""
}

func (a jsonAttr) num(i int) int {
	v := a.values()
	if i < len(v) {
		switch n := v[i].(type) {
		case json.Number:
			x, _ := n.Int64()
			return int(x)
		case string: // IS/DS may come as strings
			var x int
			fmt.Sscan(n, &x)
			return x
		}
	}
	return 0
}

// pn returns the i-th PN value as "Alphabetic=Ideographic=Phonetic" with
// trailing empty groups removed.
func (a jsonAttr) pn(i int) string {
	v := a.values()
	if i >= len(v) {
		return ""
	}
	m, ok := v[i].(map[string]any)
	if !ok {
		return fmt.Sprintf("<not a PN object: %v>", v[i])
	}
	g := func(k string) string { s, _ := m[k].(string); return s }
	return strings.TrimRight(g("Alphabetic")+"="+g("Ideographic")+"="+g("Phonetic"), "=")
}

// part is one part of the parsed body of a multipart/related response.
type part struct {
	contentType string
	location    string
	data        []byte
}

// readMultipart parses a multipart/related response, whose root media type
// must be wantType (the type= parameter is checked when present).
func readMultipart(t *testing.T, r *response, wantType string) []part {
	t.Helper()
	mt, params, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	if err != nil || mt != "multipart/related" {
		t.Fatalf("Content-Type %q is not multipart/related (%v)", r.header.Get("Content-Type"), err)
	}
	if typ := params["type"]; wantType != "" && typ != "" && !strings.EqualFold(typ, wantType) {
		t.Errorf("multipart type=%q, want %q", typ, wantType)
	}
	mr := multipart.NewReader(bytes.NewReader(r.body), params["boundary"])
	var out []part
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("multipart response: %v", err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatalf("multipart response part: %v", err)
		}
		out = append(out, part{contentType: p.Header.Get("Content-Type"), location: p.Header.Get("Content-Location"), data: b})
	}
	return out
}

// expectStatus reports (without stopping the test) a status other than want.
func expectStatus(t *testing.T, what string, r *response, want int) bool {
	t.Helper()
	if r.status != want {
		t.Errorf("%s: status %d, want %d: %s", what, r.status, want, r)
		return false
	}
	return true
}

// checkGolden compares got with testdata/name, or rewrites it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update after review):\n%s", name, lineDiff(string(want), string(got)))
	}
}

// lineDiff is a small diff of two texts: the lines only in one of them.
func lineDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	count := map[string]int{}
	for _, l := range wl {
		count[l]++
	}
	for _, l := range gl {
		count[l]--
	}
	var b strings.Builder
	n := 0
	for _, l := range wl {
		if count[l] > 0 && n < 60 {
			fmt.Fprintf(&b, "- %s\n", l)
			count[l]--
			n++
		}
	}
	for _, l := range gl {
		if count[l] < 0 && n < 120 {
			fmt.Fprintf(&b, "+ %s\n", l)
			count[l]++
			n++
		}
	}
	return b.String()
}
