package hl7

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minipacs/minipacs/dicomweb/kind"
)

// Applier applies received messages to the archive (patients, orders,
// reports). Apply returns only once the message's effect is durable.
// It must be idempotent: a message applied and then received again (the
// ACK was lost, or the server crashed before the journal recorded it) is
// applied again and must leave the same state. Its error's kind (or an
// *Error in its chain) chooses the ACK (Outcome): Invalid AE, NotFound AE
// 204, Conflict AE 205, Unsupported AR 200 (an *Error with
// CodeUnsupportedEvent says 201), Unavailable AR.
type Applier interface {
	Apply(ctx context.Context, m *Message) error
}

// Journal remembers the ACKs of applied messages, for duplicate control:
// a message whose key (JournalKey) is recorded is answered with the
// recorded ACK and not applied again. Only AA acknowledgments are
// recorded, after Apply returned: a crash in between re-applies the
// message when the sender sends it again, it never loses it.
type Journal interface {
	// Lookup returns the ACK recorded for key, ok false when none.
	Lookup(ctx context.Context, key string) (ack []byte, ok bool, err error)
	// Record records the ACK sent for key.
	Record(ctx context.Context, key string, ack []byte) error
}

// JournalKey is the duplicate-control key of m: sending application and
// facility (as Sender returns them) and control ID,
// "app^facility|controlID".
func JournalKey(m *Message) string {
	app, fac := m.Sender()
	return app + "^" + fac + "|" + m.ControlID()
}

// MessageEvent describes a message answered.
type MessageEvent struct {
	Remote          string // source address, host:port
	SendingApp      string // MSH-3 (Message.Sender); "" when no MSH was read
	SendingFacility string // MSH-4
	Code, Event     string // MSH-9: message code and trigger event
	ControlID       string // MSH-10
	Ack             AckCode
	Error           ErrorCode // 0 for AA
	Text            string    // what went wrong, for AE and AR
	Duplicate       bool      // answered from the journal, not applied again
}

// Auditor receives an event per message answered. Calls are made from the
// connection's goroutine: they must not block for long.
type Auditor interface {
	Received(ctx context.Context, ev MessageEvent)
}

// Limits bound the HL7 front door.
type Limits struct {
	MaxMessageBytes int // one message (default 1 MiB); over it: AR
	MaxSegments     int // per message (default 10000)
	MaxFields       int // per segment (default 1000)
	MaxConnections  int // concurrent connections (default 16); beyond, closed at once
	// IdleTimeout bounds the wait for the next message (default 10 min):
	// then the connection is closed (senders reconnect).
	IdleTimeout time.Duration
	// ReadTimeout bounds the reading of one message from its start block
	// (default 30 s); WriteTimeout the writing of its ACK (default 30 s).
	ReadTimeout, WriteTimeout time.Duration
	// ShutdownGrace is how long a message being applied may go on after
	// shutdown started (default 10 s); idle connections close at once.
	ShutdownGrace time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.MaxMessageBytes <= 0 {
		l.MaxMessageBytes = 1 << 20
	}
	if l.MaxConnections <= 0 {
		l.MaxConnections = 16
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = 10 * time.Minute
	}
	if l.ReadTimeout <= 0 {
		l.ReadTimeout = 30 * time.Second
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = 30 * time.Second
	}
	if l.ShutdownGrace <= 0 {
		l.ShutdownGrace = 10 * time.Second
	}
	return l
}

// DefaultVersions are the versions accepted when Config.Versions is nil.
var DefaultVersions = []string{"2.3", "2.3.1", "2.4", "2.5", "2.5.1"}

// Config configures a Server.
type Config struct {
	Applier Applier // required
	Journal Journal // required
	// Allow says who may send (nil: everyone; CheckExposure and Serve
	// refuse that on a non-loopback address).
	Allow *AllowList
	// Versions are the MSH-12 versions accepted (nil: DefaultVersions);
	// others are answered AR 203.
	Versions []string
	Limits   Limits
	Logger   *slog.Logger
	Auditor  Auditor // optional
	// App and Facility are ours: MSH-3 and MSH-4 of our ACKs (default
	// MINIPACS and "").
	App, Facility string
}

// Server is the HL7 v2 front door: an MLLP listener answering each
// message with an original mode ACK.
type Server struct {
	cfg    Config
	lim    Limits
	parser Parser
	log    *slog.Logger
	allow  atomic.Pointer[AllowList]
	slots  chan struct{}

	ctlPrefix string
	ctlSeq    atomic.Uint64

	mu     sync.Mutex
	conns  map[*conn]struct{}
	wg     sync.WaitGroup
	stopAt atomic.Int64 // unix nanoseconds: the end of the shutdown grace
}

