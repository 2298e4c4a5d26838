package hl7

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb/kind"
)

// memJournal is an in-memory Journal, for tests only.
type memJournal struct {
	mu      sync.Mutex
	acks    map[string][]byte
	failGet error
}

func (j *memJournal) Lookup(ctx context.Context, key string) ([]byte, bool, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.failGet != nil {
		return nil, false, j.failGet
	}
	a, ok := j.acks[key]
	return a, ok, nil
}

func (j *memJournal) Record(ctx context.Context, key string, ack []byte) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.acks == nil {
		j.acks = map[string][]byte{}
	}
	j.acks[key] = bytes.Clone(ack)
	return nil
}

// fakeApplier records the control IDs it applied; errs says what to
// answer per control ID.
type fakeApplier struct {
	mu      sync.Mutex
	applied []string
	errs    map[string]error
	block   chan struct{} // when set, Apply waits for it (or ctx)
}

func (a *fakeApplier) Apply(ctx context.Context, m *Message) error {
	if a.block != nil {
		select {
		case <-a.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, event, _ := m.Type(); event == "A99" {
		return NewError(CodeUnsupportedEvent, "event %s is not applied", event)
	}
	if err := a.errs[m.ControlID()]; err != nil {
		return err
	}
	a.applied = append(a.applied, m.ControlID())
	return nil
}

func (a *fakeApplier) got() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.applied...)
}

type recAuditor struct {
	mu sync.Mutex
	ev []MessageEvent
}

func (r *recAuditor) Received(ctx context.Context, ev MessageEvent) {
	r.mu.Lock()
	r.ev = append(r.ev, ev)
	r.mu.Unlock()
}

type testServer struct {
	addr    string
	app     *fakeApplier
	journal *memJournal
	audit   *recAuditor
	cancel  context.CancelFunc
	done    chan error
}

func startServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	ts := &testServer{app: &fakeApplier{errs: map[string]error{}}, journal: &memJournal{}, audit: &recAuditor{}, done: make(chan error, 1)}
	if cfg.Applier == nil {
		cfg.Applier = ts.app
	} else {
		ts.app = cfg.Applier.(*fakeApplier)
	}
	cfg.Journal, cfg.Auditor = ts.journal, ts.audit
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel = cancel
	go func() { ts.done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-ts.done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Serve did not return")
		}
	})
	return ts
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// exchange sends raw bytes and reads one framed answer; nil when the
// server closed the connection instead.
func exchange(t *testing.T, c net.Conn, br *bufio.Reader, raw []byte) *Message {
	t.Helper()
	if _, err := c.Write(raw); err != nil {
		t.Fatal(err)
	}
	b, err := newFrameReaderFrom(br).next()
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err) {
			return nil
		}
		t.Fatalf("reading the ACK: %v", err)
	}
	m, err := Parse(b)
	if err != nil {
		t.Fatalf("ACK %q: %v", b, err)
	}
	return m
}

func newFrameReaderFrom(br *bufio.Reader) *frameReader { return &frameReader{br: br, max: 1 << 20} }

func isReset(err error) bool {
	return strings.Contains(err.Error(), "reset") || strings.Contains(err.Error(), "broken pipe")
}

