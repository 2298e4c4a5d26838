package dicomweb_test

// Review tests: probes of the DICOMweb handlers against PS3.18 / PS3.4 /
// PS3.5 and ../shared/reference/dicomweb.md. Each test names the clause it
// checks. Tests that fail document a bug; they are written to pass once the
// code is fixed.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb"
)

// ---------------------------------------------------------------------------
// A tiny Explicit VR Little Endian Part-10 writer, so that tests can make
// instances with the attributes they need.

type rel struct {
	tag uint32
	vr  string
	val []byte
}

func str(tag uint32, vr, v string) rel { return rel{tag, vr, []byte(v)} }

func longLen(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV":
		return true
	}
	return false
}

func encodeEls(els []rel) []byte {
	sort.SliceStable(els, func(i, j int) bool { return els[i].tag < els[j].tag })
	var b bytes.Buffer
	for _, e := range els {
		v := e.val
		if len(v)%2 == 1 {
			pad := byte(' ')
			if e.vr == "UI" || e.vr == "OB" || e.vr == "UN" {
				pad = 0
			}
			v = append(append([]byte{}, v...), pad)
		}
		binary.Write(&b, binary.LittleEndian, uint16(e.tag>>16))
		binary.Write(&b, binary.LittleEndian, uint16(e.tag))
		b.WriteString(e.vr)
		if longLen(e.vr) {
			b.Write([]byte{0, 0})
			binary.Write(&b, binary.LittleEndian, uint32(len(v)))
		} else {
			binary.Write(&b, binary.LittleEndian, uint16(len(v)))
		}
		b.Write(v)
	}
	return b.Bytes()
}

// makeDICOM returns a Part-10 file (Explicit VR Little Endian) of the data
// set elements; SOPClassUID and SOPInstanceUID for the meta group are taken
// from them.
func makeDICOM(els ...rel) []byte {
	var class, sop string
	for _, e := range els {
		switch e.tag {
		case 0x00080016:
			class = string(e.val)
		case 0x00080018:
			sop = string(e.val)
		}
	}
	meta := encodeEls([]rel{
		{0x00020001, "OB", []byte{0, 1}},
		str(0x00020002, "UI", class),
		str(0x00020003, "UI", sop),
		str(0x00020010, "UI", "1.2.840.10008.1.2.1"),
	})
	var b bytes.Buffer
	b.Write(make([]byte, 128))
	b.WriteString("DICM")
	gl := make([]byte, 4)
	binary.LittleEndian.PutUint32(gl, uint32(len(meta)))
	b.Write(encodeEls([]rel{{0x00020000, "UL", gl}}))
	b.Write(meta)
	b.Write(encodeEls(els))
	return b.Bytes()
}

const ctImage = "1.2.840.10008.5.1.4.1.1.2"

// inst is an instance description for makeInst.
type inst struct {
	study, series, sop string
	modality           string
	patientName        string
	patientID          string
	studyDate          string
	extra              []rel
}

func makeInst(in inst) []byte {
	els := []rel{
		str(0x00080016, "UI", ctImage),
		str(0x00080018, "UI", in.sop),
		str(0x0020000D, "UI", in.study),
		str(0x0020000E, "UI", in.series),
	}
	if in.modality != "" {
		els = append(els, str(0x00080060, "CS", in.modality))
	}
	if in.patientName != "" {
		els = append(els, str(0x00100010, "PN", in.patientName))
	}
	if in.patientID != "" {
		els = append(els, str(0x00100020, "LO", in.patientID))
	}
	if in.studyDate != "" {
		els = append(els, str(0x00080020, "DA", in.studyDate))
	}
	els = append(els, in.extra...)
	return makeDICOM(els...)
}

func mustStow(t *testing.T, f *fixture, parts ...[]byte) {
	t.Helper()
	body, ct := multipartBody(t, parts...)
	if st, r := f.stow(t, "/studies", body, ct); st != 200 {
		t.Fatalf("STOW: status %d, failures %v", st, failureReasons(r))
	}
}

// qido runs a search and decodes the answer.
func qido(t *testing.T, url string, hdr ...string) (*http.Response, []map[string]json.RawMessage) {
	t.Helper()
	resp, b := get(t, url, hdr...)
	if resp.StatusCode != 200 {
		return resp, nil
	}
	var out []map[string]json.RawMessage
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: not a JSON array: %v\n%s", url, err, b)
	}
	return resp, out
}