// New returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Applier == nil {
		return nil, errors.New("hl7: no applier")
	}
	if cfg.Journal == nil {
		return nil, errors.New("hl7: no journal")
	}
	if cfg.App == "" {
		cfg.App = "MINIPACS"
	}
	if cfg.Versions == nil {
		cfg.Versions = DefaultVersions
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	lim := cfg.Limits.withDefaults()
	s := &Server{
		cfg: cfg, lim: lim, log: cfg.Logger.With("component", "hl7"),
		parser:    Parser{MaxBytes: lim.MaxMessageBytes, MaxSegments: lim.MaxSegments, MaxFields: lim.MaxFields},
		slots:     make(chan struct{}, lim.MaxConnections),
		conns:     map[*conn]struct{}{},
		ctlPrefix: strconv.FormatInt(time.Now().Unix(), 36),
	}
	s.allow.Store(cfg.Allow)
	return s, nil
}

// SetAllow replaces the allow list (a file read again on SIGHUP); it
// applies to the next message. nil is ignored.
func (s *Server) SetAllow(a *AllowList) {
	if a != nil {
		s.allow.Store(a)
	}
}

// Serve accepts connections on ln until ctx is cancelled or ln fails.
// It refuses to start without an allow list on a non-loopback address
// (CheckExposure). On cancellation it stops accepting, closes the idle
// connections, lets a message being applied end (at most
// Limits.ShutdownGrace; then the Applier's context is cancelled), waits
// for every connection and returns nil. ln is closed when Serve returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if err := CheckExposure(ln.Addr().String(), s.allow.Load()); err != nil {
		ln.Close()
		return fmt.Errorf("hl7: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	// Messages in progress outlive ctx by the grace, not more.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	var err error
	for {
		var nc net.Conn
		nc, err = ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				err = nil
				break
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			break
		}
		select {
		case s.slots <- struct{}{}:
		default:
			s.log.Warn("connection refused: too many connections", "remote", nc.RemoteAddr().String(), "max", s.lim.MaxConnections)
			nc.Close()
			continue
		}
		c := &conn{s: s, nc: nc, remote: nc.RemoteAddr().String()}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.slots }()
			c.serve(work)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
	ln.Close()
	s.shutdown(cancelWork)
	return err
}

