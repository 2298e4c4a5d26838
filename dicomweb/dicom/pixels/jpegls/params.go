package jpegls

import (
	"fmt"

	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/codec"
)

func checkParams(p codec.Params) error {
	if err := p.CheckGeometry(); err != nil {
		return fmt.Errorf("jpegls: decode: %w", err)
	}
	switch {
	case p.BitsAllocated != 8 && p.BitsAllocated != 16:
		// JPEG-LS codes at most 16 bits per sample.
		return fmt.Errorf("jpegls: decode: %d bits allocated: %w", p.BitsAllocated, codec.ErrMismatch)
	case p.BitsStored < 2 || p.BitsStored > p.BitsAllocated:
		return fmt.Errorf("jpegls: decode: %d bits stored of %d: %w", p.BitsStored, p.BitsAllocated, codec.ErrMismatch)
	}
	return nil
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
