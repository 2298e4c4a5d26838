// Package codec holds what the pixel decoders of minipacs share: the
// description of the frame a decoder must produce and its errors.
//
// Each compressed transfer syntax has a decoder package beside this one
// (dicomweb/pixels/jpeg, jpegls, jpeg2000, rle). Every decoder has the
// signature of Decoder: it takes the bytes of one encapsulated frame (all of
// its fragments, concatenated) and returns the frame's native samples.
//
// The output convention, shared by every decoder:
//   - samples interleaved pixel by pixel (R G B R G B ...), i.e. Planar
//     Configuration 0, whatever the stored Planar Configuration was;
//   - each sample in Params.BitsAllocated/8 bytes (1, 2 or 4), little endian;
//     signed samples (Params.Signed) as two's complement of that width, sign
//     extended from BitsStored;
//   - no colour transform beyond what the codec stream itself mandates:
//     a JPEG baseline frame of YBR_FULL_422 comes out as full-resolution
//     Y Cb Cr (upsampled); JPEG 2000 with the multi-component transform
//     (YBR_RCT/YBR_ICT) comes out as RGB, since the codec reverses it.
//     The pixels package does every photometric conversion.
//
// A decoder checks that the stream's dimensions, component count and
// precision fit Params and returns ErrMismatch otherwise; it never allocates
// more than Params allows (Rows×Columns×Samples×BitsAllocated/8, plus a
// bounded working set), never panics on hostile input, and returns ErrCorrupt
// (wrapped with detail) for streams it cannot decode.
package codec

import "github.com/minipacs/minipacs/dicomweb/kind"

// Params describes the frame a decoder must produce, from the data set's
// Image Pixel module.
type Params struct {
	Rows, Columns int
	// Samples is SamplesPerPixel (1 or 3; 4 is accepted by codecs that can).
	Samples int
	// BitsAllocated is 8, 16 or 32; BitsStored ≤ BitsAllocated.
	BitsAllocated, BitsStored int
	// Signed is PixelRepresentation = 1.
	Signed bool
	// PlanarConfiguration as stored (matters to RLE only: decoders always
	// produce interleaved output).
	PlanarConfiguration int
	// Photometric is PhotometricInterpretation as stored, for decoders whose
	// behaviour depends on it (e.g. JPEG colour transform hints).
	Photometric string
}

// FrameSize is the size in bytes of one decoded frame.
func (p Params) FrameSize() int64 {
	return int64(p.Rows) * int64(p.Columns) * int64(p.Samples) * int64(p.BitsAllocated/8)
}

// Decoder decodes one encapsulated frame. dst, when large enough, is used for
// the output (cap(dst) >= FrameSize()); the result is returned.
type Decoder func(src []byte, p Params, dst []byte) ([]byte, error)

var (
	// ErrUnsupported: this build or this decoder cannot decode the stream
	// (e.g. a cgo codec in a CGO_ENABLED=0 build, a JPEG process not
	// implemented). Callers answer 406 for decoded output.
	ErrUnsupported = kind.New(kind.Unsupported, "codec: unsupported")
	// ErrMismatch: the stream's geometry does not fit the data set.
	ErrMismatch = kind.New(kind.Unsupported, "codec: stream does not match the image description")
	// ErrCorrupt: the stream is malformed.
	ErrCorrupt = kind.New(kind.Unsupported, "codec: corrupt stream")
)
