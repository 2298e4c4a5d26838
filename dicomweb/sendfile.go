package dicomweb

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
)

// Zero-copy sending of stored bytes.
//
// net/http's ResponseWriter implements io.ReaderFrom: when the response has
// a Content-Length (so it is not chunked) and the source is an *os.File or
// an *io.LimitedReader over one, it hands the copy to the kernel
// (sendfile). echo's Response does not implement ReaderFrom, so sendFrom
// goes around it to the writer underneath, and it unwraps the readers the
// stores return: the disk store's Get gives the *os.File itself, its
// GetRange an io.SectionReader over it (reached through Outer). Any other
// reader (S3) is copied as before.

// sendFrom writes exactly n bytes of r to the committed response res. Fewer
// bytes in r is an io.ErrUnexpectedEOF.
func sendFrom(res *echo.Response, r io.Reader, n int64) error {
	if !res.Committed {
		res.WriteHeader(http.StatusOK)
	}
	src := fileSection(r, n)
	var got int64
	var err error
	if rf, ok := res.Writer.(io.ReaderFrom); ok {
		got, err = rf.ReadFrom(src)
		res.Size += got
	} else {
		got, err = io.Copy(res, src)
	}
	if err != nil {
		return fmt.Errorf("send %d bytes: %w", n, err)
	}
	if got != n {
		return fmt.Errorf("send %d bytes: short by %d: %w", n, n-got, io.ErrUnexpectedEOF)
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
// offset; otherwise over r itself.
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

// plainFrames reports whether every frame is a plain copy of its stored
// ranges (no inflating, byte swapping or bit shifting), so that its length
// is exact before it is read and its bytes can go out by sendRanges.
func plainFrames(lay *part10.Layout) bool {
	if lay.Deflated || lay.Swap > 1 {
		return false
	}
	for _, f := range lay.Frames {
		if f.Bits > 0 {
			return false
		}
		for _, r := range f.Ranges {
			if r.Offset < 0 || r.Length < 0 {
				return false
			}
		}
	}
	return true
}

// sendRanges writes the stored ranges to res in order, one ranged read
// each. begin is called once the first range is open (or at once when
// there is none), before any byte is written, so that a missing object
// still becomes a status code.
func sendRanges(ctx context.Context, res *echo.Response, open part10.OpenFunc, ranges []part10.Range, begin func()) error {
	if len(ranges) == 0 {
		begin()
		return nil
	}
	for i, r := range ranges {
		rc, err := open(ctx, r.Offset, r.Length)
		if err != nil {
			return fmt.Errorf("open range %d+%d: %w", r.Offset, r.Length, err)
		}
		if i == 0 {
			begin()
		}
		err = sendFrom(res, rc, r.Length)
		rc.Close()
		if err != nil {
			return fmt.Errorf("range %d+%d: %w", r.Offset, r.Length, err)
		}
	}
	return nil
}
