package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minipacs/minipacs/dicomweb/kind"
)

// ErrClosed is returned by Record after Close.
var ErrClosed = kind.New(kind.Unavailable, "audit log closed")

// Options configure a Log.
type Options struct {
	// MaxSize rotates the active file once it reaches this many bytes;
	// 0 means 64 MiB, negative never rotates.
	MaxSize int64
	// MaxBatch bounds the records written and synced together; 0 means 512.
	// 1 syncs every record on its own.
	MaxBatch int
	// NoSync skips fsync (tests and benchmarks only: records may be lost
	// on a crash).
	NoSync bool
	// Node fills the AuditSourceIdentification of records lacking one and
	// identifies minipacs in the records the log writes itself.
	Node   Node
	Logger *slog.Logger
}

// Log is an append-only, hash-chained audit log of JSON lines. It is safe
// for concurrent use. Record returns once the record is on stable storage:
// concurrent records share one write and one fsync (group commit).
type Log struct {
	path string
	opt  Options
	log  *slog.Logger

	reqs      chan *request
	quit      chan struct{}
	done      chan struct{}
	once      sync.Once
	closeOnce sync.Once
	closeErr  error

	// Owned by the writer goroutine.
	f       *os.File
	size    int64
	seq     uint64
	prev    []byte
	failure error

	mu      sync.Mutex
	lastSeq uint64
	notify  []chan struct{}
}

type request struct {
	record []byte
	done   chan error
}

// Open opens (creating it and its directory when missing) the audit log
// at path and continues its chain. A last line torn by a crash is cut off
// and a Security Alert saying so becomes the next record. A last complete
// line that fails its own hash check is an error: the log was altered and
// the operator must look at it (minipacs audit verify) and move it aside.
func Open(ctx context.Context, path string, opt Options) (*Log, error) {
	if opt.MaxSize == 0 {
		opt.MaxSize = 64 << 20
	}
	if opt.MaxBatch <= 0 {
		opt.MaxBatch = 512
	}
	opt.Node = opt.Node.filled()
	lg := opt.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	l := &Log{
		path: path, opt: opt, log: lg.With("component", "audit"),
		reqs: make(chan *request, 1024),
		quit: make(chan struct{}),
		done: make(chan struct{}),
		prev: zeroHash,
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit open: %w", err)
	}
	torn, err := l.recover()
	if err != nil {
		return nil, err
	}
	l.lastSeq = l.seq
	go l.writer()
	if torn != "" {
		rec := opt.Node.SecurityAlert(TypeAuditRecordingStarted, User{}, path, MinorFailure, torn)
		if err := l.Record(ctx, rec); err != nil {
			l.Close()
			return nil, err
		}
	}
	return l, nil
}

// recover finds the chain's last record and opens the active file for
// appending. It returns a description of a torn tail it cut off, or "".
func (l *Log) recover() (string, error) {
	files, err := logFiles(l.path)
	if err != nil {
		return "", err
	}
	f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return "", fmt.Errorf("audit open: %w", err)
	}
	fail := func(err error) (string, error) { f.Close(); return "", err }
	if len(files) == 0 || files[len(files)-1] != l.path {
		if err := syncDir(filepath.Dir(l.path)); err != nil {
			return fail(err)
		}
	}
	st, err := f.Stat()
	if err != nil {
		return fail(fmt.Errorf("audit open: %w", err))
	}
	size := st.Size()
	last, end, err := lastLine(f, size)
	if err != nil {
		return fail(err)
	}
	torn := ""
	if end < size {
		sum := sha256.New()
		if _, err := io.Copy(sum, io.NewSectionReader(f, end, size-end)); err != nil {
			return fail(fmt.Errorf("audit open: %w", err))
		}
		torn = fmt.Sprintf("audit log tail torn (crash during a write): %d bytes after offset %d cut off from %s, sha256 %s; the chain continues from the last intact record",
			size-end, end, l.path, hex.EncodeToString(sum.Sum(nil)))
		if err := f.Truncate(end); err != nil {
			return fail(fmt.Errorf("audit open: cutting the torn tail: %w", err))
		}
		if err := f.Sync(); err != nil {
			return fail(fmt.Errorf("audit open: %w", err))
		}
		l.log.Warn("audit log tail torn; cut off", "bytes", size-end)
		size = end
	}
	if last == nil {
		// The active file is empty: continue from the newest rotated file.
		for i := len(files) - 1; i >= 0 && last == nil; i-- {
			if files[i] == l.path {
				continue
			}
			if last, err = lastLineOf(files[i]); err != nil {
				return fail(err)
			}
		}
	}
	if last != nil {
		seq, _, err := parseLine(last)
		if err != nil {
			return fail(fmt.Errorf("audit open: the last record of %s is damaged (%v); run minipacs audit verify and move the log aside", l.path, err))
		}
		l.seq, l.prev = seq, lineHash(last)
	}
	l.f, l.size = f, size
	return torn, nil
}