func TestServerMessages(t *testing.T) {
	ts := startServer(t, Config{App: "MINIPACS", Facility: "RADIOLOGY"})
	ts.app.errs["INVALID1"] = kind.New(kind.Invalid, "PID-3 has no MR identifier")
	ts.app.errs["CONFLICT1"] = kind.New(kind.Conflict, "patient 1 has another birth date")
	ts.app.errs["DOWN1"] = kind.New(kind.Unavailable, "index: unavailable")
	hdr := func(typ, ctl, ver string) string {
		return "MSH|^~\\&|EPIC|GENHOSP|MINIPACS|RADIOLOGY|20240101||" + typ + "|" + ctl + "|P|" + ver + "\rPID|1||1^^^GENHOSP^MR\r"
	}
	tests := []struct {
		name    string
		msg     string
		ack     AckCode
		code    string // ERR-3.1
		applied bool
	}{
		{"A01", string(readMessage(t, "adt_a01.hl7")), AA, "", true},
		{"A08", string(readMessage(t, "adt_a08.hl7")), AA, "", true},
		{"A40", string(readMessage(t, "adt_a40.hl7")), AA, "", true},
		{"A47", string(readMessage(t, "adt_a47.hl7")), AA, "", true},
		{"O01", string(readMessage(t, "orm_o01.hl7")), AA, "", true},
		{"O23", string(readMessage(t, "omi_o23.hl7")), AA, "", true},
		{"R01", string(readMessage(t, "oru_r01.hl7")), AA, "", true},
		{"other delimiters", string(readMessage(t, "adt_a08_hash.hl7")), AA, "", true},
		{"unknown event", hdr("ADT^A99", "E1", "2.5"), AR, "201", false},
		{"invalid", hdr("ADT^A08", "INVALID1", "2.5"), AE, "207", false},
		{"conflict", hdr("ADT^A08", "CONFLICT1", "2.5"), AE, "205", false},
		{"unavailable", hdr("ADT^A08", "DOWN1", "2.5"), AR, "207", false},
		{"unsupported version", hdr("ADT^A08", "V1", "2.2"), AR, "203", false},
		{"no control ID", hdr("ADT^A08", "", "2.5"), AE, "101", false},
		{"ACK to us", hdr("ACK^A08", "K1", "2.5"), AR, "200", false},
		{"no MSH", "PID|1||1\r", AR, "100", false},
		{"bad encoding characters", "MSH|^^\\&|EPIC|GENHOSP|||2024||ADT^A08|B1|P|2.5\r", AR, "102", false},
		{"bad segment", hdr("ADT^A08", "S1", "2.5") + "pid|x\r", AE, "100", false},
	}
	c := dial(t, ts.addr)
	br := bufio.NewReader(c)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(ts.app.got())
			ack := exchange(t, c, br, frame([]byte(tt.msg)))
			if ack == nil {
				t.Fatal("connection closed")
			}
			msa := ack.Segment("MSA")
			if got := AckCode(msa.Field(1)); got != tt.ack {
				t.Fatalf("MSA-1 %s, want %s (%q)", got, tt.ack, ack.String())
			}
			var ctl string
			if in, err := (Parser{}).parse([]byte(tt.msg)); in != nil {
				ctl = in.ControlID()
				app, fac := ack.Receiver()
				if wantApp, wantFac := in.Sender(); app != wantApp || fac != wantFac {
					t.Errorf("ACK receiver %s %s", app, fac)
				}
				if ack.Delimiters() != in.Delimiters() {
					t.Errorf("ACK delimiters %+v", ack.Delimiters())
				}
				if _, ev, _ := in.Type(); err == nil && ack.MSH().Raw(9) != strings.Join([]string{"ACK", ev, "ACK"}, string(in.Delimiters().Component)) {
					t.Errorf("ACK MSH-9 %q", ack.MSH().Raw(9))
				}
			}
			if msa.Field(2) != ctl {
				t.Errorf("MSA-2 %q, want %q", msa.Field(2), ctl)
			}
			if app, fac := ack.Sender(); app != "MINIPACS" || fac != "RADIOLOGY" {
				t.Errorf("ACK sender %s %s", app, fac)
			}
			if ack.ControlID() == "" || ack.ControlID() == ctl {
				t.Errorf("ACK control ID %q", ack.ControlID())
			}
			if e := ack.Segment("ERR"); (e != nil) != (tt.code != "") || e != nil && e.Component(3, 1) != tt.code {
				t.Errorf("ERR %q, want code %q", ack.String(), tt.code)
			}
			if applied := len(ts.app.got()) > before; applied != tt.applied {
				t.Errorf("applied %v, want %v", applied, tt.applied)
			}
		})
	}
	ts.audit.mu.Lock()
	n := len(ts.audit.ev)
	last := ts.audit.ev[n-1]
	first := ts.audit.ev[0]
	ts.audit.mu.Unlock()
	if n != len(tests) {
		t.Errorf("%d audit events, want %d", n, len(tests))
	}
	if first.SendingApp != "EPIC" || first.SendingFacility != "GENHOSP" || first.Code != "ADT" || first.Event != "A01" ||
		first.ControlID != "MSG00001" || first.Ack != AA || !strings.HasPrefix(first.Remote, "127.0.0.1:") {
		t.Errorf("audit event %+v", first)
	}
	if last.Ack != AE || last.Error != CodeSegmentSequence {
		t.Errorf("last audit event %+v", last)
	}
}

