package part10

import (
	"compress/flate"
	"context"
	"fmt"
	"io"
)

// OpenFunc opens a ranged read of the stored object: n bytes from offset
// off, or everything from off to the end when n is -1.
type OpenFunc func(ctx context.Context, off, n int64) (io.ReadCloser, error)

// FrameLength is the number of bytes WriteFrame writes for f.
func FrameLength(lay *Layout, f Frame) int64 {
	if f.Bits > 0 {
		return (f.Bits + 7) / 8
	}
	var n int64
	for _, r := range f.Ranges {
		n += r.Length
	}
	return n
}

// BulkLength is the number of bytes WriteBulk writes for b.
func BulkLength(b BulkValue) int64 {
	var n int64
	for _, r := range b.Ranges {
		n += r.Length
	}
	return n
}

// WriteFrame writes frame f of the object described by lay to w: the
// concatenation of its ranges, byte-swapped to little endian when lay.Swap
// is set, and for bit-packed frames shifted so that the frame's first bit
// is the least significant bit of the first byte, cut to f.Bits bits (the
// last byte's unused high bits are zero). For Deflated objects it calls
// open(ctx, lay.DeflatedAt, -1) — "from DeflatedAt to the end" — and
// inflates, skipping to the ranges. Memory use is bounded by a small buffer.
func WriteFrame(ctx context.Context, w io.Writer, open OpenFunc, lay *Layout, f Frame) error {
	if f.Bits > 0 {
		if len(f.Ranges) != 1 {
			return fmt.Errorf("part10: write frame: bit-packed frame with %d ranges", len(f.Ranges))
		}
		skipBits := int64(f.BitOffset)
		if need := (skipBits + f.Bits + 7) / 8; f.Ranges[0].Length < need {
			return fmt.Errorf("part10: write frame: range of %d bytes for %d bits", f.Ranges[0].Length, skipBits+f.Bits)
		}
		w = &bitWriter{w: w, skip: skipBits / 8, shift: uint(skipBits % 8), left: f.Bits}
		if err := writeRanges(ctx, w, open, lay, f.Ranges, lay.Swap); err != nil {
			return err
		}
		return w.(*bitWriter).flush()
	}
	return writeRanges(ctx, w, open, lay, f.Ranges, lay.Swap)
}

// WriteBulk writes the bulk value b to w, byte-swapped to little endian
// when b.Swap is set. Deflated objects are handled as in WriteFrame.
func WriteBulk(ctx context.Context, w io.Writer, open OpenFunc, lay *Layout, b BulkValue) error {
	return writeRanges(ctx, w, open, lay, b.Ranges, b.Swap)
}