func lastLineOf(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("audit open: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("audit open: %w", err)
	}
	line, end, err := lastLine(f, st.Size())
	if err == nil && end != st.Size() {
		err = fmt.Errorf("audit open: rotated file %s ends in a torn line", name)
	}
	return line, err
}

// lastLine returns the last complete line of f (without its newline) and
// the offset just after it; bytes from there to size are a torn tail. A
// file with no newline at all is all tail.
func lastLine(f io.ReaderAt, size int64) (line []byte, end int64, err error) {
	const chunk = 64 << 10
	b := make([]byte, chunk)
	// Find the last newline.
	end = 0
	for pos := size; pos > 0 && end == 0; {
		n := min(int64(chunk), pos)
		pos -= n
		if _, err := f.ReadAt(b[:n], pos); err != nil && err != io.EOF {
			return nil, 0, fmt.Errorf("audit open: reading the tail: %w", err)
		}
		if i := bytes.LastIndexByte(b[:n], '\n'); i >= 0 {
			end = pos + int64(i) + 1
		}
	}
	if end == 0 {
		return nil, 0, nil
	}
	// Read back from that newline to the one before it.
	start := max(0, end-1-MaxLine-1)
	buf := make([]byte, end-1-start)
	if _, err := f.ReadAt(buf, start); err != nil && err != io.EOF {
		return nil, 0, fmt.Errorf("audit open: reading the last line: %w", err)
	}
	if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
		return buf[i+1:], end, nil
	}
	if start > 0 {
		return nil, 0, errors.New("audit open: the last line is too long")
	}
	return buf, end, nil
}

// Record appends r to the log and returns once it is durable. The event
// time defaults to now and is stored in UTC; the audit source defaults to
// the log's Node. A record that cannot be written (disk full, I/O error)
// is an error, and so is every later one: the caller decides whether the
// request fails.
func (l *Log) Record(ctx context.Context, r Record) error {
	if r.EventDateTime.IsZero() {
		r.EventDateTime = time.Now()
	}
	r.EventDateTime = r.EventDateTime.UTC()
	if r.AuditSource.ID == "" {
		r.AuditSource = l.opt.Node.Source()
	}
	if err := r.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("audit record: %w", err)
	}
	if len(b) > MaxLine-300 {
		return fmt.Errorf("audit record: %d bytes, more than a line holds", len(b))
	}
	req := &request{record: b, done: make(chan error, 1)}
	select {
	case l.reqs <- req:
	case <-l.quit:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("audit record: %w", ctx.Err())
	}
	// Once queued, the record is written even if ctx ends; wait for it so
	// the caller never answers before its audit record is durable.
	select {
	case err := <-req.done:
		return err
	case <-l.done:
		select {
		case err := <-req.done:
			return err
		default:
			return ErrClosed
		}
	}
}

// Seq returns the seq of the last durable record.
func (l *Log) Seq() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastSeq
}

// Notify returns a channel that receives a value (coalesced) whenever new
// records are durable. The forwarder uses it to send without polling.
func (l *Log) Notify() <-chan struct{} {
	c := make(chan struct{}, 1)
	l.mu.Lock()
	l.notify = append(l.notify, c)
	l.mu.Unlock()
	return c
}

// Path is the active file.
func (l *Log) Path() string { return l.path }

// Close writes what is queued and closes the file.
func (l *Log) Close() error {
	l.once.Do(func() { close(l.quit) })
	<-l.done
	l.closeOnce.Do(func() {
		if err := l.f.Close(); err != nil {
			l.closeErr = fmt.Errorf("audit close: %w", err)
		}
	})
	return l.closeErr
}