func TestServerDuplicates(t *testing.T) {
	ts := startServer(t, Config{})
	ts.app.errs["MSG00003"] = kind.New(kind.Unavailable, "index down")
	c := dial(t, ts.addr)
	br := bufio.NewReader(c)
	a01 := frame(readMessage(t, "adt_a01.hl7"))
	first := exchange(t, c, br, a01)
	second := exchange(t, c, br, a01)
	if first == nil || second == nil {
		t.Fatal("connection closed")
	}
	if got := ts.app.got(); len(got) != 1 {
		t.Fatalf("applied %v, want once", got)
	}
	if first.String() != second.String() {
		t.Errorf("duplicate answered %q, want the recorded %q", second.String(), first.String())
	}
	// Same control ID from another sender: not a duplicate.
	other := bytes.Replace(readMessage(t, "adt_a01.hl7"), []byte("|EPIC|"), []byte("|CERNER|"), 1)
	if ack := exchange(t, c, br, frame(other)); AckCode(ack.Segment("MSA").Field(1)) != AA || len(ts.app.got()) != 2 {
		t.Errorf("other sender: applied %v", ts.app.got())
	}
	// An AR (transient) is not recorded: the re-send is applied.
	a40 := frame(readMessage(t, "adt_a40.hl7"))
	if ack := exchange(t, c, br, a40); AckCode(ack.Segment("MSA").Field(1)) != AR {
		t.Fatalf("A40 with the index down: %q", ack.String())
	}
	delete(ts.app.errs, "MSG00003")
	if ack := exchange(t, c, br, a40); AckCode(ack.Segment("MSA").Field(1)) != AA || len(ts.app.got()) != 3 {
		t.Fatalf("A40 re-sent: %q, applied %v", ack.String(), ts.app.got())
	}
	ts.audit.mu.Lock()
	dup := ts.audit.ev[1]
	ts.audit.mu.Unlock()
	if !dup.Duplicate || dup.Ack != AA || dup.ControlID != "MSG00001" {
		t.Errorf("duplicate audit %+v", dup)
	}
	// A journal that cannot be read: AR, nothing applied.
	ts.journal.mu.Lock()
	ts.journal.failGet = kind.New(kind.Unavailable, "journal down")
	ts.journal.mu.Unlock()
	if ack := exchange(t, c, br, frame(readMessage(t, "adt_a47.hl7"))); AckCode(ack.Segment("MSA").Field(1)) != AR || len(ts.app.got()) != 3 {
		t.Errorf("journal down: %q, applied %v", ack.String(), ts.app.got())
	}
}

