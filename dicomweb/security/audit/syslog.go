package audit

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ForwardOptions configure a Forwarder.
type ForwardOptions struct {
	Addr string      // host:port of the RFC 5425 syslog-over-TLS receiver
	TLS  *tls.Config // client TLS configuration (see ClientTLS)
	// StatePath keeps the seq of the last record known delivered; default
	// <log>.forward beside the log.
	StatePath string
	// ConfirmAfter: TLS syslog has no acknowledgements, so a record counts
	// as delivered once the connection has stayed up this long after it was
	// written (the receiver did not drop it). Default 2 s.
	ConfirmAfter time.Duration
	MinBackoff   time.Duration // default 100 ms
	MaxBackoff   time.Duration // default 30 s
	Hostname     string        // syslog HOSTNAME; os.Hostname() when empty
	AppName      string        // syslog APP-NAME; "minipacs" when empty
	// Wake, if set (Log.Notify), makes new records go out at once instead
	// of at the next poll.
	Wake   <-chan struct{}
	Logger *slog.Logger
}

// ClientTLS builds the client TLS configuration for a syslog receiver whose
// certificate is signed by the CA in caFile (PEM); caFile "" uses the
// system roots. serverName "" takes the host of addr.
func ClientTLS(caFile, addr, serverName string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("audit syslog address %q: %w", addr, err)
		}
		cfg.ServerName = host
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("audit syslog CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("audit syslog CA %s: no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// Forwarder sends the records of an audit log to a syslog receiver as RFC
// 5424 messages over TLS with RFC 5425 octet-counting framing. The log
// itself is the spool: the forwarder reads it from the seq after the last
// delivered one (persisted in StatePath), so an outage of the receiver or
// a restart of minipacs loses nothing. Delivery is at least once: after a
// broken connection, records not yet confirmed are sent again; each
// message carries the record's seq and hash in structured data
// ([audit@32473 seq=".." hash=".."]) for deduplication.
type Forwarder struct {
	logPath string
	opt     ForwardOptions
	log     *slog.Logger
}

// NewForwarder returns a forwarder for the log at logPath.
func NewForwarder(logPath string, opt ForwardOptions) (*Forwarder, error) {
	if opt.Addr == "" {
		return nil, errors.New("audit forward: no address")
	}
	if opt.TLS == nil {
		return nil, errors.New("audit forward: TLS configuration required")
	}
	if opt.StatePath == "" {
		opt.StatePath = logPath + ".forward"
	}
	if opt.ConfirmAfter <= 0 {
		opt.ConfirmAfter = 2 * time.Second
	}
	if opt.MinBackoff <= 0 {
		opt.MinBackoff = 100 * time.Millisecond
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = 30 * time.Second
	}
	if opt.AppName == "" {
		opt.AppName = "minipacs"
	}
	if opt.Hostname == "" {
		opt.Hostname = Node{}.filled().Host
	}
	lg := opt.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	return &Forwarder{logPath: logPath, opt: opt, log: lg.With("component", "audit-forward")}, nil
}

// Delivered returns the seq of the last record confirmed delivered.
func (f *Forwarder) Delivered() (uint64, error) {
	b, err := os.ReadFile(f.opt.StatePath)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("audit forward state: %w", err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("audit forward state %s: %w", f.opt.StatePath, err)
	}
	return n, nil
}

func (f *Forwarder) saveDelivered(seq uint64) error {
	tmp := f.opt.StatePath + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.FormatUint(seq, 10)+"\n"), 0o600); err != nil {
		return fmt.Errorf("audit forward state: %w", err)
	}
	if err := os.Rename(tmp, f.opt.StatePath); err != nil {
		return fmt.Errorf("audit forward state: %w", err)
	}
	return nil
}

