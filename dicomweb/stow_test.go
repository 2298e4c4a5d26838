package dicomweb_test

// STOW-RS through the HTTP handlers, against PS3.18 and
// ../shared/reference/dicomweb.md (first written as review probes: each
// test names the clause it checks).

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb"
)

func mustStow(t *testing.T, f *fixture, parts ...[]byte) {
	t.Helper()
	body, ct := multipartBody(t, parts...)
	if st, r := f.stow(t, "/studies", body, ct); st != 200 {
		t.Fatalf("STOW: status %d, failures %v", st, failureReasons(r))
	}
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

// Reference "STOW-RS": "An instance is acknowledged only after its object is
// durable and its index entry committed" and "Re-sending an instance whose
// bytes are identical to the stored one is a success". Once client B has
// been told (200) that instance X is stored, no other client's failed
// request may remove X. Here client A stores X as the first part of a
// request whose body then turns out to be malformed; meanwhile client B
// stores X and gets 200 (Existed). A's rollback (stow.go rollback) deletes
// X, so B's acknowledged instance is lost.
func TestSTOWRollbackMustNotDeleteInstanceAcknowledgedToAnotherClient(t *testing.T) {
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
func TestSTOWConcurrentIdenticalInstances(t *testing.T) {
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
func TestSTOWConcurrentConflictingInstances(t *testing.T) {
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
func TestSTOWMultipartVariants(t *testing.T) {
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
func TestSTOWChunkedOverLimit(t *testing.T) {
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
func TestSTOWRequiredAttributes(t *testing.T) {
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

// Reference "STOW-RS": "A new instance of an existing study whose patient
// attributes differ is stored, the study keeps its first demographics, and
// the response carries a warning" — hence 202 (PS3.18 §10.5.3: warnings).
func TestSTOWPatientMismatchWarns(t *testing.T) {
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
