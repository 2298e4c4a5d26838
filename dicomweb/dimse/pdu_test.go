package dimse

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/index"
)

const ctImage = "1.2.840.10008.5.1.4.1.1.2"

// validRQ proposes Verification (1) and CT Image Storage (3) to MINIPACS.
func validRQ() []byte {
	return encodeRQ("MINIPACS", "FUZZER", 16384,
		rqContext{1, VerificationSOPClass, []string{part10.ImplicitVRLittleEndian}},
		rqContext{3, ctImage, []string{part10.ImplicitVRLittleEndian}})
}

// implicitDataSet is a small CT data set in Implicit VR Little Endian.
func implicitDataSet(sop string) []byte {
	var b []byte
	el := func(group, elem uint16, v string) {
		if len(v)%2 == 1 {
			v += "\x00"
		}
		b = binary.LittleEndian.AppendUint16(b, group)
		b = binary.LittleEndian.AppendUint16(b, elem)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	el(0x0008, 0x0016, ctImage)
	el(0x0008, 0x0018, sop)
	el(0x0008, 0x0060, "CT")
	el(0x0020, 0x000D, "1.2.3.4")
	el(0x0020, 0x000E, "1.2.3.4.5")
	return b
}

// storeRQ is a C-STORE-RQ command on context 3 followed by its data set
// in fragments of at most frag bytes.
func storeRQ(sop string, ds []byte, frag int) []byte {
	c := &Command{Field: CStoreRQ, MessageID: 7, AffectedSOPClass: ctImage, AffectedSOPInstance: sop, HasDataSet: true}
	b := appendPData(nil, 3, true, true, c.Encode())
	for len(ds) > 0 {
		n := min(frag, len(ds))
		b = appendPData(b, 3, false, n == len(ds), ds[:n])
		ds = ds[n:]
	}
	return b
}

func header(typ byte, n uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{typ, 0}, n)
}

// serveBytes runs one association of s over in and returns what the
// server wrote.
func serveBytes(s *Server, in []byte) *fakeConn {
	c := &fakeConn{r: bytes.NewReader(in)}
	a := &assoc{s: s, nc: c}
	a.serve(context.Background())
	return c
}

// pdus splits what the server wrote into PDUs (type, variable field).
func pdus(t testing.TB, b []byte) [][]byte {
	var out [][]byte
	r := bytes.NewReader(b)
	for r.Len() > 0 {
		typ, v, err := readPDU(r)
		if err != nil {
			t.Fatalf("server wrote a bad PDU: %v", err)
		}
		out = append(out, append([]byte{typ}, v...))
	}
	return out
}

