package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
)

// ErrTooLarge is returned by Spool when a part exceeds the size cap.
var ErrTooLarge = errors.New("ingest: part exceeds the size limit")

// Part is one uploaded object spooled to a temporary file.
type Part struct {
	f      *os.File
	path   string
	Size   int64
	SHA256 [32]byte
	// ContentType is the part's declared media type (informational).
	ContentType string
}

// Close removes the spool file. It is safe to call more than once.
func (p *Part) Close() error {
	if p == nil || p.f == nil {
		return nil
	}
	p.f.Close()
	p.f = nil
	if p.path == "" {
		return nil // handed over (renamed to a pending file)
	}
	err := os.Remove(p.path)
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	return err
}

var spoolSeq atomic.Uint64

// Spool copies r to a new temporary file, zeroing the first 128 bytes (the
// Part-10 preamble: PE/DICOM polyglots stay inert) and hashing the result.
// At most max bytes are accepted: a longer part fails with ErrTooLarge as
// soon as the cap is passed, leaving the rest of r unread.
//
// A part larger than one buffer is written and hashed by a second
// goroutine while the next buffer is read, so that reading the request
// body (multipart scanning, socket copies) and hashing use two cores.
func (g *Ingester) Spool(ctx context.Context, r io.Reader, max int64) (*Part, error) {
	name := fmt.Sprintf("%d-%d.part", os.Getpid(), spoolSeq.Add(1))
	path := filepath.Join(g.spoolDir, name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ingest: spool: %w", err)
	}
	p := &Part{f: f, path: path}
	h := sha256.New()
	sink := func(chunk []byte) error {
		if _, err := f.Write(chunk); err != nil {
			return fmt.Errorf("ingest: spool write: %w", err)
		}
		h.Write(chunk)
		return nil
	}
	var w *spoolWriter // started at the second buffer
	fail := func(err error) (*Part, error) {
		if w != nil {
			w.stop()
		}
		p.Close()
		return nil, err
	}
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		var buf *[]byte
		if w != nil {
			buf = w.buffer()
		} else {
			buf = bufPool.Get().(*[]byte)
		}
		// Fill the buffer before writing: parts arrive in small reads,
		// and one write and one hash update per 256 KiB are much cheaper.
		m, rerr := io.ReadFull(r, *buf)
		if rerr == io.ErrUnexpectedEOF {
			rerr = io.EOF
		}
		chunk := (*buf)[:m]
		if n < 128 {
			clear(chunk[:min(int64(m), 128-n)])
		}
		n += int64(m)
		if n > max {
			bufPool.Put(buf)
			return fail(ErrTooLarge)
		}
		if rerr != nil && rerr != io.EOF {
			bufPool.Put(buf)
			return fail(fmt.Errorf("ingest: spool read: %w", rerr))
		}
		switch {
		case w != nil:
			w.send(buf, m)
		case rerr == io.EOF:
			// The whole part fit in one buffer: no second goroutine.
			err := sink(chunk)
			bufPool.Put(buf)
			if err != nil {
				return fail(err)
			}
		default:
			w = startSpoolWriter(sink)
			w.send(buf, m)
		}
		if rerr == io.EOF {
			break
		}
	}
	if w != nil {
		err := w.stop()
		w = nil
		if err != nil {
			return fail(err)
		}
	}
	p.Size = n
	copy(p.SHA256[:], h.Sum(nil))
	g.CrashPoint(CrashAfterSpool)
	return p, nil
}

// spoolWriter passes filled buffers to a goroutine that writes and hashes
// them in order; two buffers are in flight at most.
type spoolWriter struct {
	work chan spoolChunk
	free chan *[]byte
	done chan error
}

type spoolChunk struct {
	buf *[]byte
	n   int
}

func startSpoolWriter(sink func([]byte) error) *spoolWriter {
	w := &spoolWriter{work: make(chan spoolChunk, 1), free: make(chan *[]byte, 2), done: make(chan error, 1)}
	w.free <- bufPool.Get().(*[]byte)
	go func() {
		var err error
		for c := range w.work {
			if err == nil {
				err = sink((*c.buf)[:c.n])
			}
			w.free <- c.buf
		}
		w.done <- err
	}()
	return w
}

// buffer returns an empty buffer, waiting for the writer to release one.
func (w *spoolWriter) buffer() *[]byte { return <-w.free }

func (w *spoolWriter) send(buf *[]byte, n int) { w.work <- spoolChunk{buf, n} }

// stop waits until every buffer sent is written, returns the buffers to
// the pool and reports the first write error.
func (w *spoolWriter) stop() error {
	close(w.work)
	err := <-w.done
	for {
		select {
		case b := <-w.free:
			bufPool.Put(b)
		default:
			return err
		}
	}
}

// ObjectKey is the storage key of an object with the given SHA-256.
func ObjectKey(sum [32]byte) string {
	x := hex.EncodeToString(sum[:])
	return "dicom/" + x[:2] + "/" + x[2:4] + "/" + x + ".dcm"
}

// keySum parses an ObjectKey back into its hash.
func keySum(key string) (string, bool) {
	base := filepath.Base(key)
	x, ok := strings.CutSuffix(base, ".dcm")
	if !ok || len(x) != 64 || !strings.HasPrefix(key, "dicom/") || ObjectKeyHex(x) != key {
		return "", false
	}
	return x, true
}

// ObjectKeyHex is ObjectKey for a hex-encoded hash.
func ObjectKeyHex(x string) string {
	if len(x) < 4 {
		return ""
	}
	return "dicom/" + x[:2] + "/" + x[2:4] + "/" + x + ".dcm"
}

// bufPool holds the copy buffers of Spool.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}