func (l *Log) writer() {
	defer close(l.done)
	batch := make([]*request, 0, l.opt.MaxBatch)
	for {
		batch = batch[:0]
		select {
		case r := <-l.reqs:
			batch = append(batch, r)
		case <-l.quit:
			// Drain what was queued before Close.
			for {
				select {
				case r := <-l.reqs:
					l.commit(append(batch[:0], r))
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < l.opt.MaxBatch {
			select {
			case r := <-l.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		l.commit(batch)
	}
}

// commit writes one batch with one write and one fsync.
func (l *Log) commit(batch []*request) {
	err := l.failure
	if err == nil {
		err = l.write(batch)
	}
	for _, r := range batch {
		r.done <- err
	}
}

func (l *Log) write(batch []*request) error {
	var buf []byte
	seq, prev := l.seq, l.prev
	for _, r := range batch {
		seq++
		line := encodeLine(seq, prev, r.record)
		prev = lineHash(line)
		buf = append(append(buf, line...), '\n')
	}
	if _, err := l.f.Write(buf); err != nil {
		// Cut a partial write off so the chain stays intact; if that fails
		// too, the log is unusable until restarted (the tail is then
		// recovered as torn).
		if terr := l.f.Truncate(l.size); terr != nil {
			l.failure = fmt.Errorf("audit write: %w (and cutting it back: %v)", err, terr)
			return l.failure
		}
		return fmt.Errorf("audit write: %w", err)
	}
	if !l.opt.NoSync {
		if err := l.f.Sync(); err != nil {
			// After a failed fsync the page cache state is unknown.
			l.failure = fmt.Errorf("audit fsync: %w", err)
			return l.failure
		}
	}
	l.seq, l.prev = seq, prev
	l.size += int64(len(buf))
	l.mu.Lock()
	l.lastSeq = seq
	for _, c := range l.notify {
		select {
		case c <- struct{}{}:
		default:
		}
	}
	l.mu.Unlock()
	if l.opt.MaxSize > 0 && l.size >= l.opt.MaxSize {
		if err := l.rotate(); err != nil {
			l.failure = err
			l.log.Error("audit log rotation failed", "err", err)
		}
	}
	return nil
}

// rotate renames the active file to the next numbered name and starts a
// new one; the chain continues into it.
func (l *Log) rotate() error {
	files, err := logFiles(l.path)
	if err != nil {
		return err
	}
	next := 1
	for _, f := range files {
		if _, n, ok := rotatedName(filepath.Base(f)); ok && n >= next {
			next = n + 1
		}
	}
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("audit rotate: %w", err)
	}
	if err := os.Rename(l.path, fmt.Sprintf("%s.%06d", l.path, next)); err != nil {
		return fmt.Errorf("audit rotate: %w", err)
	}
	f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("audit rotate: %w", err)
	}
	l.f, l.size = f, 0
	return syncDir(filepath.Dir(l.path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("audit: sync %s: %w", dir, err)
	}
	return nil
}

// rotatedName splits "audit.log.000012" into "audit.log" and 12.
func rotatedName(name string) (base string, n int, ok bool) {
	i := strings.LastIndexByte(name, '.')
	if i <= 0 || len(name)-i-1 != 6 {
		return "", 0, false
	}
	n, err := strconv.Atoi(name[i+1:])
	if err != nil || n <= 0 {
		return "", 0, false
	}
	return name[:i], n, true
}

// logFiles lists the files of the log at path, oldest first: the rotated
// files path.NNNNNN, then path itself when it exists.
func logFiles(path string) ([]string, error) {
	dir, base := filepath.Dir(path), filepath.Base(path)
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("audit: listing %s: %w", dir, err)
	}
	type rf struct {
		name string
		n    int
	}
	var rot []rf
	active := false
	for _, e := range ents {
		if e.Name() == base {
			active = true
			continue
		}
		if b, n, ok := rotatedName(e.Name()); ok && b == base {
			rot = append(rot, rf{e.Name(), n})
		}
	}
	sort.Slice(rot, func(i, j int) bool { return rot[i].n < rot[j].n })
	out := make([]string, 0, len(rot)+1)
	for _, r := range rot {
		out = append(out, filepath.Join(dir, r.name))
	}
	if active {
		out = append(out, path)
	}
	return out, nil
}
