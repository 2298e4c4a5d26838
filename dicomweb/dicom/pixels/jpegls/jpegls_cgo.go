//go:build cgo

package jpegls

/*
#cgo pkg-config: charls
#include <stdint.h>
#include <stddef.h>
#include <charls/charls.h>

typedef struct {
	uint32_t width, height;
	int32_t bits, comps, ilv, errc;
	size_t need;
} jls_result;

enum { JLS_OK = 0, JLS_ERR = 1, JLS_MISMATCH = 2, JLS_SMALL = 3 };

// jls_decode reads the header of src, checks it against the expected
// geometry and, if it fits, decodes into dst. Everything happens in one
// call, so CharLS never keeps a pointer into Go memory.
static int jls_decode(const void* src, size_t srclen, void* dst, size_t dstlen,
		uint32_t want_w, uint32_t want_h, int32_t want_comps, int32_t max_bits, jls_result* r) {
	charls_jpegls_decoder* d = charls_jpegls_decoder_create();
	if (d == NULL) {
		r->errc = CHARLS_JPEGLS_ERRC_NOT_ENOUGH_MEMORY;
		return JLS_ERR;
	}
	int ret = JLS_ERR;
	charls_frame_info fi;
	charls_interleave_mode ilv;
	charls_jpegls_errc e = charls_jpegls_decoder_set_source_buffer(d, src, srclen);
	if (e == CHARLS_JPEGLS_ERRC_SUCCESS) e = charls_jpegls_decoder_read_header(d);
	if (e == CHARLS_JPEGLS_ERRC_SUCCESS) e = charls_jpegls_decoder_get_frame_info(d, &fi);
	if (e == CHARLS_JPEGLS_ERRC_SUCCESS) e = charls_jpegls_decoder_get_interleave_mode(d, &ilv);
	if (e != CHARLS_JPEGLS_ERRC_SUCCESS) goto done;
	r->width = fi.width;
	r->height = fi.height;
	r->bits = fi.bits_per_sample;
	r->comps = fi.component_count;
	r->ilv = (int32_t)ilv;
	if (fi.width != want_w || fi.height != want_h || fi.component_count != want_comps ||
			fi.bits_per_sample > max_bits) {
		ret = JLS_MISMATCH;
		goto done;
	}
	e = charls_jpegls_decoder_get_destination_size(d, 0, &r->need);
	if (e != CHARLS_JPEGLS_ERRC_SUCCESS) goto done;
	if (r->need > dstlen) {
		ret = JLS_SMALL;
		goto done;
	}
	e = charls_jpegls_decoder_decode_to_buffer(d, dst, r->need, 0);
	if (e == CHARLS_JPEGLS_ERRC_SUCCESS) ret = JLS_OK;
done:
	r->errc = (int32_t)e;
	charls_jpegls_decoder_destroy(d);
	return ret;
}

static const char* jls_message(int32_t errc) {
	return charls_get_error_message((charls_jpegls_errc)errc);
}
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/codec"
)

// Available reports whether this build can decode JPEG-LS (it needs cgo).
const Available = true

const ilvNone = 0

// Decode decodes one JPEG-LS frame into the output convention of package
// codec. dst is used when cap(dst) >= p.FrameSize().
func Decode(src []byte, p codec.Params, dst []byte) ([]byte, error) {
	if err := checkParams(p); err != nil {
		return nil, err
	}
	src, err := trimToEOI(src)
	if err != nil {
		return nil, err
	}
	size := int(p.FrameSize())
	if cap(dst) >= size {
		dst = dst[:size]
	} else {
		dst = make([]byte, size)
	}
	bps := p.BitsAllocated / 8
	// First try straight into dst: right whenever the stream's samples
	// are as wide as ours and come out interleaved; CharLS reports the
	// header, and we fall back to a scratch buffer when they are not.
	var r C.jls_result
	rc := C.jls_decode(unsafe.Pointer(&src[0]), C.size_t(len(src)), unsafe.Pointer(&dst[0]), C.size_t(len(dst)),
		C.uint32_t(p.Columns), C.uint32_t(p.Rows), C.int32_t(p.Samples), C.int32_t(p.BitsAllocated), &r)
	if err := result(rc, &r, p); err != nil {
		return nil, err
	}
	sbytes := 1
	if r.bits > 8 {
		sbytes = 2
	}
	if rc == C.JLS_OK && sbytes == bps && (p.Samples == 1 || r.ilv != ilvNone) {
		codec.FixHighBits(dst, p)
		return dst, nil
	}
	// Decode into a scratch buffer (at most one frame: sbytes <= bps) and
	// convert. The first call either failed with JLS_SMALL or decoded into
	// dst in a layout we now rearrange from a copy.
	n := p.Rows * p.Columns * p.Samples * sbytes
	scratch := make([]byte, n)
	if rc == C.JLS_OK {
		copy(scratch, dst[:n])
	} else {
		rc = C.jls_decode(unsafe.Pointer(&src[0]), C.size_t(len(src)), unsafe.Pointer(&scratch[0]), C.size_t(len(scratch)),
			C.uint32_t(p.Columns), C.uint32_t(p.Rows), C.int32_t(p.Samples), C.int32_t(p.BitsAllocated), &r)
		if err := result(rc, &r, p); err != nil {
			return nil, err
		}
		if rc != C.JLS_OK {
			return nil, fmt.Errorf("jpegls: decode: CharLS needs %d bytes for a %d-byte frame: %w", r.need, n, codec.ErrCorrupt)
		}
	}
	planar := p.Samples > 1 && r.ilv == ilvNone
	pixels := p.Rows * p.Columns
	for s := 0; s < p.Samples; s++ {
		for i := 0; i < pixels; i++ {
			in := i*p.Samples + s
			if planar {
				in = s*pixels + i
			}
			var v uint32
			if sbytes == 1 {
				v = uint32(scratch[in])
			} else {
				v = uint32(scratch[2*in]) | uint32(scratch[2*in+1])<<8
			}
			out := (i*p.Samples + s) * bps
			dst[out] = byte(v)
			if bps == 2 {
				dst[out+1] = byte(v >> 8)
			}
		}
	}
	codec.FixHighBits(dst, p)
	return dst, nil
}

// result turns a jls_decode outcome into an error; JLS_SMALL is not one.
func result(rc C.int, r *C.jls_result, p codec.Params) error {
	switch rc {
	case C.JLS_OK, C.JLS_SMALL:
		return nil
	case C.JLS_MISMATCH:
		return fmt.Errorf("jpegls: decode: stream is %d×%d, %d components of %d bits; want %d×%d, %d samples of at most %d bits: %w",
			r.width, r.height, r.comps, r.bits, p.Columns, p.Rows, p.Samples, p.BitsAllocated, codec.ErrMismatch)
	}
	msg := C.GoString(C.jls_message(r.errc))
	switch r.errc {
	case C.CHARLS_JPEGLS_ERRC_PARAMETER_VALUE_NOT_SUPPORTED, C.CHARLS_JPEGLS_ERRC_ENCODING_NOT_SUPPORTED,
		C.CHARLS_JPEGLS_ERRC_COLOR_TRANSFORM_NOT_SUPPORTED, C.CHARLS_JPEGLS_ERRC_BIT_DEPTH_FOR_TRANSFORM_NOT_SUPPORTED:
		return fmt.Errorf("jpegls: decode: charls: %s: %w", msg, codec.ErrUnsupported)
	}
	return fmt.Errorf("jpegls: decode: charls: %s: %w", msg, codec.ErrCorrupt)
}
