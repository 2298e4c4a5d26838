package dimse

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb/archive/ingest"
	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/storage/disk"
)

// archive is an in-test archive: a disk store, a bbolt index and the
// real ingester, in a temporary directory.
type archive struct {
	dir   string // of the disk store
	store *disk.Store
	idx   *index.Index
	ing   *ingest.Ingester
}

func newArchive(t testing.TB) *archive {
	t.Helper()
	dir := t.TempDir()
	d, err := disk.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := index.Open(context.Background(), filepath.Join(dir, "index.db"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	ing, err := ingest.New(d, idx, ingest.Config{SpoolDir: filepath.Join(dir, "spool")})
	if err != nil {
		t.Fatal(err)
	}
	return &archive{dir: dir, store: d, idx: idx, ing: ing}
}

// object returns the stored bytes of an instance.
func (a *archive) object(t testing.TB, sop string) ([]byte, *index.Ref) {
	t.Helper()
	ref, err := a.idx.Lookup(context.Background(), sop)
	if err != nil {
		t.Fatalf("lookup %s: %v", sop, err)
	}
	rc, _, err := a.store.Get(context.Background(), ref.ObjectKey)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b, ref
}

// startServer runs a Server on a free loopback port until the test ends
// and returns its address.
func startServer(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	if cfg.Limits.ARTIMTimeout == 0 {
		cfg.Limits.ARTIMTimeout = 2 * time.Second
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, ln.Addr().String()
}

// rqContext is a proposed presentation context for encodeRQ.
type rqContext struct {
	id       byte
	abstract string
	ts       []string
}

// encodeRQ builds an A-ASSOCIATE-RQ.
func encodeRQ(called, calling string, maxLen uint32, pcs ...rqContext) []byte {
	b := []byte{pduAssociateRQ, 0, 0, 0, 0, 0, 0, 1, 0, 0}
	ae := func(s string) []byte { return append([]byte(s), bytes.Repeat([]byte(" "), 16-len(s))...) }
	b = append(b, ae(called)...)
	b = append(b, ae(calling)...)
	b = append(b, make([]byte, 32)...)
	b = appendItem(b, itemAppContext, []byte(ApplicationContext))
	for _, pc := range pcs {
		v := []byte{pc.id, 0, 0, 0}
		v = appendItem(v, itemAbstractSyntax, []byte(pc.abstract))
		for _, ts := range pc.ts {
			v = appendItem(v, itemTransferSyntax, []byte(ts))
		}
		b = appendItem(b, itemPresContextRQ, v)
	}
	var u []byte
	u = appendItem(u, itemMaxLength, binary.BigEndian.AppendUint32(nil, maxLen))
	u = appendItem(u, itemImplClassUID, []byte("1.2.3.4"))
	b = appendItem(b, itemUserInfo, u)
	binary.BigEndian.PutUint32(b[2:6], uint32(len(b)-6))
	return b
}

// echoRQ is a P-DATA-TF with a C-ECHO-RQ on context id.
func echoRQ(id byte, msgID uint16) []byte {
	c := &Command{Field: CEchoRQ, MessageID: msgID, AffectedSOPClass: VerificationSOPClass}
	return appendPData(nil, id, true, true, c.Encode())
}

// readPDU reads one PDU (at most 1 MiB) from a test client connection.
func readPDU(r io.Reader) (byte, []byte, error) {
	h, err := readPDUHeader(r)
	if err != nil {
		return 0, nil, err
	}
	if h.length > 1<<20 {
		return 0, nil, errors.New("PDU too large for a test")
	}
	b := make([]byte, h.length)
	_, err = io.ReadFull(r, b)
	return h.typ, b, err
}

// fakeConn is a net.Conn that reads a fixed input and counts what is
// written (for the fuzz target: no sockets, no goroutines).
type fakeConn struct {
	r       *bytes.Reader
	written int
	pdus    []byte // the first MiB written
}

func (c *fakeConn) Read(p []byte) (int, error) { return c.r.Read(p) }
func (c *fakeConn) Write(p []byte) (int, error) {
	c.written += len(p)
	if len(c.pdus) < 1<<20 {
		c.pdus = append(c.pdus, p[:min(len(p), 1<<20-len(c.pdus))]...)
	}
	return len(p), nil
}
func (c *fakeConn) Close() error        { return nil }
func (c *fakeConn) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 11112} }
func (c *fakeConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *fakeConn) SetDeadline(time.Time) error      { return nil }
func (c *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fakeConn) SetWriteDeadline(time.Time) error { return nil }
