package audit

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"
)

// receiver is an RFC 5425 syslog-over-TLS receiver on 127.0.0.1 that can
// be stopped and restarted on the same address.
type receiver struct {
	t    *testing.T
	addr string
	cfg  *tls.Config

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	seen  map[uint64]int
	bad   []string
	wg    sync.WaitGroup
}

var sdSeq = regexp.MustCompile(`^<(\d+)>1 \S+ \S+ minipacs \d+ AUDIT \[audit@32473 seq="(\d+)" hash="[0-9a-f]{64}"\] (.*)$`)

func newReceiver(t *testing.T) (*receiver, string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "audit test receiver"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &receiver{
		t:     t,
		cfg:   &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12},
		conns: map[net.Conn]bool{},
		seen:  map[uint64]int{},
	}
	r.start("127.0.0.1:0")
	t.Cleanup(r.stop)
	return r, caFile
}

func (r *receiver) start(addr string) {
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port may linger briefly after stop
		if ln, err = tls.Listen("tcp", addr, r.cfg); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		r.t.Fatal(err)
	}
	r.mu.Lock()
	r.ln, r.addr = ln, ln.Addr().String()
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			r.conns[c] = true
			r.mu.Unlock()
			r.wg.Add(1)
			go r.serve(c)
		}
	}()
}

func (r *receiver) serve(c net.Conn) {
	defer r.wg.Done()
	br := bufio.NewReader(c)
	for {
		lenStr, err := br.ReadString(' ')
		if err != nil {
			return
		}
		n, err := strconv.Atoi(lenStr[:len(lenStr)-1])
		if err != nil || n <= 0 || n > MaxLine+1000 {
			r.fail(fmt.Sprintf("bad frame length %q", lenStr))
			return
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(br, msg); err != nil {
			return
		}
		m := sdSeq.FindSubmatch(msg)
		if m == nil {
			r.fail(fmt.Sprintf("not an RFC 5424 audit message: %.200q", msg))
			return
		}
		seq, _ := strconv.ParseUint(string(m[2]), 10, 64)
		if got, _, err := parseLine(m[3]); err != nil || got != seq {
			r.fail(fmt.Sprintf("message %d does not carry an intact log line: %v", seq, err))
		}
		r.mu.Lock()
		r.seen[seq]++
		r.mu.Unlock()
	}
}

func (r *receiver) fail(s string) {
	r.mu.Lock()
	r.bad = append(r.bad, s)
	r.mu.Unlock()
}

// stop closes the listener and every connection, as a crashed server would.
func (r *receiver) stop() {
	r.mu.Lock()
	if r.ln != nil {
		r.ln.Close()
		r.ln = nil
	}
	for c := range r.conns {
		c.Close()
		delete(r.conns, c)
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// waitAll waits until every seq 1..n has arrived.
func (r *receiver) waitAll(t *testing.T, n uint64) (dups int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second) // -race on 2 loaded cores
	for {
		r.mu.Lock()
		missing := uint64(0)
		dups = 0
		for s := uint64(1); s <= n; s++ {
			if r.seen[s] == 0 {
				missing++
			}
			if r.seen[s] > 1 {
				dups += r.seen[s] - 1
			}
		}
		bad := r.bad
		r.mu.Unlock()
		if len(bad) > 0 {
			t.Fatal(bad[0])
		}
		if missing == 0 {
			return dups
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d records never arrived", missing, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestForwardAcrossOutage(t *testing.T) {
	rcv, caFile := newReceiver(t)
	path := filepath.Join(t.TempDir(), "audit.log")
	l := openLog(t, path, Options{MaxSize: 32 << 10, NoSync: true}) // rotates: the spool spans files
	cfg, err := ClientTLS(caFile, rcv.addr, "")
	if err != nil {
		t.Fatal(err)
	}
	newFwd := func() (stop func()) {
		fw, err := NewForwarder(path, ForwardOptions{
			Addr: rcv.addr, TLS: cfg, ConfirmAfter: 150 * time.Millisecond,
			MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Wake: l.Notify(),
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- fw.Run(ctx) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
	write := func(n int) {
		for i := 0; i < n; i++ {
			if err := l.Record(context.Background(), sampleRecord(i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	stopFwd := newFwd()
	write(200)
	rcv.waitAll(t, 200)

	// The receiver goes down while records stream out, and comes back.
	streamed := make(chan struct{})
	go func() {
		defer close(streamed)
		for i := 0; i < 400; i++ {
			if err := l.Record(context.Background(), sampleRecord(i)); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	time.Sleep(100 * time.Millisecond)
	rcv.stop()
	time.Sleep(300 * time.Millisecond) // the forwarder fails and backs off
	rcv.start(rcv.addr)
	<-streamed
	rcv.waitAll(t, 600)

	// minipacs restarts the forwarder: it resumes from the persisted seq.
	stopFwd()
	write(100)
	stopFwd = newFwd()
	defer stopFwd()
	dups := rcv.waitAll(t, 700)
	files, _ := logFiles(path)
	t.Logf("700 records over %d log files delivered at least once, %d duplicates (same seq)", len(files), dups)
	if len(files) < 3 {
		t.Errorf("the log did not rotate (%d files): the test does not cover the spool across files", len(files))
	}
	// Two disruptions (the outage, the restart): each record may be sent
	// again after each, never more (a resend loop would exceed this).
	if dups > 2*700 {
		t.Errorf("%d duplicates: the forwarder resends records more than once per disruption", dups)
	}
}

func TestClientTLSErrors(t *testing.T) {
	if _, err := ClientTLS("", "no-port", ""); err == nil {
		t.Error("address without port accepted")
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not pem"), 0o600)
	if _, err := ClientTLS(bad, "h:1", ""); err == nil {
		t.Error("CA file without certificates accepted")
	}
	if _, err := ClientTLS(filepath.Join(t.TempDir(), "missing"), "h:1", ""); err == nil {
		t.Error("missing CA file accepted")
	}
	if _, err := NewForwarder("x", ForwardOptions{Addr: "h:1"}); err == nil {
		t.Error("forwarder without TLS accepted")
	}
}