func writeRanges(ctx context.Context, w io.Writer, open OpenFunc, lay *Layout, ranges []Range, swap int) error {
	var src *inflater
	if lay.Deflated {
		src = &inflater{open: open, at: lay.DeflatedAt}
		defer src.close()
	}
	for _, r := range ranges {
		if r.Offset < 0 || r.Length < 0 {
			return fmt.Errorf("part10: write: bad range %d+%d", r.Offset, r.Length)
		}
		dst := w
		off, n := r.Offset, r.Length
		var sw *swapWriter
		if swap > 1 {
			// 2-byte words sit at even offsets; wider words are aligned to
			// the range start. Widen the range to whole words, drop the extra.
			var head int64
			if swap == 2 {
				head = off & 1
			}
			tail := (head + n) % int64(swap)
			if tail != 0 {
				tail = int64(swap) - tail
			}
			sw = &swapWriter{w: w, size: swap, drop: head, left: n}
			dst = sw
			off -= head
			n += head + tail
		}
		if err := copyRange(ctx, dst, open, src, off, n, sw != nil); err != nil {
			return err
		}
		if sw != nil {
			if err := sw.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// copyRange copies n bytes at off to w. With lenient, a short read at the
// end of the object (the word padding of an odd range) is not an error.
func copyRange(ctx context.Context, w io.Writer, open OpenFunc, src *inflater, off, n int64, lenient bool) error {
	var r io.Reader
	if src != nil {
		fr, err := src.seek(ctx, off)
		if err != nil {
			return err
		}
		r = fr
	} else {
		rc, err := open(ctx, off, n)
		if err != nil {
			return fmt.Errorf("part10: open range %d+%d: %w", off, n, err)
		}
		defer rc.Close()
		r = rc
	}
	got, err := copyCtx(ctx, w, io.LimitReader(r, n))
	if src != nil {
		src.pos += got
	}
	if err != nil {
		return fmt.Errorf("part10: copy range %d+%d: %w", off, n, err)
	}
	if got < n && !(lenient && n-got < 8) {
		return fmt.Errorf("part10: copy range %d+%d: short by %d bytes: %w", off, n, n-got, io.ErrUnexpectedEOF)
	}
	return nil
}

func copyCtx(ctx context.Context, w io.Writer, r io.Reader) (int64, error) {
	buf := make([]byte, 32<<10)
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return total, werr
			}
			total += int64(n)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// inflater reads the inflated data set of a Deflated object, reopening the
// stored object when a range lies behind the current position.
type inflater struct {
	open OpenFunc
	at   int64 // DeflatedAt
	rc   io.ReadCloser
	fr   io.ReadCloser
	pos  int64 // logical position (inflated offset + at)
}

func (z *inflater) close() {
	if z.fr != nil {
		z.fr.Close()
	}
	if z.rc != nil {
		z.rc.Close()
	}
	z.fr, z.rc = nil, nil
}

func (z *inflater) seek(ctx context.Context, off int64) (io.Reader, error) {
	if off < z.at {
		return nil, fmt.Errorf("part10: range at %d before the deflated data at %d", off, z.at)
	}
	if z.fr == nil || off < z.pos {
		z.close()
		rc, err := z.open(ctx, z.at, -1)
		if err != nil {
			return nil, fmt.Errorf("part10: open deflated data: %w", err)
		}
		z.rc, z.fr, z.pos = rc, flate.NewReader(rc), z.at
	}
	if off > z.pos {
		n, err := copyCtx(ctx, io.Discard, io.LimitReader(z.fr, off-z.pos))
		z.pos += n
		if err != nil {
			return nil, fmt.Errorf("part10: inflate: %w", err)
		}
		if z.pos != off {
			return nil, fmt.Errorf("part10: inflate: range at %d past the end: %w", off, io.ErrUnexpectedEOF)
		}
	}
	return z.fr, nil
}

// swapWriter reverses the bytes of each size-byte word, drops the first
// drop output bytes and passes on at most left bytes.
type swapWriter struct {
	w     io.Writer
	size  int
	drop  int64
	left  int64
	part  [8]byte
	npart int
	buf   []byte
}

func (s *swapWriter) Write(p []byte) (int, error) {
	n := len(p)
	if s.buf == nil {
		s.buf = make([]byte, 0, 32<<10)
	}
	for len(p) > 0 {
		k := copy(s.part[s.npart:s.size], p)
		s.npart += k
		p = p[k:]
		if s.npart < s.size {
			break
		}
		for i := s.size - 1; i >= 0; i-- {
			s.buf = append(s.buf, s.part[i])
		}
		s.npart = 0
		if len(s.buf) >= cap(s.buf)-8 {
			if err := s.emit(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (s *swapWriter) emit() error {
	b := s.buf
	s.buf = s.buf[:0]
	if s.drop > 0 {
		d := min(s.drop, int64(len(b)))
		b = b[d:]
		s.drop -= d
	}
	if int64(len(b)) > s.left {
		b = b[:s.left]
	}
	s.left -= int64(len(b))
	if len(b) == 0 {
		return nil
	}
	_, err := s.w.Write(b)
	return err
}

// flush writes what is buffered; a trailing partial word (which only a
// short, lenient read leaves) goes out unswapped.
func (s *swapWriter) flush() error {
	s.buf = append(s.buf, s.part[:s.npart]...)
	s.npart = 0
	if err := s.emit(); err != nil {
		return err
	}
	if s.left > 0 {
		return fmt.Errorf("part10: swap: short by %d bytes: %w", s.left, io.ErrUnexpectedEOF)
	}
	return nil
}

// bitWriter drops skip bytes, then shifts the bit stream right by shift
// bits (bits are packed least significant first) and passes on left bits.
type bitWriter struct {
	w     io.Writer
	skip  int64
	shift uint
	left  int64 // bits still to write
	have  bool
	prev  byte
	buf   []byte
}

func (b *bitWriter) Write(p []byte) (int, error) {
	n := len(p)
	if b.skip > 0 {
		d := min(b.skip, int64(len(p)))
		p = p[d:]
		b.skip -= d
	}
	if b.buf == nil {
		b.buf = make([]byte, 0, 32<<10)
	}
	for _, c := range p {
		if b.have && b.left > 0 {
			if len(b.buf) == cap(b.buf) {
				if err := b.emit(); err != nil {
					return 0, err
				}
			}
			b.buf = append(b.buf, b.prev>>b.shift|c<<(8-b.shift))
			b.left -= 8
		}
		b.prev, b.have = c, true
	}
	return n, nil
}

func (b *bitWriter) emit() error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.w.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}

func (b *bitWriter) flush() error {
	if b.left > 0 && b.have {
		if len(b.buf) == cap(b.buf) {
			if err := b.emit(); err != nil {
				return err
			}
		}
		b.buf = append(b.buf, b.prev>>b.shift)
		b.left -= 8
	}
	if b.left > 0 {
		return fmt.Errorf("part10: bit-packed frame: short by %d bits: %w", b.left, io.ErrUnexpectedEOF)
	}
	// Clear the unused high bits of the last byte.
	if r := (-b.left) % 8; r != 0 && len(b.buf) > 0 {
		b.buf[len(b.buf)-1] &= byte(0xFF >> uint(r))
	}
	return b.emit()
}