func TestServerMalformedFrames(t *testing.T) {
	ts := startServer(t, Config{Limits: Limits{MaxMessageBytes: 64 << 10, ReadTimeout: time.Second}})
	msg := readMessage(t, "adt_a08.hl7")
	huge := append(bytes.Clone(msg), []byte("\rNTE|1||"+strings.Repeat("x", 200<<10))...)
	tests := []struct {
		name   string
		raw    []byte
		ack    AckCode // "" : the connection is closed
		closes bool    // after the answer, if any
	}{
		{"bytes outside a frame", append([]byte("GET / HTTP/1.1\r\n\r\n"), frame(msg)...), "", true},
		{"newline between frames", append([]byte("\n"), frame(msg)...), "", true},
		{"truncated frame", append([]byte{startBlock}, msg[:40]...), "", true},
		{"end block without CR", append(append([]byte{startBlock}, msg...), endBlock, 'x'), "", true},
		{"start block inside a frame", append(append([]byte{startBlock}, msg[:20]...), frame(msg)...), "", true},
		{"oversized frame with MSH", frame(huge), AR, false},
		{"oversized frame without MSH", frame([]byte(strings.Repeat("y", 100<<10))), "", true},
		{"huge segment within the limit", frame(append(bytes.Clone(msg), []byte("\rNTE|1||"+strings.Repeat("z", 60<<10))...)), AA, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, ts.addr)
			br := bufio.NewReader(c)
			ack := exchange(t, c, br, tt.raw)
			if tt.ack == "" {
				if ack != nil {
					t.Fatalf("answered %q, want the connection closed", ack.String())
				}
				return
			}
			if ack == nil {
				t.Fatal("connection closed")
			}
			if got := AckCode(ack.Segment("MSA").Field(1)); got != tt.ack {
				t.Fatalf("MSA-1 %s, want %s: %q", got, tt.ack, ack.String())
			}
			// The connection goes on.
			if next := exchange(t, c, br, frame(msg)); next == nil || AckCode(next.Segment("MSA").Field(1)) != AA {
				t.Fatal("the next message was not answered AA")
			}
		})
	}
	// A frame cut in the middle: the read timeout closes the connection.
	c := dial(t, ts.addr)
	c.Write(append([]byte{startBlock}, msg[:30]...))
	start := time.Now()
	if _, err := c.Read(make([]byte, 1)); err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("half a frame: %v after %v", err, time.Since(start))
	}
}

func TestServerAllowList(t *testing.T) {
	allow, err := ParseAllowList(strings.NewReader("# who may send\nGENHOSP 127.0.0.0/8\nOTHER 10.1.2.3\n"))
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, Config{Allow: allow})
	c := dial(t, ts.addr)
	br := bufio.NewReader(c)
	if ack := exchange(t, c, br, frame(readMessage(t, "adt_a08.hl7"))); AckCode(ack.Segment("MSA").Field(1)) != AA {
		t.Fatalf("GENHOSP: %q", ack.String())
	}
	other := bytes.Replace(readMessage(t, "adt_a08.hl7"), []byte("|GENHOSP|"), []byte("|OTHER|"), 1)
	if ack := exchange(t, c, br, frame(other)); AckCode(ack.Segment("MSA").Field(1)) != AR || len(ts.app.got()) != 1 {
		t.Fatalf("OTHER from 127.0.0.1: %q", ack.String())
	}
	// A list without our address: the connection is closed at once.
	none, _ := ParseAllowList(strings.NewReader("* 10.0.0.0/8\n"))
	ts2 := startServer(t, Config{Allow: none})
	c2 := dial(t, ts2.addr)
	if ack := exchange(t, c2, bufio.NewReader(c2), frame(readMessage(t, "adt_a08.hl7"))); ack != nil {
		t.Fatalf("answered %q", ack.String())
	}
}

