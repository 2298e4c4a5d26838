package part10

import (
	"bufio"
	"context"
	"fmt"
	"io"
)

// ObjectReader is an io.ReaderAt over an object read by ranged reads
// (a stored object: open is the store's ranged read), for Parse. Parse
// reads front to back, so it keeps one ranged read open (to the end of
// the object) behind a read-ahead buffer, discards short gaps and opens a
// new ranged read for long forward jumps (skipped bulk values) and
// backward reads. It is not safe for concurrent use, and it carries the
// caller's ctx because ReadAt has no ctx parameter: it lives for one
// Parse only, and must be closed.
type ObjectReader struct {
	ctx  context.Context
	open OpenFunc
	size int64
	rc   io.ReadCloser
	br   *bufio.Reader
	pos  int64 // object offset of the next byte of br
	// err is the first failure of the store (not the end of the object),
	// which the parser may have reported as a malformed object.
	err error
}

// NewObjectReader returns the reader of the object of size bytes that
// open reads.
func NewObjectReader(ctx context.Context, open OpenFunc, size int64) *ObjectReader {
	return &ObjectReader{ctx: ctx, open: open, size: size}
}

// Err is the first failure of open or of a ranged read (not the end of the
// object), which Parse may have reported as a malformed object.
func (o *ObjectReader) Err() error { return o.err }

const (
	objectReadAhead = 64 << 10
	objectMaxGap    = 256 << 10 // forward jumps up to this are read and discarded
)

// Close closes the ranged read in progress.
func (o *ObjectReader) Close() error {
	if o.rc != nil {
		o.rc.Close()
		o.rc = nil
	}
	return nil
}

func (o *ObjectReader) fail(err error) error {
	if o.err == nil {
		o.err = err
	}
	return err
}

// ReadAt implements io.ReaderAt.
func (o *ObjectReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, o.fail(fmt.Errorf("read stored object at %d: negative offset", off))
	}
	if off >= o.size {
		return 0, io.EOF
	}
	want := p
	if rest := o.size - off; int64(len(p)) > rest {
		want = p[:rest]
	}
	if o.rc == nil || off < o.pos || off-o.pos > objectMaxGap {
		o.Close()
		rc, err := o.open(o.ctx, off, o.size-off)
		if err != nil {
			return 0, o.fail(fmt.Errorf("read stored object at %d: %w", off, err))
		}
		o.rc, o.pos = rc, off
		if o.br == nil {
			o.br = bufio.NewReaderSize(rc, objectReadAhead)
		} else {
			o.br.Reset(rc)
		}
	}
	if gap := off - o.pos; gap > 0 {
		n, err := o.br.Discard(int(gap))
		o.pos += int64(n)
		if err != nil {
			o.Close()
			return 0, o.fail(fmt.Errorf("read stored object at %d: %w", off, err))
		}
	}
	n, err := io.ReadFull(o.br, want)
	o.pos += int64(n)
	if err != nil {
		o.Close()
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return n, o.fail(fmt.Errorf("read stored object at %d: %w", off, err))
	}
	if len(want) < len(p) {
		return n, io.EOF
	}
	return n, nil
}
