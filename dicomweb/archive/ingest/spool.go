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

	"github.com/minipacs/minipacs/dicomweb/kind"
)

// ErrTooLarge is returned by spool when a part exceeds the size cap.
var ErrTooLarge = kind.New(kind.Full, "ingest: part exceeds the size limit")

// Part is one uploaded object spooled to a temporary file.
type Part struct {
	f      *os.File
	path   string
	Size   int64
	SHA256 [32]byte
	// ContentType is the part's declared media type (informational).
	ContentType string

	done chan struct{} // closed once written (nil: written already)
	err  error         // the spool's write error, set before done closes
}

// Wait returns once the part is completely written to its spool file and
// hashed (Size and SHA256 are then set), with the write error if any. A
// part from spool is complete already; one from spoolAsync may not be.
func (p *Part) Wait() error {
	if p.done != nil {
		<-p.done
	}
	return p.err
}

// Close removes the spool file, after waiting for its writer. It is safe
// to call more than once.
func (p *Part) Close() error {
	if p == nil {
		return nil
	}
	p.Wait()
	if p.f == nil {
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

// spool copies r to a new temporary file, zeroing the first 128 bytes (the
// Part-10 preamble: PE/DICOM polyglots stay inert) and hashing the result.
// At most max bytes are accepted: a longer part fails with ErrTooLarge as
// soon as the cap is passed, leaving the rest of r unread. The part is
// complete when spool returns.
func (g *Ingester) spool(ctx context.Context, r io.Reader, max int64) (*Part, error) {
	p, err := g.spoolAsync(ctx, r, max)
	if err != nil {
		return nil, err
	}
	if err := p.Wait(); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// spoolAsync is spool returning as soon as r is read to its end: a second
// goroutine creates the spool file and writes and hashes the part, so
// that reading the request (multipart scanning, socket copies) overlaps
// with writing and hashing, within a part and from one part to the next.
// Call Part.Wait before using the part; a write error (a full disk) is
// reported there. At most two buffers of a part are in flight; a caller
// that reads many parts bounds how many it leaves unwaited.
func (g *Ingester) spoolAsync(ctx context.Context, r io.Reader, max int64) (*Part, error) {
	p := &Part{done: make(chan struct{})}
	w := startSpoolWriter(g, p)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return nil, w.abort(err)
		}
		buf := w.buffer()
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
			return nil, w.abort(ErrTooLarge)
		}
		if rerr != nil && rerr != io.EOF {
			bufPool.Put(buf)
			return nil, w.abort(fmt.Errorf("ingest: spool read: %w", rerr))
		}
		w.send(buf, m)
		if rerr == io.EOF {
			break
		}
	}
	w.finish()
	return p, nil
}

// spoolWriter creates a part's spool file and writes and hashes the
// buffers it is sent, in order, on its own goroutine; two buffers are in
// flight at most.
type spoolWriter struct {
	p     *Part
	work  chan spoolChunk
	free  chan *[]byte
	fresh int // buffers still to take from the pool (of 2)
}

type spoolChunk struct {
	buf *[]byte
	n   int
}

func startSpoolWriter(g *Ingester, p *Part) *spoolWriter {
	w := &spoolWriter{p: p, work: make(chan spoolChunk, 1), free: make(chan *[]byte, 2), fresh: 2}
	go w.run(g)
	return w
}

func (w *spoolWriter) run(g *Ingester) {
	p := w.p
	defer close(p.done)
	name := fmt.Sprintf("%d-%d.part", os.Getpid(), spoolSeq.Add(1))
	path := filepath.Join(g.spoolDir, name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		err = fmt.Errorf("ingest: spool: %w", err)
	} else {
		p.f, p.path = f, path
	}
	h := sha256.New()
	var n int64
	for c := range w.work {
		if err == nil {
			chunk := (*c.buf)[:c.n]
			if _, werr := f.Write(chunk); werr != nil {
				err = fmt.Errorf("ingest: spool write: %w", werr)
			}
			h.Write(chunk)
			n += int64(c.n)
		}
		w.free <- c.buf
	}
	// The reader is done with this part: its buffers go back to the pool.
	for len(w.free) > 0 {
		bufPool.Put(<-w.free)
	}
	p.err = err
	if err == nil {
		p.Size = n
		copy(p.SHA256[:], h.Sum(nil))
		g.CrashPoint(CrashAfterSpool)
	}
}

// buffer returns an empty buffer: a fresh one from the pool for the first
// two, then one the writer has finished with.
func (w *spoolWriter) buffer() *[]byte {
	if w.fresh > 0 {
		w.fresh--
		return bufPool.Get().(*[]byte)
	}
	return <-w.free
}

func (w *spoolWriter) send(buf *[]byte, n int) { w.work <- spoolChunk{buf, n} }

// finish tells the writer that the part is complete.
func (w *spoolWriter) finish() { close(w.work) }

// abort stops the writer, removes the spool file and returns err.
func (w *spoolWriter) abort(err error) error {
	w.finish()
	w.p.Close()
	return err
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

// bufPool holds the copy buffers of spool.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}