// qidoOK reports whether a QIDO answer holds want results: 200 with them,
// or 204 No Content when there are none (PS3.18 §8.3.4.4.1).
func qidoOK(resp *http.Response, res []map[string]json.RawMessage, want int) bool {
	if want == 0 {
		return resp.StatusCode == http.StatusNoContent
	}
	return resp.StatusCode == http.StatusOK && len(res) == want
}

// jsonValues returns the Value array of one attribute of a result.
func jsonValues(t *testing.T, m map[string]json.RawMessage, tag string) []json.RawMessage {
	t.Helper()
	raw, ok := m[tag]
	if !ok {
		return nil
	}
	var a struct {
		Value []json.RawMessage `json:"Value"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("attribute %s: %v", tag, err)
	}
	return a.Value
}

func countObjects(t *testing.T, data string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(filepath.Join(data, "objects"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

// ---------------------------------------------------------------------------
// STOW-RS

// Reference "STOW-RS": "An instance is acknowledged only after its object is
// durable and its index entry committed" and "Re-sending an instance whose
// bytes are identical to the stored one is a success". Once client B has
// been told (200) that instance X is stored, no other client's failed
// request may remove X. Here client A stores X as the first part of a
// request whose body then turns out to be malformed; meanwhile client B
// stores X and gets 200 (Existed). A's rollback (stow.go rollback) deletes
// X, so B's acknowledged instance is lost.
func TestReviewSTOWRollbackMustNotDeleteInstanceAcknowledgedToAnotherClient(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{})
	x := makeInst(inst{study: "1.2.3.4", series: "1.2.3.4.1", sop: "1.2.3.4.1.1", modality: "CT", patientID: "P1"})

	// Client A: the first part is X, complete; the rest of the body comes later.
	pr, pw := io.Pipe()
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	w, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
	w.Write(x)
	// Start the next part so that the multipart reader has seen the end of X.
	fmt.Fprintf(&head, "\r\n--%s\r\nContent-Type: application/dicom\r\n\r\n", mw.Boundary())
	ct := `multipart/related; type="application/dicom"; boundary=` + mw.Boundary()

	aDone := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("POST", f.base+"/studies", pr)
		req.Header.Set("Content-Type", ct)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			aDone <- -1
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		aDone <- resp.StatusCode
	}()
	go pw.Write(head.Bytes())

	defer pw.CloseWithError(io.ErrUnexpectedEOF) // never leave A's handler hanging

	// Wait until A has written X's object. With two-phase STOW, X stays
	// invisible until A's body is complete.
	deadline := time.Now().Add(10 * time.Second)
	for countObjects(t, f.data) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("client A never wrote X's object")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := f.idx.Instance(context.Background(), "1.2.3.4", "1.2.3.4.1", "1.2.3.4.1.1"); err == nil {
		t.Fatal("X is visible before client A's request is complete")
	}

	// Client B stores the identical X: success.
	body, bct := multipartBody(t, x)
	if st, r := f.stow(t, "/studies", body, bct); st != 200 {
		t.Fatalf("client B: %d %v", st, failureReasons(r))
	}

	// Client A's body ends without a closing delimiter: 400 for A.
	pw.Write([]byte("not the end of a multipart body"))
	pw.Close()
	if st := <-aDone; st != 400 {
		t.Fatalf("client A: status %d, want 400", st)
	}

	// B was told X is stored: it must still be there.
	resp, _ := get(t, f.base+"/studies/1.2.3.4/series/1.2.3.4.1/instances/1.2.3.4.1.1/metadata")
	if resp.StatusCode != 200 {
		t.Fatalf("instance acknowledged to client B is gone after client A's failed request: metadata %d", resp.StatusCode)
	}
	if n := countObjects(t, f.data); n != 1 {
		t.Fatalf("%d objects in the store, want 1", n)
	}
}

// Issue 2 / reference: several clients storing the same instance at the
// same time all succeed and exactly one object is stored.
func TestReviewSTOWConcurrentIdenticalInstances(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{})
	x := makeInst(inst{study: "1.2.5", series: "1.2.5.1", sop: "1.2.5.1.1", modality: "CT"})
	const n = 8
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, ct := multipartBody(t, x)
			req, _ := http.NewRequest("POST", f.base+"/studies", body)
			req.Header.Set("Content-Type", ct)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	for i, st := range statuses {
		if st != 200 {
			t.Errorf("client %d: status %d, want 200", i, st)
		}
	}
	if c := countObjects(t, f.data); c != 1 {
		t.Errorf("%d objects stored, want 1", c)
	}
	_, res := qido(t, f.base+"/instances")
	if len(res) != 1 {
		t.Errorf("%d instances indexed, want 1", len(res))
	}
}

// Reference: "Same SOPInstanceUID with different bytes: rejected with
// 0x0111". Concurrently: exactly one wins, every other gets 409 / 0x0111,
// and only the winner's object remains.
func TestReviewSTOWConcurrentConflictingInstances(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{})
	const n = 6
	var wg sync.WaitGroup
	type out struct {
		st      int
		reasons []int
	}
	outs := make([]out, n)
	for i := range n {
		x := makeInst(inst{study: "1.2.6", series: "1.2.6.1", sop: "1.2.6.1.1", modality: "CT",
			extra: []rel{str(0x00081030, "LO", fmt.Sprintf("variant %d", i))}})
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, ct := multipartBody(t, x)
			st, r := f.stow(t, "/studies", body, ct)
			outs[i] = out{st, failureReasons(r)}
		}()
	}
	wg.Wait()
	ok := 0
	for i, o := range outs {
		switch {
		case o.st == 200:
			ok++
		case o.st == 409 && fmt.Sprint(o.reasons) == "[273]":
		default:
			t.Errorf("client %d: %d %v, want 200 or 409 [273]", i, o.st, o.reasons)
		}
	}
	if ok != 1 {
		t.Errorf("%d clients succeeded, want exactly 1", ok)
	}
	if c := countObjects(t, f.data); c != 1 {
		t.Errorf("%d objects stored, want 1", c)
	}
}

// PS3.18 §8.6 / RFC 2046 §5.1.1 and RFC 2387: multipart/related bodies as
// real clients send them: a preamble before the first boundary, a quoted
// boundary, extra part headers, start/start-info parameters, a
// transfer-syntax parameter on the part, LF-only line endings.
func TestReviewSTOWMultipartVariants(t *testing.T) {
	x := makeInst(inst{study: "1.2.7", series: "1.2.7.1", sop: "1.2.7.1.1", modality: "CT"})
	mk := func(nl, preamble string, hdrs ...string) []byte {
		var b bytes.Buffer
		b.WriteString(preamble)
		b.WriteString("--XyZzY" + nl)
		for _, h := range hdrs {
			b.WriteString(h + nl)
		}
		b.WriteString(nl)
		b.Write(x)
		b.WriteString(nl + "--XyZzY--" + nl)
		return b.Bytes()
	}
	tests := []struct {
		name string
		body []byte
		ct   string
	}{
		{"preamble text", mk("\r\n", "This is a message with multiple parts in MIME format.\r\n", "Content-Type: application/dicom"),
			`multipart/related; type="application/dicom"; boundary=XyZzY`},
		{"quoted boundary", mk("\r\n", "", "Content-Type: application/dicom"),
			`multipart/related; type="application/dicom"; boundary="XyZzY"`},
		{"start and start-info", mk("\r\n", "", "Content-Type: application/dicom", "Content-ID: <x1@example>"),
			`multipart/related; type="application/dicom"; start="<x1@example>"; start-info="x"; boundary=XyZzY`},
		{"extra part headers", mk("\r\n", "", "Content-Type: application/dicom", "Content-Length: "+fmt.Sprint(len(x)), "Content-Transfer-Encoding: binary", "Content-Description: CT"),
			`multipart/related; type="application/dicom"; boundary=XyZzY`},
		{"transfer-syntax on the part", mk("\r\n", "", `Content-Type: application/dicom; transfer-syntax=1.2.840.10008.1.2.1`),
			`multipart/related; type="application/dicom"; boundary=XyZzY`},
		// RFC 2045 wants the value quoted ('/' is a tspecial), but curl
		// examples (e.g. Google Cloud Healthcare's STOW documentation) and
		// several clients send it bare; the reference accepts "type quoted
		// or not" for Accept, and a STOW refused with 415 for it is a
		// needless interoperability failure.
		{"type unquoted", mk("\r\n", "", "Content-Type: application/dicom"),
			`multipart/related; type=application/dicom; boundary=XyZzY`},
		{"upper-case media types", mk("\r\n", "", "Content-Type: Application/DICOM"),
			`Multipart/Related; type="Application/DICOM"; boundary=XyZzY`},
		{"no part Content-Type", mk("\r\n", ""),
			`multipart/related; type="application/dicom"; boundary=XyZzY`},
		{"LF-only line endings", mk("\n", "", "Content-Type: application/dicom"),
			`multipart/related; type="application/dicom"; boundary=XyZzY`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, dicomweb.Limits{})
			st, r := f.stow(t, "/studies", bytes.NewReader(tt.body), tt.ct)
			if st != 200 || len(r["00081199"].Value) != 1 {
				t.Fatalf("status %d, failures %v", st, failureReasons(r))
			}
			resp, b := get(t, f.base+"/studies/1.2.7/series/1.2.7.1/instances/1.2.7.1.1",
				"Accept", `multipart/related; type="application/dicom"; transfer-syntax=*`)
			parts := readParts(t, resp, b)
			want := bytes.Clone(x)
			clear(want[:128])
			if len(parts) != 1 || !bytes.Equal(parts[0].body, want) {
				t.Fatalf("stored bytes differ from the upload")
			}
		})
	}
}

// Reference: "body over the configured request limit: 413 ... for chunked
// bodies, stop at the limit"; and nothing of it is kept.
func TestReviewSTOWChunkedOverLimit(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{MaxRequestBytes: 64 << 10})
	a := makeInst(inst{study: "1.2.8", series: "1.2.8.1", sop: "1.2.8.1.1", modality: "CT"})
	big := makeInst(inst{study: "1.2.8", series: "1.2.8.1", sop: "1.2.8.1.2", modality: "CT",
		extra: []rel{{0x00091010, "OB", make([]byte, 200<<10)}}})
	body, ct := multipartBody(t, a, big)
	// An io.Reader of unknown length: the client sends it chunked.
	st, _ := f.stow(t, "/studies", io.MultiReader(body), ct)
	if st != 413 {
		t.Fatalf("status %d, want 413", st)
	}
	if _, res := qido(t, f.base+"/instances"); len(res) != 0 {
		t.Errorf("%d instances kept from a refused request", len(res))
	}
	if c := countObjects(t, f.data); c != 0 {
		t.Errorf("%d objects kept from a refused request", c)
	}
}

// PS3.18 §10.5.3 / reference: a STOW whose every part failed is 409 and
// each failure carries its reason; missing and empty required attributes
// are 0x0120 and 0x0121.
func TestReviewSTOWRequiredAttributes(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{})
	noSeries := makeDICOM(str(0x00080016, "UI", ctImage), str(0x00080018, "UI", "1.2.9.1.1"), str(0x0020000D, "UI", "1.2.9"))
	emptySeries := makeDICOM(str(0x00080016, "UI", ctImage), str(0x00080018, "UI", "1.2.9.1.2"), str(0x0020000D, "UI", "1.2.9"), str(0x0020000E, "UI", ""))
	badUID := makeDICOM(str(0x00080016, "UI", ctImage), str(0x00080018, "UI", "1.2.9.1.3"), str(0x0020000D, "UI", "1.2.9"), str(0x0020000E, "UI", "1.2.x"))
	body, ct := multipartBody(t, noSeries, emptySeries, badUID)
	st, r := f.stow(t, "/studies", body, ct)
	if st != 409 || fmt.Sprint(failureReasons(r)) != "[288 289 43264]" {
		t.Fatalf("status %d reasons %v, want 409 [288 289 43264]", st, failureReasons(r))
	}
}

// ---------------------------------------------------------------------------
// QIDO-RS

// PS3.18 §8.3.4.4 (Query Result Messages): when the server limits the
// number of results, it "shall return a Warning header field: 299 {SERVICE}:
// The number of results exceeded the maximum supported by the server.
// Additional results can be requested." query.Parse sets
// Request.ServerLimited and defines query.MoreResultsWarning for this, but
// search.go never uses them: a client with no limit cannot know that its
// list was cut.
func TestReviewQIDOServerLimitWarning(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{QIDOMaxLimit: 2})
	for i := range 3 {
		mustStow(t, f, makeInst(inst{study: fmt.Sprintf("1.2.10.%d", i), series: fmt.Sprintf("1.2.10.%d.1", i),
			sop: fmt.Sprintf("1.2.10.%d.1.1", i), modality: "CT"}))
	}
	resp, res := qido(t, f.base+"/studies")
	if len(res) != 2 {
		t.Fatalf("%d results, want the server maximum 2", len(res))
	}
	found := false
	for _, w := range resp.Header.Values("Warning") {
		if strings.HasPrefix(w, "299 ") && strings.Contains(w, "Additional results can be requested") {
			found = true
		}
	}
	if !found {
		t.Errorf("no Warning 299 about the server limit; Warning headers: %q", resp.Header.Values("Warning"))
	}
}

// PS3.18 §8.3.4.4.1: answers past the last match are 204 No Content (the
// reference says 200 []; the standard wins); a client limit above the cap
// is clamped with a Warning.
func TestReviewQIDOOffsetPastEndAndClamp(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{QIDOMaxLimit: 5})
	mustStow(t, f, makeInst(inst{study: "1.2.11", series: "1.2.11.1", sop: "1.2.11.1.1", modality: "CT"}))
	for _, u := range []string{"/studies?offset=1", "/studies?offset=100&limit=1", "/series?offset=7", "/instances?offset=1"} {
		resp, b := get(t, f.base+u)
		if resp.StatusCode != http.StatusNoContent || len(b) != 0 {
			t.Errorf("%s: %d %s, want 204 and no body", u, resp.StatusCode, b)
		}
	}
	resp, res := qido(t, f.base+"/studies?limit=50")
	if len(res) != 1 || len(resp.Header.Values("Warning")) == 0 {
		t.Errorf("limit above the cap: %d results, Warning %q", len(res), resp.Header.Values("Warning"))
	}
}

// PS3.4 C.6.2.1.2 / reference: ModalitiesInStudy is multi-valued; a key
// matches when any one value matches (a study with CT and MR is found by
// MR alone, by CT, and by the list CT\MR — once).
func TestReviewQIDOModalitiesInStudyAnyValue(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{})
	mustStow(t, f,
		makeInst(inst{study: "1.2.12", series: "1.2.12.1", sop: "1.2.12.1.1", modality: "CT", patientID: "P12"}),
		makeInst(inst{study: "1.2.12", series: "1.2.12.2", sop: "1.2.12.2.1", modality: "MR", patientID: "P12"}),
		makeInst(inst{study: "1.2.13", series: "1.2.13.1", sop: "1.2.13.1.1", modality: "US", patientID: "P13"}),
	)
	tests := []struct {
		q    string
		want int
	}{
		{"ModalitiesInStudy=MR", 1},
		{"ModalitiesInStudy=CT", 1},
		{"00080061=CT%5CMR", 1},
		{"ModalitiesInStudy=CT,US", 2},
		{"ModalitiesInStudy=MR&PatientID=P12", 1},
		{"ModalitiesInStudy=MR&PatientID=P13", 0},
		{"ModalitiesInStudy=XA", 0},
		{"ModalitiesInStudy=M*", 1},
	}
	for _, tt := range tests {
		resp, res := qido(t, f.base+"/studies?"+tt.q)
		if !qidoOK(resp, res, tt.want) {
			t.Errorf("%s: status %d, %d results, want %d", tt.q, resp.StatusCode, len(res), tt.want)
			continue
		}
		for _, r := range res {
			if vals := jsonValues(t, r, "00080061"); len(vals) == 0 {
				t.Errorf("%s: ModalitiesInStudy not returned", tt.q)
			}
		}
	}
	// Counts kept current.
	_, res := qido(t, f.base+"/studies?StudyInstanceUID=1.2.12")
	if len(res) != 1 || string(jsonValues(t, res[0], "00201206")[0]) != "2" || string(jsonValues(t, res[0], "00201208")[0]) != "2" {
		t.Errorf("study counts: %v", res)
	}
}

// Reference "QIDO-RS": a search returns the attributes of every level above
// its target that its path does not fix; keys of upper levels filter.
func TestReviewQIDOUpperLevelAttributes(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{})
	mustStow(t, f,
		makeInst(inst{study: "1.2.14", series: "1.2.14.1", sop: "1.2.14.1.1", modality: "CT", patientID: "P14", patientName: "Doe^Jane", studyDate: "20240105"}),
		makeInst(inst{study: "1.2.15", series: "1.2.15.1", sop: "1.2.15.1.1", modality: "MR", patientID: "P15", patientName: "Roe^Rick", studyDate: "20230105"}),
	)
	// /series with a study key; the answer carries study attributes.
	_, res := qido(t, f.base+"/series?PatientID=P14")
	if len(res) != 1 || len(jsonValues(t, res[0], "00100020")) != 1 || len(jsonValues(t, res[0], "0020000D")) != 1 {
		t.Fatalf("/series?PatientID: %v", res)
	}
	// /instances with a series key and a study key.
	_, res = qido(t, f.base+"/instances?Modality=MR&StudyDate=20230101-20231231")
	if len(res) != 1 || string(jsonValues(t, res[0], "00080018")[0]) != `"1.2.15.1.1"` {
		t.Fatalf("/instances?Modality&StudyDate: %v", res)
	}
	if len(jsonValues(t, res[0], "00080060")) != 1 || len(jsonValues(t, res[0], "00100010")) != 1 {
		t.Errorf("/instances does not return series and study attributes: %v", res[0])
	}
	// /studies/{s}/instances adds series attributes.
	_, res = qido(t, f.base+"/studies/1.2.14/instances")
	if len(res) != 1 || len(jsonValues(t, res[0], "00080060")) != 1 || len(jsonValues(t, res[0], "0020000E")) != 1 {
		t.Errorf("/studies/{s}/instances: %v", res)
	}
	// includefield=all at each level.
	for _, u := range []string{"/studies?includefield=all", "/series?includefield=all", "/instances?includefield=all"} {
		resp, res := qido(t, f.base+u)
		if resp.StatusCode != 200 || len(res) != 2 {
			t.Errorf("%s: %d, %d results", u, resp.StatusCode, len(res))
		}
	}
}

// PS3.4 C.2.2.2.1 / C.2.2.2.4 and reference: PN matching case and accent
// insensitive, '*' and '?' wildcards, '*' alone universal, any component
// group; a PN key with '=' matches group by group.
func TestReviewQIDOPersonNames(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{})
	mustStow(t, f, file(t, "charset_files/chrH31.dcm"))
	mustStow(t, f, makeInst(inst{study: "1.2.16", series: "1.2.16.1", sop: "1.2.16.1.1", modality: "CT", patientName: "Müller^Jürgen"}))
	tests := []struct {
		q    string
		want int
	}{
		{"PatientName=Yamada%5ETarou", 1},
		{"PatientName=yamada%5Etarou", 1},
		{"PatientName=" + urlq("山田^太郎"), 1},
		{"PatientName=" + urlq("やまだ^たろう"), 1},
		{"PatientName=" + urlq("Yamada^Tarou=山田^太郎"), 1},
		{"PatientName=" + urlq("山田*"), 1},
		{"PatientName=Yam%3Fda*", 1},
		{"PatientName=*", 2},
		{"PatientName=MULLER%5EJURGEN", 1},
		{"PatientName=m%C3%BCller*", 1},
		{"PatientName=Yamada", 0},
		{"PatientName=Yamada%5ETarou%5E%5E", 1},
		{"PatientName=Yamada%5ETarou%20", 1},
		{"PatientName=Yamada&fuzzymatching=true", 1},
		{"PatientName=tar&fuzzymatching=true", 1},
	}
	for _, tt := range tests {
		resp, res := qido(t, f.base+"/studies?"+tt.q)
		if !qidoOK(resp, res, tt.want) {
			t.Errorf("%s: status %d, %d results, want %d", tt.q, resp.StatusCode, len(res), tt.want)
		}
	}
}

func urlq(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	return b.String()
}

// Reference: "Unknown attribute keyword or malformed value ...: 400 with a
// text/plain reason" — never a 500.
func TestReviewQIDOBadInputIs400(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{})
	mustStow(t, f, makeInst(inst{study: "1.2.17", series: "1.2.17.1", sop: "1.2.17.1.1", modality: "CT"}))
	for _, q := range []string{
		"StudyDate=2024", "StudyDate=20240231", "StudyDate=20240201-20240101", "limit=-1", "limit=abc", "offset=x",
		"StudyInstanceUID=1..2", "StudyInstanceUID=*", "NumberOfFrames=abc", "includefield=NoSuchKeyword",
		"PatientName=%ZZ", "fuzzymatching=maybe", "00400275.00401001=X",
	} {
		resp, body := get(t, f.base+"/studies?"+q)
		if resp.StatusCode != 400 {
			t.Errorf("%s: %d %s, want 400", q, resp.StatusCode, body)
		}
	}
}

// ---------------------------------------------------------------------------
// WADO-RS

// PS3.18 §8.7.3 (Accept), RFC 9110 §12.5.1: a client that accepts only
// single-part application/octet-stream frames must get that media type or
// 406 — never image/jpeg. frames.go negotiateFrames/pickFrameSyntax returns
// the stored media type (image/jpeg) for lossy data under an
// application/octet-stream choice, and the single-part path sends it.
func TestReviewFramesSinglePartOctetStreamOnLossyJPEG(t *testing.T) {
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

// Reference "Other statuses": method not allowed on a path is 405 with
// Allow (RFC 9110 §15.5.6: the origin server MUST generate an Allow header).
func TestReviewMethodNotAllowed(t *testing.T) {
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

// Reference "WADO-RS": strong ETags on metadata with 304. A series'
// metadata changes when an instance is added, so its ETag must change.
func TestReviewMetadataETagFollowsContent(t *testing.T) {
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
func TestReviewBulkDataURIsResolve(t *testing.T) {
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

// Reference "WADO-RS": DELETE removes index entries then objects; a later
// re-upload of the same instance works and the store holds one object.
func TestReviewDeleteThenRestore(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{})
	x := makeInst(inst{study: "1.2.19", series: "1.2.19.1", sop: "1.2.19.1.1", modality: "CT"})
	mustStow(t, f, x)
	for _, p := range []string{"/studies/1.2.19/series/1.2.19.1/instances/1.2.19.1.1", "/studies/1.2.19/series/1.2.19.1", "/studies/1.2.19"} {
		req, _ := http.NewRequest("DELETE", f.base+p, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if p == "/studies/1.2.19/series/1.2.19.1/instances/1.2.19.1.1" && resp.StatusCode != 204 {
			t.Fatalf("DELETE instance: %d", resp.StatusCode)
		}
		if p != "/studies/1.2.19/series/1.2.19.1/instances/1.2.19.1.1" && resp.StatusCode != 404 {
			t.Errorf("DELETE %s after its last instance went: %d, want 404", p, resp.StatusCode)
		}
	}
	if _, res := qido(t, f.base+"/studies"); len(res) != 0 {
		t.Fatalf("study still listed after its last instance was deleted: %d", len(res))
	}
	mustStow(t, f, x)
	if c := countObjects(t, f.data); c != 1 {
		t.Errorf("%d objects after re-upload, want 1", c)
	}
}

// Concurrency: a DELETE racing STOWs of the same study leaves the index and
// the store consistent: every indexed instance has its object, and no
// object is left without an index entry.
func TestReviewDeleteRacingIngest(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{})
	var wg sync.WaitGroup
	for i := range 20 {
		x := makeInst(inst{study: "1.2.20", series: "1.2.20.1", sop: fmt.Sprintf("1.2.20.1.%d", i), modality: "CT"})
		wg.Add(2)
		go func() {
			defer wg.Done()
			body, ct := multipartBody(t, x)
			f.stow(t, "/studies", body, ct)
		}()
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("DELETE", f.base+"/studies/1.2.20", nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	_, res := qido(t, f.base+"/instances")
	if c := countObjects(t, f.data); c != len(res) {
		t.Errorf("%d objects but %d indexed instances", c, len(res))
	}
	for _, r := range res {
		var sop string
		json.Unmarshal(jsonValues(t, r, "00080018")[0], &sop)
		resp, _ := get(t, f.base+"/studies/1.2.20/series/1.2.20.1/instances/"+sop, "Accept", `multipart/related; type="application/dicom"; transfer-syntax=*`)
		if resp.StatusCode != 200 {
			t.Errorf("indexed instance %s cannot be retrieved: %d", sop, resp.StatusCode)
		}
	}
}

// PS3.4 C.6.2.1.2 / issue 2: "study and series counts and ModalitiesInStudy
// kept current" — also when series and instances are deleted.
func TestReviewCountsAfterDelete(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{})
	mustStow(t, f,
		makeInst(inst{study: "1.2.21", series: "1.2.21.1", sop: "1.2.21.1.1", modality: "CT", patientID: "P21"}),
		makeInst(inst{study: "1.2.21", series: "1.2.21.1", sop: "1.2.21.1.2", modality: "CT", patientID: "P21"}),
		makeInst(inst{study: "1.2.21", series: "1.2.21.2", sop: "1.2.21.2.1", modality: "MR", patientID: "P21"}),
	)
	del := func(p string) {
		req, _ := http.NewRequest("DELETE", f.base+p, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 204 {
			t.Fatalf("DELETE %s: %v %v", p, err, resp)
		}
		resp.Body.Close()
	}
	del("/studies/1.2.21/series/1.2.21.2")
	del("/studies/1.2.21/series/1.2.21.1/instances/1.2.21.1.2")
	if _, res := qido(t, f.base+"/studies?ModalitiesInStudy=MR"); len(res) != 0 {
		t.Errorf("ModalitiesInStudy=MR still finds the study after its MR series was deleted")
	}
	_, res := qido(t, f.base+"/studies?PatientID=P21")
	if len(res) != 1 {
		t.Fatalf("%d studies", len(res))
	}
	check := func(tag, want string) {
		v := jsonValues(t, res[0], tag)
		if got := fmt.Sprintf("%s", v); got != want {
			t.Errorf("%s = %s, want %s", tag, got, want)
		}
	}
	check("00080061", `["CT"]`)
	check("00201206", `[1]`)
	check("00201208", `[1]`)
	_, res = qido(t, f.base+"/studies/1.2.21/series")
	if len(res) != 1 || fmt.Sprintf("%s", jsonValues(t, res[0], "00201209")) != "[1]" {
		t.Errorf("series after delete: %v", res)
	}
}

// Reference "STOW-RS": "A new instance of an existing study whose patient
// attributes differ is stored, the study keeps its first demographics, and
// the response carries a warning" — hence 202 (PS3.18 §10.5.3: warnings).
func TestReviewSTOWPatientMismatchWarns(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{})
	mustStow(t, f, makeInst(inst{study: "1.2.22", series: "1.2.22.1", sop: "1.2.22.1.1", modality: "CT", patientID: "A", patientName: "Alpha"}))
	body, ct := multipartBody(t, makeInst(inst{study: "1.2.22", series: "1.2.22.1", sop: "1.2.22.1.2", modality: "CT", patientID: "B", patientName: "Beta"}))
	st, r := f.stow(t, "/studies", body, ct)
	if st != 202 || len(r["00081199"].Value) != 1 || !bytes.Contains(r["00081199"].Value[0], []byte(`"00081196"`)) {
		t.Fatalf("status %d, response %v", st, r)
	}
	_, res := qido(t, f.base+"/studies?StudyInstanceUID=1.2.22")
	if len(res) != 1 || string(jsonValues(t, res[0], "00100020")[0]) != `"A"` {
		t.Errorf("study demographics changed: %v", res)
	}
}

// PS3.4 C.2.2.2.5 range matching on DA and TM, lists of dates.
func TestReviewQIDODateTimeRanges(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{})
	mustStow(t, f,
		makeInst(inst{study: "1.2.23", series: "1.2.23.1", sop: "1.2.23.1.1", modality: "CT", studyDate: "20240131",
			extra: []rel{str(0x00080030, "TM", "235959.5")}}),
		makeInst(inst{study: "1.2.24", series: "1.2.24.1", sop: "1.2.24.1.1", modality: "CT", studyDate: "20240201",
			extra: []rel{str(0x00080030, "TM", "0800")}}),
		makeInst(inst{study: "1.2.25", series: "1.2.25.1", sop: "1.2.25.1.1", modality: "CT"}),
	)
	tests := []struct {
		q    string
		want int
	}{
		{"StudyDate=20240101-20240131", 1},
		{"StudyDate=20240131-20240201", 2},
		{"StudyDate=-20240131", 1},
		{"StudyDate=20240201-", 1},
		{"StudyDate=20240131", 1},
		{"StudyDate=20240131%5C20240201", 2},
		{"StudyTime=0700-0900", 1},
		{"StudyTime=2359-", 1},
		{"StudyTime=-075959", 0},
		{"StudyDate=", 3},
	}
	for _, tt := range tests {
		resp, res := qido(t, f.base+"/studies?"+tt.q)
		if !qidoOK(resp, res, tt.want) {
			t.Errorf("%s: status %d, %d results, want %d", tt.q, resp.StatusCode, len(res), tt.want)
		}
	}
}

// PS3.18 §8.3.3.1 (Accept query parameter): "accept" in the query string
// replaces the Accept header field. query.Parse collects Request.Accept "for
// the caller's content negotiation", but search.go never looks at it, so a
// request for XML only (accept=application/dicom+xml) gets a 200 JSON
// answer instead of the 406 the same request gets with an Accept header.
func TestReviewQIDOAcceptQueryParameter(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{})
	mustStow(t, f, makeInst(inst{study: "1.2.26", series: "1.2.26.1", sop: "1.2.26.1.1", modality: "CT"}))
	resp, _ := get(t, f.base+"/studies", "Accept", "application/dicom+xml")
	if resp.StatusCode != 406 {
		t.Fatalf("Accept header XML only: %d, want 406", resp.StatusCode)
	}
	resp, b := get(t, f.base+"/studies?accept=application%2Fdicom%2Bxml")
	if resp.StatusCode != 406 {
		t.Errorf("accept=application/dicom+xml query parameter: %d %.60s, want 406", resp.StatusCode, b)
	}
	resp, _ = get(t, f.base+"/studies?accept=application%2Fdicom%2Bjson", "Accept", "application/dicom+xml")
	if resp.StatusCode != 200 {
		t.Errorf("accept=application/dicom+json query parameter overriding an XML Accept header: %d, want 200", resp.StatusCode)
	}
}