func TestMalformedPDUs(t *testing.T) {
	a := newArchive(t)
	s, err := New(Config{Ingester: a.ing, Policy: &Policy{AcceptAny: true}, Limits: Limits{MaxCommandBytes: 1024}})
	if err != nil {
		t.Fatal(err)
	}
	rq := validRQ()
	after := func(parts ...[]byte) []byte { return bytes.Join(append([][]byte{rq}, parts...), nil) }
	badItem := append([]byte(nil), rq...)
	binary.BigEndian.PutUint16(badItem[6+68+2:], 0xFFFF) // application context item length
	evenID := encodeRQ("MINIPACS", "X", 0, rqContext{2, VerificationSOPClass, []string{part10.ImplicitVRLittleEndian}})
	noContexts := encodeRQ("MINIPACS", "X", 0)
	tinyMax := encodeRQ("MINIPACS", "X", 10, rqContext{1, VerificationSOPClass, []string{part10.ImplicitVRLittleEndian}})
	badApp := append([]byte(nil), rq...)
	copy(badApp[6+68+4:], "9.9.9.9.9.9.9.9.9.9.9")
	garbageCmd := appendPData(nil, 1, true, true, []byte{0, 0, 0, 0, 4, 0, 0, 0, 99, 0, 0, 0})
	bigCmd := bytes.Repeat(appendPData(nil, 1, true, false, make([]byte, 600)), 2)
	badPDV := header(pduPData, 10)
	badPDV = binary.BigEndian.AppendUint32(badPDV, 100)
	badPDV = append(badPDV, 1, 3, 0, 0, 0, 0)
	ds := implicitDataSet("1.2.3.4.5.6")
	truncatedStore := storeRQ("1.2.3.4.5.6", ds, 16)
	truncatedStore = truncatedStore[:len(truncatedStore)-30]
	badMCH := echoRQ(1, 1)
	badMCH[11] = 0x07
	storeCmd := (&Command{Field: CStoreRQ, MessageID: 7, AffectedSOPClass: ctImage, AffectedSOPInstance: "1.2.3.4.5.6", HasDataSet: true}).Encode()
	halfStore := appendPData(appendPData(nil, 3, true, true, storeCmd), 3, false, false, ds[:10])

	for _, tc := range []struct {
		name string
		in   []byte
		want []byte // the PDUs written: type, then for RJ/ABORT their 3 significant bytes
	}{
		{"nothing", nil, nil},
		{"unknown PDU type first", header(0x09, 4), []byte{pduAbort, abortSourceProvider, abortUnrecognizedPDU}},
		{"P-DATA before association", echoRQ(1, 1), []byte{pduAbort, abortSourceProvider, abortUnexpectedPDU}},
		{"release before association", encodeRelease(pduReleaseRQ), []byte{pduAbort, abortSourceProvider, abortUnexpectedPDU}},
		{"huge A-ASSOCIATE-RQ", header(pduAssociateRQ, 0xFFFFFFFF), []byte{pduAbort, abortSourceProvider, abortInvalidParamValue}},
		{"truncated A-ASSOCIATE-RQ", rq[:100], nil},
		{"A-ASSOCIATE-RQ too short", append(header(pduAssociateRQ, 10), make([]byte, 10)...), []byte{pduAbort, abortSourceProvider, abortInvalidParamValue}},
		{"item length beyond the PDU", badItem, []byte{pduAbort, abortSourceProvider, abortInvalidParamValue}},
		{"even context ID", evenID, []byte{pduAbort, abortSourceProvider, abortInvalidParamValue}},
		{"no presentation context", noContexts, []byte{pduAbort, abortSourceProvider, abortInvalidParamValue}},
		{"application context", badApp, []byte{pduAssociateRJ, rejectPermanent, rejectSourceUser, rejectAppContext}},
		{"maximum length 10", tinyMax, []byte{pduAssociateRJ, rejectPermanent, rejectSourceUser, rejectNoReason}},
		{"echo and release", after(echoRQ(1, 5), encodeRelease(pduReleaseRQ)), []byte{pduAssociateAC, pduPData, pduReleaseRP}},
		{"peer abort", after(encodeAbort(0, 0), echoRQ(1, 5)), []byte{pduAssociateAC}},
		{"huge P-DATA", after(header(pduPData, 0xFFFFFFFF)), []byte{pduAssociateAC, pduAbort, abortSourceProvider, abortInvalidParamValue}},
		{"P-DATA beyond our maximum", after(header(pduPData, 128<<10+1)), []byte{pduAssociateAC, pduAbort, abortSourceProvider, abortInvalidParamValue}},
		{"P-DATA of 2 bytes", after(header(pduPData, 2), []byte{0, 0}), []byte{pduAssociateAC, pduAbort, abortSourceProvider, abortInvalidParamValue}},
		{"PDV beyond its PDU", after(badPDV), []byte{pduAssociateAC, pduAbort, abortSourceProvider, abortInvalidParamValue}},
		{"PDV on a context not proposed", after(echoRQ(5, 1)), []byte{pduAssociateAC, pduAbort, abortSourceProvider, abortInvalidParamValue}},
		{"data before command", after(appendPData(nil, 3, false, true, ds)), []byte{pduAssociateAC, pduAbort, abortSourceProvider, abortUnexpectedParam}},
		{"bad message control header", after(badMCH), []byte{pduAssociateAC, pduAbort, abortSourceProvider, abortInvalidParamValue}},
		{"garbage command set", after(garbageCmd), []byte{pduAssociateAC, pduAbort, abortSourceProvider, abortInvalidParamValue}},
		{"command set too large", after(bigCmd), []byte{pduAssociateAC, pduAbort, abortSourceProvider, abortInvalidParamValue}},
		{"release of 8 bytes", after(header(pduReleaseRQ, 8), make([]byte, 8)), []byte{pduAssociateAC, pduAbort, abortSourceProvider, abortInvalidParamValue}},
		{"second A-ASSOCIATE-RQ", after(rq), []byte{pduAssociateAC, pduAbort, abortSourceProvider, abortUnexpectedPDU}},
		{"unknown PDU type", after(header(0x10, 4), make([]byte, 4)), []byte{pduAssociateAC, pduAbort, abortSourceProvider, abortUnrecognizedPDU}},
		{"release in a data set", after(halfStore, encodeRelease(pduReleaseRQ)), []byte{pduAssociateAC, pduAbort, abortSourceProvider, abortUnexpectedPDU}},
		{"truncated C-STORE", after(truncatedStore), []byte{pduAssociateAC}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			c := serveBytes(s, tc.in)
			runtime.ReadMemStats(&after)
			if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
				t.Errorf("allocated %d bytes", n)
			}
			var got []byte
			for _, p := range pdus(t, c.pdus) {
				got = append(got, p[0])
				switch p[0] {
				case pduAbort:
					got = append(got, p[3:5]...) // source, reason
				case pduAssociateRJ:
					got = append(got, p[2:5]...) // result, source, reason
				}
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("server wrote % x, want % x", got, tc.want)
			}
		})
	}
	// The truncated C-STORE left nothing behind.
	if _, err := a.idx.Lookup(context.Background(), "1.2.3.4.5.6"); !errors.Is(err, index.ErrNotFound) {
		t.Errorf("truncated C-STORE: lookup: %v", err)
	}
}

