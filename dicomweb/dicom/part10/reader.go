package part10

import (
	"fmt"
	"io"
)

const readerBufSize = 16 << 10

// reader is the sequential, buffered reader Parse walks the object with.
// It keeps the logical position of the next byte. Over an io.ReaderAt it
// skips values without reading them; over a stream (an inflated data set)
// it has to read and discard them.
type reader struct {
	ra   io.ReaderAt // random access source, or nil
	src  io.Reader   // stream source when ra is nil
	buf  []byte
	r, w int   // buf[r:w] is buffered
	pos  int64 // logical position of buf[r]
	end  int64 // logical end: object size, or the inflation bound
	eof  bool  // stream source returned EOF
}

func newReaderAt(ra io.ReaderAt, start, end int64) *reader {
	return &reader{ra: ra, buf: make([]byte, readerBufSize), pos: start, end: end}
}

func newStreamReader(src io.Reader, start, end int64) *reader {
	return &reader{src: src, buf: make([]byte, readerBufSize), pos: start, end: end}
}

var errTruncated = fmt.Errorf("unexpected end of data: %w", ErrMalformed)

// remaining is the number of bytes left: exact over a ReaderAt, an upper
// bound over a stream.
func (rd *reader) remaining() int64 { return rd.end - rd.pos }

func (rd *reader) buffered() int { return rd.w - rd.r }

// atEnd reports whether no byte is left.
func (rd *reader) atEnd() (bool, error) {
	if rd.buffered() > 0 {
		return false, nil
	}
	if rd.ra != nil {
		return rd.pos >= rd.end, nil
	}
	for !rd.eof && rd.buffered() == 0 {
		rd.r, rd.w = 0, 0
		got, err := rd.src.Read(rd.buf)
		rd.w = got
		if err == io.EOF {
			rd.eof = true
		} else if err != nil {
			return false, fmt.Errorf("inflate: %w: %w", ErrMalformed, err)
		}
	}
	if rd.buffered() == 0 {
		return true, nil
	}
	if rd.remaining() <= 0 {
		return false, fmt.Errorf("inflated data set larger than the limit: %w", ErrMalformed)
	}
	return false, nil
}

// fill makes at least n (<= len(buf)) bytes available in buf[r:w].
func (rd *reader) fill(n int) error {
	if rd.buffered() >= n {
		return nil
	}
	if int64(n) > rd.remaining() {
		return errTruncated
	}
	copy(rd.buf, rd.buf[rd.r:rd.w])
	rd.w -= rd.r
	rd.r = 0
	if rd.ra != nil {
		want := len(rd.buf) - rd.w
		if left := rd.remaining() - int64(rd.w); int64(want) > left {
			want = int(left)
		}
		got, err := rd.ra.ReadAt(rd.buf[rd.w:rd.w+want], rd.pos+int64(rd.w))
		rd.w += got
		if rd.w < n {
			if err == nil || err == io.EOF {
				return errTruncated
			}
			return fmt.Errorf("read: %w", err)
		}
		return nil
	}
	for rd.w < n {
		if rd.eof {
			return errTruncated
		}
		got, err := rd.src.Read(rd.buf[rd.w:])
		rd.w += got
		if err == io.EOF {
			rd.eof = true
		} else if err != nil {
			return fmt.Errorf("inflate: %w: %w", ErrMalformed, err)
		}
	}
	return nil
}

// next returns the next n (<= len(buf)) bytes; the slice is valid until the
// next call.
func (rd *reader) next(n int) ([]byte, error) {
	if err := rd.fill(n); err != nil {
		return nil, err
	}
	b := rd.buf[rd.r : rd.r+n]
	rd.r += n
	rd.pos += int64(n)
	return b, nil
}

// peek returns up to n bytes without consuming them (fewer at the end).
func (rd *reader) peek(n int) []byte {
	n = int(min(int64(n), rd.remaining(), int64(len(rd.buf))))
	_ = rd.fill(n)
	return rd.buf[rd.r : rd.r+min(n, rd.buffered())]
}

// value reads an n-byte value into a new slice. The caller has checked n
// against remaining() and the inline limits; over a stream the slice grows
// with the bytes actually present so a lying length cannot force a large
// allocation.
func (rd *reader) value(n int64) ([]byte, error) {
	if n > rd.remaining() {
		return nil, errTruncated
	}
	if n <= int64(rd.buffered()) {
		b := make([]byte, n)
		copy(b, rd.buf[rd.r:])
		rd.r += int(n)
		rd.pos += n
		return b, nil
	}
	if rd.ra != nil {
		b := make([]byte, n)
		k := copy(b, rd.buf[rd.r:rd.w])
		got, err := rd.ra.ReadAt(b[k:], rd.pos+int64(k))
		if int64(k+got) < n {
			if err == nil || err == io.EOF {
				return nil, errTruncated
			}
			return nil, fmt.Errorf("read: %w", err)
		}
		rd.r, rd.w = 0, 0
		rd.pos += n
		return b, nil
	}
	b := make([]byte, 0, min(n, 1<<20))
	for int64(len(b)) < n {
		if rd.buffered() == 0 {
			if err := rd.fill(1); err != nil {
				return nil, err
			}
		}
		k := min(int64(rd.buffered()), n-int64(len(b)))
		b = append(b, rd.buf[rd.r:rd.r+int(k)]...)
		rd.r += int(k)
		rd.pos += k
	}
	return b, nil
}

// skip moves past n bytes: over a ReaderAt without reading them.
func (rd *reader) skip(n int64) error {
	if n < 0 || n > rd.remaining() {
		return errTruncated
	}
	if n <= int64(rd.buffered()) {
		rd.r += int(n)
		rd.pos += n
		return nil
	}
	n -= int64(rd.buffered())
	rd.pos += int64(rd.buffered())
	rd.r, rd.w = 0, 0
	if rd.ra != nil {
		rd.pos += n
		return nil
	}
	for n > 0 {
		if err := rd.fill(1); err != nil {
			return err
		}
		k := min(int64(rd.buffered()), n)
		rd.r += int(k)
		rd.pos += k
		n -= k
	}
	return nil
}
