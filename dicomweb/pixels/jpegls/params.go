package jpegls

import (
	"encoding/binary"
	"fmt"

	"github.com/minipacs/minipacs/dicomweb/pixels/codec"
)

func checkParams(p codec.Params) error {
	switch {
	case p.Rows <= 0 || p.Columns <= 0 || p.Rows > 65535 || p.Columns > 65535:
		return fmt.Errorf("jpegls: decode: %d×%d image: %w", p.Columns, p.Rows, codec.ErrMismatch)
	case p.Samples < 1 || p.Samples > 4:
		return fmt.Errorf("jpegls: decode: %d samples per pixel: %w", p.Samples, codec.ErrUnsupported)
	case p.BitsAllocated != 8 && p.BitsAllocated != 16:
		// JPEG-LS codes at most 16 bits per sample.
		return fmt.Errorf("jpegls: decode: %d bits allocated: %w", p.BitsAllocated, codec.ErrMismatch)
	case p.BitsStored < 2 || p.BitsStored > p.BitsAllocated:
		return fmt.Errorf("jpegls: decode: %d bits stored of %d: %w", p.BitsStored, p.BitsAllocated, codec.ErrMismatch)
	}
	return nil
}

// fixHighBits clears the bits above BitsStored (unsigned) or sign extends
// from BitsStored (signed).
func fixHighBits(b []byte, p codec.Params) {
	if p.BitsStored >= p.BitsAllocated && !p.Signed {
		return
	}
	shift := uint(p.BitsAllocated - p.BitsStored)
	if shift == 0 {
		return
	}
	switch p.BitsAllocated {
	case 8:
		for i, c := range b {
			if p.Signed {
				b[i] = byte(int8(c<<shift) >> shift)
			} else {
				b[i] = c << shift >> shift
			}
		}
	case 16:
		for i := 0; i+1 < len(b); i += 2 {
			v := binary.LittleEndian.Uint16(b[i:])
			if p.Signed {
				v = uint16(int16(v<<shift) >> shift)
			} else {
				v = v << shift >> shift
			}
			binary.LittleEndian.PutUint16(b[i:], v)
		}
	}
}

// trimToEOI drops the zero padding after the stream's EOI marker and
// checks that the stream ends with one. CharLS 2.4.1 takes seconds on a
// stream that ends in the middle of the coded data (its bit reader runs on
// past the buffer's end), while a stream that ends in a marker fails fast:
// so a truncated stream is refused before CharLS sees it.
func trimToEOI(src []byte) ([]byte, error) {
	n := len(src)
	for n > 0 && src[n-1] == 0 {
		n--
	}
	if n < 4 || src[n-2] != 0xFF || src[n-1] != 0xD9 {
		return nil, fmt.Errorf("jpegls: decode: %d bytes not ending with an EOI marker (truncated?): %w", len(src), codec.ErrCorrupt)
	}
	return src[:n], nil
}