// TestStoreStatuses stores through the upper layer with a hand-made
// client: a new instance, the same again, another content under the same
// UID, and a data set that is not DICOM.
func TestStoreStatuses(t *testing.T) {
	a := newArchive(t)
	s, err := New(Config{Ingester: a.ing, Policy: &Policy{AcceptAny: true}})
	if err != nil {
		t.Fatal(err)
	}
	other := append(implicitDataSet("1.2.3.9"), 0x10, 0, 0x10, 0, 2, 0, 0, 0, 'X', '^')
	for _, tc := range []struct {
		name   string
		sop    string
		ds     []byte
		status uint16
	}{
		{"new", "1.2.3.9", implicitDataSet("1.2.3.9"), StatusSuccess},
		{"identical", "1.2.3.9", implicitDataSet("1.2.3.9"), StatusSuccess},
		{"identical from another peer", "1.2.3.9", implicitDataSet("1.2.3.9"), StatusSuccess},
		{"other content", "1.2.3.9", other, StatusDuplicateInstance},
		{"not a data set", "1.2.3.10", []byte{0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3}, StatusCannotUnderstand},
		{"UID differs from the command", "1.2.3.11", implicitDataSet("1.2.3.12"), StatusWarningCoercion},
		{"SOP class differs from the context", "1.2.3.13", implicitDataSet("1.2.3.13"), StatusSOPClassUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rq := validRQ()
			if strings.Contains(tc.name, "another peer") {
				rq = encodeRQ("MINIPACS", "OTHERPEER", 16384, rqContext{3, ctImage, []string{part10.ImplicitVRLittleEndian}})
			}
			store := storeRQ(tc.sop, tc.ds, 5)
			if strings.Contains(tc.name, "SOP class differs") {
				c := &Command{Field: CStoreRQ, MessageID: 7, AffectedSOPClass: "1.2.840.10008.5.1.4.1.1.4", AffectedSOPInstance: tc.sop, HasDataSet: true}
				store = appendPData(appendPData(nil, 3, true, true, c.Encode()), 3, false, true, tc.ds)
			}
			in := bytes.Join([][]byte{rq, store, encodeRelease(pduReleaseRQ)}, nil)
			c := serveBytes(s, in)
			ps := pdus(t, c.pdus)
			if len(ps) != 3 || ps[1][0] != pduPData {
				t.Fatalf("PDUs % x", c.pdus)
			}
			// P-DATA: PDV length(4) context(1) control(1), command set.
			rsp, err := DecodeCommand(ps[1][1+6:])
			if err != nil {
				t.Fatal(err)
			}
			if rsp.Field != CStoreRSP || rsp.RespondedTo != 7 || rsp.Status != tc.status || rsp.AffectedSOPInstance != tc.sop {
				t.Errorf("response %+v, want status 0x%04x", rsp, tc.status)
			}
		})
	}
	// Refused before ingest: not stored.
	if _, err := a.idx.Lookup(context.Background(), "1.2.3.13"); !errors.Is(err, index.ErrNotFound) {
		t.Errorf("refused C-STORE: lookup: %v", err)
	}
}