// Run forwards until ctx ends, reconnecting with exponential backoff. It
// returns nil when ctx ends, or an error the forwarder cannot get past
// (an unreadable state file or log).
func (f *Forwarder) Run(ctx context.Context) error {
	backoff := f.opt.MinBackoff
	for ctx.Err() == nil {
		delivered, err := f.Delivered()
		if err != nil {
			return err
		}
		sent, err := f.session(ctx, delivered)
		if ctx.Err() != nil {
			return nil
		}
		if sent {
			backoff = f.opt.MinBackoff
		}
		f.log.Warn("audit syslog connection lost; retrying", "addr", f.opt.Addr, "err", err, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, f.opt.MaxBackoff)
	}
	return nil
}

type pending struct {
	seq uint64
	at  time.Time
}

// session connects, sends every record after delivered, and keeps sending
// until the connection breaks. sent reports that the connection worked.
func (f *Forwarder) session(ctx context.Context, delivered uint64) (sent bool, err error) {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 15 * time.Second}, Config: f.opt.TLS}
	c, err := d.DialContext(ctx, "tcp", f.opt.Addr)
	if err != nil {
		return false, fmt.Errorf("audit syslog dial: %w", err)
	}
	conn := c.(*tls.Conn)
	defer conn.Close()
	// A receiver sends nothing; a read that returns means it went away.
	dead := make(chan struct{})
	go func() {
		io.Copy(io.Discard, conn)
		close(dead)
	}()
	rd, err := openReader(f.logPath, delivered+1)
	if err != nil {
		return false, err
	}
	defer rd.close()
	poll := time.NewTicker(max(10*time.Millisecond, min(f.opt.ConfirmAfter/2, 500*time.Millisecond)))
	defer poll.Stop()
	var inflight []pending
	var saved time.Time
	confirm := func(now time.Time) error {
		if now.Sub(saved) < f.opt.ConfirmAfter/4 {
			return nil
		}
		select {
		case <-dead:
			return errors.New("audit syslog: the receiver closed the connection")
		default:
		}
		i := 0
		for i < len(inflight) && now.Sub(inflight[i].at) >= f.opt.ConfirmAfter {
			i++
		}
		if i == 0 {
			return nil
		}
		delivered = inflight[i-1].seq
		inflight = inflight[i:]
		saved = now
		return f.saveDelivered(delivered)
	}
	for {
		line, seq, err := rd.next()
		if err != nil {
			return sent, err
		}
		if line != nil {
			if seq <= delivered {
				continue
			}
			now := time.Now()
			conn.SetWriteDeadline(now.Add(10 * time.Second))
			if _, err := conn.Write(f.frame(line, seq)); err != nil {
				return sent, fmt.Errorf("audit syslog write: %w", err)
			}
			inflight = append(inflight, pending{seq, now})
			sent = true
			if err := confirm(now); err != nil {
				return sent, err
			}
			continue
		}
		// Caught up: confirm, wait for more.
		sent = true
		select {
		case <-ctx.Done():
			return sent, ctx.Err()
		case <-dead:
			return sent, errors.New("audit syslog: the receiver closed the connection")
		case <-f.opt.Wake:
		case <-poll.C:
		}
		if err := confirm(time.Now()); err != nil {
			return sent, err
		}
	}
}

// frame builds one octet-counted RFC 5424 message for a log line.
func (f *Forwarder) frame(line []byte, seq uint64) []byte {
	var head struct {
		Record struct {
			Time    time.Time `json:"eventDateTime"`
			Outcome int       `json:"eventOutcomeIndicator"`
		} `json:"record"`
		Hash string `json:"hash"`
	}
	_ = json.Unmarshal(line, &head) // the line passed its hash check in the log
	sev := 5                        // notice
	if head.Record.Outcome != 0 {
		sev = 4 // warning
	}
	ts := head.Record.Time.UTC().Format("2006-01-02T15:04:05.000000Z07:00")
	if head.Record.Time.IsZero() {
		ts = "-"
	}
	// Facility 13: log audit.
	msg := fmt.Sprintf("<%d>1 %s %s %s %d AUDIT [audit@32473 seq=\"%d\" hash=\"%s\"] %s",
		13*8+sev, ts, f.opt.Hostname, f.opt.AppName, os.Getpid(), seq, head.Hash, line)
	return []byte(strconv.Itoa(len(msg)) + " " + msg)
}

