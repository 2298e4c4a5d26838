package retrieve

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
)

// Body is an instance, a frame or a bulk value ready to be sent. It is
// used by one goroutine, written once, and must be closed.
type Body struct {
	// Size is the number of bytes WriteTo writes, or -1 when it is known
	// only once they are written (an object decoded on the fly).
	Size  int64
	write func(ctx context.Context, w io.Writer) error
	close func()
}

// WriteTo writes the body to w. Stored bytes are copied by io.Copy from
// the store's file when it has one, so a w that implements io.ReaderFrom
// can send them by sendfile. A body shorter than Size is an error
// (io.ErrUnexpectedEOF).
func (b *Body) WriteTo(ctx context.Context, w io.Writer) error {
	return b.write(ctx, w)
}

// Close releases what the body holds open (the stored object's reader).
func (b *Body) Close() error {
	if b.close != nil {
		b.close()
		b.close = nil
	}
	return nil
}

// copyStored writes exactly n bytes of r, a reader the store gave, to w.
func copyStored(w io.Writer, r io.Reader, n int64) error {
	got, err := io.Copy(w, fileSection(r, n))
	if err != nil {
		return fmt.Errorf("send %d stored bytes: %w", n, err)
	}
	if got != n {
		return fmt.Errorf("send %d stored bytes: short by %d: %w", n, n-got, io.ErrUnexpectedEOF)
	}
	return nil
}

// outerer is io.SectionReader's access to what it reads.
type outerer interface {
	Outer() (r io.ReaderAt, off int64, n int64)
	Seek(off int64, whence int) (int64, error)
}

// fileSection returns n bytes of r as an *io.LimitedReader, over the
// *os.File underneath r when there is one, positioned at r's current
// offset; otherwise over r itself. The disk store's Get gives the *os.File
// itself, its GetRange an io.SectionReader over it (reached through
// Outer); net/http's ResponseWriter sends an *io.LimitedReader over an
// *os.File by sendfile.
func fileSection(r io.Reader, n int64) *io.LimitedReader {
	switch v := r.(type) {
	case *os.File:
		return &io.LimitedReader{R: v, N: n}
	case outerer:
		if f, ok := unwrapOuter(v); ok {
			return &io.LimitedReader{R: f, N: n}
		}
	}
	return &io.LimitedReader{R: r, N: n}
}

// unwrapOuter positions the file underneath a section reader at the
// section's current offset and returns it; the section reader must not be
// used afterwards (only closed). This assumes that the file belongs to the
// reader alone, as the disk store's GetRange gives it (a fresh open per
// call): a file shared between readers must not be handed out this way.
func unwrapOuter(v outerer) (*os.File, bool) {
	ra, base, size := v.Outer()
	f, ok := ra.(*os.File)
	if !ok {
		return nil, false
	}
	pos, err := v.Seek(0, io.SeekCurrent)
	if err != nil || pos < 0 || pos > size {
		return nil, false
	}
	if _, err := f.Seek(base+pos, io.SeekStart); err != nil {
		return nil, false
	}
	return f, true
}

// rangesBody is the body of stored ranges sent as they are, one ranged
// read each. The first range is opened here, so that a missing object is
// an error of the caller rather than of WriteTo.
func rangesBody(ctx context.Context, open part10.OpenFunc, ranges []part10.Range) (*Body, error) {
	var size int64
	for _, r := range ranges {
		size += r.Length
	}
	var first io.ReadCloser
	if len(ranges) > 0 {
		rc, err := open(ctx, ranges[0].Offset, ranges[0].Length)
		if err != nil {
			return nil, fmt.Errorf("open range %d+%d: %w", ranges[0].Offset, ranges[0].Length, err)
		}
		first = rc
	}
	b := &Body{Size: size}
	b.close = func() {
		if first != nil {
			first.Close()
		}
	}
	b.write = func(ctx context.Context, w io.Writer) error {
		for i, r := range ranges {
			rc := first
			if i > 0 {
				var err error
				if rc, err = open(ctx, r.Offset, r.Length); err != nil {
					return fmt.Errorf("open range %d+%d: %w", r.Offset, r.Length, err)
				}
			} else {
				first = nil
			}
			err := copyStored(w, rc, r.Length)
			rc.Close()
			if err != nil {
				return fmt.Errorf("range %d+%d: %w", r.Offset, r.Length, err)
			}
		}
		return nil
	}
	return b, nil
}

// bytesBody is a body held in memory.
func bytesBody(p []byte) *Body {
	return &Body{Size: int64(len(p)), write: func(_ context.Context, w io.Writer) error {
		_, err := w.Write(p)
		return err
	}}
}