func TestParseAllowList(t *testing.T) {
	a, err := ParseAllowList(strings.NewReader("GENHOSP 192.0.2.0/24 # lab\n* 2001:db8::1\nLAB *\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	addr := func(s string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(s), Port: 1} }
	for _, tt := range []struct {
		fac, ip string
		want    bool
	}{
		{"GENHOSP", "192.0.2.7", true}, {"GENHOSP", "::ffff:192.0.2.7", true}, {"GENHOSP", "198.51.100.1", false},
		{"ANY", "2001:db8::1", true}, {"ANY", "2001:db8::2", false}, {"LAB", "203.0.113.9", true},
	} {
		if got := a.Allow(tt.fac, addr(tt.ip)); got != tt.want {
			t.Errorf("Allow(%s, %s) = %v", tt.fac, tt.ip, got)
		}
	}
	for _, bad := range []string{"GENHOSP\n", "A B C\n", "A 300.1.1.1\n", "A 10.0.0.0/99\n"} {
		if _, err := ParseAllowList(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if CheckExposure("0.0.0.0:2575", nil) == nil || CheckExposure(":2575", nil) == nil {
		t.Error("exposed listener without an allow list accepted")
	}
	if CheckExposure("127.0.0.1:2575", nil) != nil || CheckExposure("0.0.0.0:2575", a) != nil {
		t.Error("CheckExposure refused a safe listener")
	}
	// Serve refuses too.
	s, _ := New(Config{Applier: &fakeApplier{}, Journal: &memJournal{}})
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Skip(err)
	}
	if err := s.Serve(context.Background(), ln); err == nil {
		t.Error("Serve on 0.0.0.0 without an allow list")
	}
}

func TestServerShutdown(t *testing.T) {
	app := &fakeApplier{errs: map[string]error{}, block: make(chan struct{})}
	ts := startServer(t, Config{Applier: app, Limits: Limits{ShutdownGrace: 2 * time.Second}})
	idle := dial(t, ts.addr)
	busy := dial(t, ts.addr)
	busy.Write(frame(readMessage(t, "adt_a08.hl7")))
	time.Sleep(100 * time.Millisecond)
	ts.cancel()
	// The idle connection closes at once.
	start := time.Now()
	if _, err := idle.Read(make([]byte, 1)); err == nil || time.Since(start) > time.Second {
		t.Errorf("idle connection: %v after %v", err, time.Since(start))
	}
	// The message being applied ends (released within the grace) and is
	// answered AA; then the connection closes.
	time.AfterFunc(300*time.Millisecond, func() { close(app.block) })
	br := bufio.NewReader(busy)
	ack := exchange(t, busy, br, nil)
	if ack == nil || AckCode(ack.Segment("MSA").Field(1)) != AA {
		t.Fatalf("busy connection: %v", ack)
	}
	if _, err := br.ReadByte(); err == nil {
		t.Error("the connection stays open after shutdown")
	}
	select {
	case err := <-ts.done:
		ts.done <- err
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
}

func TestServerShutdownGraceExpires(t *testing.T) {
	app := &fakeApplier{errs: map[string]error{}, block: make(chan struct{})}
	ts := startServer(t, Config{Applier: app, Limits: Limits{ShutdownGrace: 300 * time.Millisecond}})
	busy := dial(t, ts.addr)
	busy.Write(frame(readMessage(t, "adt_a08.hl7")))
	time.Sleep(100 * time.Millisecond)
	ts.cancel()
	// Apply never returns by itself: its context is cancelled after the
	// grace and the answer is AR (the sender keeps the message).
	ack := exchange(t, busy, bufio.NewReader(busy), nil)
	if ack == nil || AckCode(ack.Segment("MSA").Field(1)) != AR {
		t.Fatalf("busy connection: %v", ack)
	}
}

func TestServerMaxConnections(t *testing.T) {
	ts := startServer(t, Config{Limits: Limits{MaxConnections: 1}})
	c1 := dial(t, ts.addr)
	br := bufio.NewReader(c1)
	if ack := exchange(t, c1, br, frame(readMessage(t, "adt_a08.hl7"))); ack == nil {
		t.Fatal("first connection closed")
	}
	c2 := dial(t, ts.addr)
	if _, err := c2.Read(make([]byte, 1)); err == nil {
		t.Error("second connection served beyond the limit")
	}
}