// logReader reads complete lines of a log from a given seq on, across
// rotations, waiting (returning nil) at the end.
type logReader struct {
	path string
	f    *os.File
	name string
	buf  []byte // bytes read but not yet a complete line
}

// openReader positions a reader at the first record with seq >= from.
func openReader(path string, from uint64) (*logReader, error) {
	files, err := logFiles(path)
	if err != nil {
		return nil, err
	}
	r := &logReader{path: path}
	start := ""
	for _, name := range files {
		first, err := firstSeq(name)
		if err != nil {
			return nil, err
		}
		if first != 0 && first <= from || start == "" {
			start = name
		}
	}
	if start == "" {
		return r, nil // no log yet
	}
	if err := r.open(start); err != nil {
		return nil, err
	}
	return r, nil
}

func firstSeq(name string) (uint64, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, fmt.Errorf("audit forward: %w", err)
	}
	defer f.Close()
	line, err := readLine(bufio.NewReader(f))
	if err != nil {
		return 0, nil // empty or torn: no records yet
	}
	return claimedSeq(line), nil
}

func (r *logReader) open(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("audit forward: %w", err)
	}
	if r.f != nil {
		r.f.Close()
	}
	r.f, r.name, r.buf = f, name, r.buf[:0]
	return nil
}

func (r *logReader) close() {
	if r.f != nil {
		r.f.Close()
	}
}

// next returns the next complete line and its seq, or nil when there is
// none yet.
func (r *logReader) next() ([]byte, uint64, error) {
	for {
		if r.f == nil {
			if _, err := os.Stat(r.path); err != nil {
				return nil, 0, nil
			}
			if err := r.open(r.path); err != nil {
				return nil, 0, err
			}
		}
		if i := indexNL(r.buf); i >= 0 {
			line := append([]byte(nil), r.buf[:i]...)
			r.buf = r.buf[:copy(r.buf, r.buf[i+1:])]
			return line, claimedSeq(line), nil
		}
		if len(r.buf) > MaxLine {
			return nil, 0, fmt.Errorf("audit forward: %s: line too long", r.name)
		}
		chunk := make([]byte, 64<<10)
		n, err := r.f.Read(chunk)
		r.buf = append(r.buf, chunk[:n]...)
		if n > 0 {
			continue
		}
		if err != nil && err != io.EOF {
			return nil, 0, fmt.Errorf("audit forward: %w", err)
		}
		// At the end of this file. Move on if it is no longer the active
		// one (rotated), after one last read.
		moved, nextName, err := r.rotated()
		if err != nil || !moved {
			return nil, 0, err
		}
		n, _ = r.f.Read(chunk)
		if n > 0 {
			r.buf = append(r.buf, chunk[:n]...)
			continue
		}
		if err := r.open(nextName); err != nil {
			return nil, 0, err
		}
	}
}

// rotated reports whether the open file has been superseded, and by which.
func (r *logReader) rotated() (bool, string, error) {
	files, err := logFiles(r.path)
	if err != nil {
		return false, "", err
	}
	cur, err := r.f.Stat()
	if err != nil {
		return false, "", fmt.Errorf("audit forward: %w", err)
	}
	for i, name := range files {
		st, err := os.Stat(name)
		if err != nil {
			continue
		}
		if os.SameFile(st, cur) {
			if i == len(files)-1 {
				return false, "", nil
			}
			return true, files[i+1], nil
		}
	}
	// Our file is gone (pruned): go to the oldest remaining.
	if len(files) > 0 && filepath.Clean(files[0]) != filepath.Clean(r.name) {
		return true, files[0], nil
	}
	return false, "", nil
}

func indexNL(b []byte) int {
	for i, c := range b {
		if c == '\n' {
			return i
		}
	}
	return -1
}