// TestResponseFragments: a peer whose maximum length is 64 bytes gets the
// C-ECHO-RSP in P-DATA-TF PDUs of at most 64 bytes, which reassemble.
func TestResponseFragments(t *testing.T) {
	a := newArchive(t)
	s, err := New(Config{Ingester: a.ing, Policy: &Policy{AcceptAny: true}})
	if err != nil {
		t.Fatal(err)
	}
	rq := encodeRQ("MINIPACS", "SMALL", 64, rqContext{1, VerificationSOPClass, []string{part10.ImplicitVRLittleEndian}})
	c := serveBytes(s, bytes.Join([][]byte{rq, echoRQ(1, 42), encodeRelease(pduReleaseRQ)}, nil))
	var cmd, mch []byte
	for _, p := range pdus(t, c.pdus) {
		if p[0] != pduPData {
			continue
		}
		if len(p)-1 > 64 {
			t.Errorf("P-DATA-TF of %d bytes", len(p)-1)
		}
		cmd = append(cmd, p[1+6:]...)
		mch = append(mch, p[1+5])
	}
	n := len(mch)
	want := append(bytes.Repeat([]byte{1}, max(n-1, 0)), 3) // command fragments, the last one marked
	if !bytes.Equal(mch, want) {
		t.Errorf("message control headers % x, want % x", mch, want)
	}
	if n < 2 {
		t.Fatalf("%d P-DATA-TF PDUs, want several", n)
	}
	rsp, err := DecodeCommand(cmd)
	if err != nil || rsp.Field != CEchoRSP || rsp.RespondedTo != 42 {
		t.Fatalf("reassembled %+v, %v", rsp, err)
	}
}

// FuzzPDU feeds arbitrary bytes to the acceptor (PDU reader, association
// state machine, DIMSE reassembly and C-STORE into a real ingester): no
// panic, no hang, bounded output.
func FuzzPDU(f *testing.F) {
	rq := validRQ()
	ds := implicitDataSet("1.2.3.4.5.6")
	f.Add(rq)
	f.Add(bytes.Join([][]byte{rq, echoRQ(1, 1), encodeRelease(pduReleaseRQ)}, nil))
	f.Add(bytes.Join([][]byte{rq, storeRQ("1.2.3.4.5.6", ds, 7), encodeRelease(pduReleaseRQ)}, nil))
	f.Add(bytes.Join([][]byte{rq, storeRQ("1.2.3.4.5.6", ds, 1000), encodeAbort(0, 0)}, nil))
	f.Add(bytes.Join([][]byte{rq, header(pduPData, 0xFFFFFFFF)}, nil))
	f.Add(header(pduAssociateRQ, 0xFFFFFFFF))
	a := newArchive(f)
	s, err := New(Config{Ingester: a.ing, Policy: &Policy{AcceptAny: true}, Limits: Limits{MaxPDULength: 4096}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c := serveBytes(s, in)
		if c.written > 64<<10+len(in)*4 {
			t.Fatalf("wrote %d bytes for %d", c.written, len(in))
		}
	})
}

var _ io.Reader = (*fakeConn)(nil)
