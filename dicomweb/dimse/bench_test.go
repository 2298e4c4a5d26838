package dimse

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/archive/retrieve"
	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
)

// benchObject returns CT_small's data set (after the meta group) and its
// UIDs, for C-STORE benchmarks that change the SOP Instance UID per
// instance.
func benchObject(b *testing.B) (file, ds []byte, sopClass, sop string) {
	b.Helper()
	data, err := os.ReadFile(filepath.Join(corpus(&testing.T{}), "CT_small.dcm"))
	if err != nil {
		b.Skip("corpus: ", err)
	}
	f, err := part10.Parse(context.Background(), bytes.NewReader(data), int64(len(data)), part10.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	return data, data[f.DataSetOffset:], f.DataSet.String(part10.TagSOPClassUID), f.DataSet.String(part10.TagSOPInstanceUID)
}

// BenchmarkIngestOne is the floor under C-STORE: one instance per ingest
// batch (spool, check, durable write, index commit), in process.
func BenchmarkIngestOne(b *testing.B) {
	file, _, _, sop := benchObject(b)
	a := newArchive(b)
	ctx := context.Background()
	b.SetBytes(int64(len(file)))
	b.ResetTimer()
	for i := range b.N {
		uid := []byte(fmt.Sprintf("%s%05d", sop[:len(sop)-5], i%100000))
		batch := a.ing.Begin(ctx, "")
		if err := batch.Add(ctx, bytes.NewReader(bytes.ReplaceAll(file, []byte(sop), uid))); err != nil {
			b.Fatal(err)
		}
		if r := batch.Commit(ctx)[0]; r.Failure != 0 {
			b.Fatal(r.Err)
		}
	}
}

// BenchmarkCStore is one C-STORE over a loopback association (our
// requestor to our acceptor): the ingest floor plus the protocol.
func BenchmarkCStore(b *testing.B) {
	_, ds, class, sop := benchObject(b)
	a := newArchive(b)
	_, addr := startServer(b, Config{Ingester: a.ing, Policy: &Policy{AcceptAny: true}})
	peer, _ := New(Config{Ingester: a.ing, AETitle: "BENCH", Policy: &Policy{}})
	ctx := context.Background()
	c, err := peer.dialRequestor(ctx, addr, "MINIPACS", []proposal{{class, []string{part10.ExplicitVRLittleEndian}}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.close(nil)
	b.SetBytes(int64(len(ds)))
	b.ResetTimer()
	for i := range b.N {
		uid := fmt.Sprintf("%s%05d", sop[:len(sop)-5], i%100000)
		rsp, _, err := c.request(ctx, 1, &Command{Field: CStoreRQ, AffectedSOPClass: class, AffectedSOPInstance: uid},
			bytes.NewReader(bytes.ReplaceAll(ds, []byte(sop), []byte(uid))))
		if err != nil || rsp.Status != StatusSuccess {
			b.Fatalf("C-STORE: %v %v", rsp, err)
		}
	}
}

// BenchmarkCFindStudy is a study-level C-FIND by PatientID over an open
// association, among 200 studies.
func BenchmarkCFindStudy(b *testing.B) {
	file, _, _, _ := benchObject(b)
	a := newArchive(b)
	ctx := context.Background()
	f, _ := part10.Parse(ctx, bytes.NewReader(file), int64(len(file)), part10.Limits{})
	// Every UID of CT_small ends with this: 200 studies, each its own
	// series and instance, one patient.
	const suffix = "20040119072730.12322"
	batch := a.ing.Begin(ctx, "")
	for i := range 200 {
		obj := bytes.ReplaceAll(file, []byte(suffix), []byte(fmt.Sprintf("20040119072730.%05d", i)))
		if err := batch.Add(ctx, bytes.NewReader(obj)); err != nil {
			b.Fatal(err)
		}
	}
	for _, r := range batch.Commit(ctx) {
		if r.Failure != 0 {
			b.Fatal(r.Err)
		}
	}
	_, addr := startServer(b, Config{Ingester: a.ing, Index: a.idx, Retriever: retrieve.New(a.idx, a.store), Policy: &Policy{AcceptAny: true}})
	peer, _ := New(Config{Ingester: a.ing, AETitle: "BENCH", Policy: &Policy{}})
	c, err := peer.dialRequestor(ctx, addr, "MINIPACS", []proposal{{StudyRootFind, []string{part10.ExplicitVRLittleEndian}}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.close(nil)
	var ident dsWriter
	ident.explicit = true
	ident.str(0x00080052, "CS", "STUDY")
	ident.str(0x00100010, "PN", "")
	ident.str(0x00100020, "LO", f.DataSet.String(part10.TagPatientID))
	ident.str(0x0020000D, "UI", "")
	b.ResetTimer()
	for range b.N {
		c.msgID++
		id := c.msgID
		if err := c.w.message(1, &Command{Field: CFindRQ, MessageID: id, AffectedSOPClass: StudyRootFind}, bytes.NewReader(ident.b)); err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			rsp, _, _, err := c.r.readMessage()
			if err != nil {
				b.Fatal(err)
			}
			if rsp.Status != StatusPending {
				break
			}
			n++
		}
		if n != 200 {
			b.Fatalf("%d matches", n)
		}
	}
}