// shutdown interrupts every connection and waits for them.
func (s *Server) shutdown(cancelWork context.CancelFunc) {
	now := time.Now()
	s.stopAt.Store(now.Add(s.lim.ShutdownGrace).UnixNano())
	t := time.AfterFunc(s.lim.ShutdownGrace, cancelWork)
	defer t.Stop()
	s.mu.Lock()
	for c := range s.conns {
		if c.idle.Load() {
			c.nc.SetReadDeadline(now)
		} else {
			c.nc.SetReadDeadline(now.Add(s.lim.ShutdownGrace))
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) stopping() bool { return s.stopAt.Load() != 0 }

// deadline is now+d, or the shutdown deadline when earlier.
func (s *Server) deadline(d time.Duration) time.Time {
	t := time.Now().Add(d)
	if n := s.stopAt.Load(); n != 0 && n < t.UnixNano() {
		return time.Unix(0, n)
	}
	return t
}

// conn is one MLLP connection: one message at a time, each answered
// before the next is read.
type conn struct {
	s      *Server
	nc     net.Conn
	remote string
	idle   atomic.Bool
}

func (c *conn) serve(ctx context.Context) {
	s := c.s
	defer c.nc.Close()
	log := s.log.With("remote", c.remote)
	if !s.allow.Load().AllowAddr(c.nc.RemoteAddr()) {
		log.Warn("connection refused: address not in the allow list")
		return
	}
	fr := newFrameReader(c.nc, s.lim.MaxMessageBytes)
	for {
		c.idle.Store(true)
		c.nc.SetReadDeadline(time.Now().Add(s.lim.IdleTimeout))
		// Shutdown may have looked before idle was set: check after.
		if s.stopping() {
			return
		}
		err := fr.start()
		c.idle.Store(false)
		if err != nil {
			if errors.Is(err, errOutsideFrame) {
				log.Warn("connection closed: bytes outside an MLLP frame")
			} else if !errors.Is(err, io.EOF) && !s.stopping() {
				log.Info("connection closed", "err", err)
			}
			return
		}
		c.nc.SetReadDeadline(s.deadline(s.lim.ReadTimeout))
		b, err := fr.rest()
		var big *errFrameTooLarge
		var ack []byte
		switch {
		case errors.As(err, &big):
			ack = c.tooLarge(ctx, big)
			if ack == nil {
				log.Warn("connection closed: oversized message without a readable MSH", "bytes", big.size)
				return
			}
		case err != nil:
			log.Warn("connection closed: MLLP frame not read", "err", err)
			return
		default:
			ack = c.handle(ctx, b)
		}
		c.nc.SetWriteDeadline(time.Now().Add(s.lim.WriteTimeout))
		if _, err := c.nc.Write(frame(ack)); err != nil {
			log.Info("connection closed: ACK not sent", "err", err)
			return
		}
	}
}

// tooLarge answers an oversized message AR when its MSH can be read
// (nil when not).
func (c *conn) tooLarge(ctx context.Context, big *errFrameTooLarge) []byte {
	// Only the MSH segment matters: cut the head after it.
	head := big.head
	for i, b := range head {
		if b == '\r' || b == '\n' {
			head = head[:i]
			break
		}
	}
	m, _ := c.s.parser.parse(slices.Clone(head))
	if m == nil {
		return nil
	}
	err := &Error{Code: CodeInternal, Err: kind.Full,
		Msg: fmt.Sprintf("message of %d bytes or more exceeds the limit of %d", big.size, c.s.lim.MaxMessageBytes)}
	return c.answer(ctx, m, err, false)
}

// handle applies one message and returns its ACK.
func (c *conn) handle(ctx context.Context, b []byte) []byte {
	s := c.s
	m, err := s.parser.parse(b)
	if err != nil {
		if m == nil {
			// No MSH to answer from: AR with the default delimiters.
			return c.answer(ctx, nil, err, false)
		}
		return c.answer(ctx, m, err, false)
	}
	if declared, fallback := m.Charset(); fallback {
		s.log.Warn("unsupported character set read as ISO 8859-1", "remote", c.remote, "msh18", declared, "control_id", m.ControlID())
	}
	_, fac := m.Sender()
	if !s.allow.Load().Allow(fac, c.nc.RemoteAddr()) {
		return c.answer(ctx, m, &Error{Code: CodeInternal, Err: kind.Forbidden,
			Msg: fmt.Sprintf("sending facility %q may not send from this address", fac)}, false)
	}
	if v := m.Version(); !slices.Contains(s.cfg.Versions, v) {
		return c.answer(ctx, m, errorf(CodeUnsupportedVersion, "MSH", 12, "version %q is not supported", v), false)
	}
	if code, _, _ := m.Type(); code == "ACK" {
		return c.answer(ctx, m, errorf(CodeUnsupportedType, "MSH", 9, "acknowledgments are not accepted here"), false)
	}
	key := JournalKey(m)
	prev, ok, err := s.cfg.Journal.Lookup(ctx, key)
	if err != nil {
		return c.answer(ctx, m, fmt.Errorf("hl7: journal: %w: %w", kind.Unavailable, err), false)
	}
	if ok {
		code := AckCodeOf(prev)
		c.audit(ctx, m, code, 0, "", true)
		s.log.Info("duplicate message answered from the journal", "remote", c.remote, "key", key)
		return prev
	}
	err = s.cfg.Applier.Apply(ctx, m)
	if err != nil && errors.Is(err, context.Canceled) && ctx.Err() != nil {
		err = fmt.Errorf("hl7: shutting down: %w: %w", kind.Unavailable, err)
	}
	return c.answer(ctx, m, err, err == nil)
}

// answer builds the ACK of m (nil: no MSH read) for err, records an AA in
// the journal when record, and audits.
func (c *conn) answer(ctx context.Context, m *Message, err error, record bool) []byte {
	s := c.s
	code, hcode := Outcome(err)
	if m == nil && code == AE {
		code = AR // no MSH could be read: the message is rejected whole
	}
	a := Ack{Code: code, Error: hcode, App: s.cfg.App, Facility: s.cfg.Facility,
		ControlID: s.ctlPrefix + strconv.FormatUint(s.ctlSeq.Add(1), 36)}
	if err != nil {
		a.Text = err.Error()
		var he *Error
		if errors.As(err, &he) {
			a.Text, a.Segment, a.Field = he.Msg, he.Segment, he.Field
		}
		s.log.Warn("message not applied", "remote", c.remote, "ack", code, "code", int(hcode), "err", err)
	}
	ack := BuildACK(m, a)
	if record && m != nil {
		if rerr := s.cfg.Journal.Record(ctx, JournalKey(m), ack); rerr != nil {
			// Applied and durable: answer AA; a re-send re-applies
			// (Apply is idempotent).
			s.log.Error("journal record failed", "remote", c.remote, "key", JournalKey(m), "err", rerr)
		}
	}
	c.audit(ctx, m, code, hcode, a.Text, false)
	return ack
}

func (c *conn) audit(ctx context.Context, m *Message, code AckCode, hcode ErrorCode, text string, dup bool) {
	if c.s.cfg.Auditor == nil {
		return
	}
	ev := MessageEvent{Remote: c.remote, Ack: code, Error: hcode, Text: text, Duplicate: dup}
	if m != nil {
		ev.SendingApp, ev.SendingFacility = m.Sender()
		ev.Code, ev.Event, _ = m.Type()
		ev.ControlID = m.ControlID()
	}
	c.s.cfg.Auditor.Received(ctx, ev)
}
