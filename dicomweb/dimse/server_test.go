package dimse

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// client associates with the server at addr (validRQ) and returns the
// connection once the A-ASSOCIATE-AC is read, or the refusal's PDU.
func client(t *testing.T, addr string) (net.Conn, byte, []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(validRQ()); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	typ, v, err := readPDU(c)
	if err != nil {
		t.Fatalf("no answer to the A-ASSOCIATE-RQ: %v", err)
	}
	return c, typ, v
}

// expectAbort reads the next PDU and wants an A-ABORT from the provider.
func expectAbort(t *testing.T, c net.Conn, within time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	typ, v, err := readPDU(c)
	if err != nil || typ != pduAbort || v[2] != abortSourceProvider {
		t.Fatalf("got PDU 0x%02x % x, %v; want A-ABORT", typ, v, err)
	}
}

func TestAssociationLimit(t *testing.T) {
	a := newArchive(t)
	_, addr := startServer(t, Config{Ingester: a.ing, Policy: &Policy{AcceptAny: true}, Limits: Limits{MaxAssociations: 1}})
	c1, typ, _ := client(t, addr)
	if typ != pduAssociateAC {
		t.Fatalf("first association: PDU 0x%02x", typ)
	}
	_, typ, v := client(t, addr)
	if typ != pduAssociateRJ || !bytes.Equal(v[1:4], []byte{rejectTransient, rejectSourcePresentation, rejectLocalLimitExceeded}) {
		t.Fatalf("second association: PDU 0x%02x % x, want A-ASSOCIATE-RJ 2/3/2", typ, v)
	}
	// A connection that says nothing holds the one negotiation slot:
	// the next one is refused at once, transiently (2/3/1).
	// (Retry until the server has accepted the silent connection and it
	// holds the slot, unanswered.)
	var silent net.Conn
	for i := 0; silent == nil; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
			silent = c
			break
		}
		c.Close()
		if i == 50 {
			t.Fatal("no negotiation slot for the silent connection")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, typ, v = client(t, addr)
	if typ != pduAssociateRJ || !bytes.Equal(v[1:4], []byte{rejectTransient, rejectSourcePresentation, rejectTemporaryCongestion}) {
		t.Fatalf("while negotiating: PDU 0x%02x % x, want A-ASSOCIATE-RJ 2/3/1", typ, v)
	}
	silent.Close()
	// Released, the slot is free again.
	c1.Write(encodeRelease(pduReleaseRQ))
	if typ, _, err := readPDU(c1); err != nil || typ != pduReleaseRP {
		t.Fatalf("release: 0x%02x %v", typ, err)
	}
	c1.Close()
	for i := 0; ; i++ {
		_, typ, _ := client(t, addr)
		if typ == pduAssociateAC {
			break
		}
		if i == 50 {
			t.Fatal("slot not freed after release")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTimers(t *testing.T) {
	a := newArchive(t)
	_, addr := startServer(t, Config{Ingester: a.ing, Policy: &Policy{AcceptAny: true},
		Limits: Limits{ARTIMTimeout: 200 * time.Millisecond, IdleTimeout: 300 * time.Millisecond}})
	t.Run("ARTIM", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := io.Copy(io.Discard, c); err != nil || n != 0 {
			t.Fatalf("read %d bytes, %v; want the server to close", n, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("closed after %v", d)
		}
	})
	t.Run("idle", func(t *testing.T) {
		c, typ, _ := client(t, addr)
		if typ != pduAssociateAC {
			t.Fatalf("PDU 0x%02x", typ)
		}
		expectAbort(t, c, 5*time.Second)
	})
}

func TestShutdown(t *testing.T) {
	a := newArchive(t)
	s, err := New(Config{Ingester: a.ing, Policy: &Policy{AcceptAny: true}})
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
	c, typ, _ := client(t, ln.Addr().String())
	if typ != pduAssociateAC {
		t.Fatalf("PDU 0x%02x", typ)
	}
	// An echo works, then shutdown aborts the idle association.
	c.Write(echoRQ(1, 1))
	if typ, _, err := readPDU(c); err != nil || typ != pduPData {
		t.Fatalf("echo: 0x%02x %v", typ, err)
	}
	cancel()
	expectAbort(t, c, 5*time.Second)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("still listening")
	}
}
