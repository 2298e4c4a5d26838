package pixels

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/codec"
)

var codecUnsupported = codec.ErrUnsupported

// isNative reports whether frames of tsUID are native samples (including
// Encapsulated Uncompressed, whose fragments hold native frames).
func isNative(tsUID string) bool {
	if tsUID == part10.EncapsulatedUncompressedExplicitVRLittleEndian {
		return true
	}
	ts, ok := part10.LookupTransferSyntax(tsUID)
	return ok && !ts.Encapsulated
}

func (img *Image) encapsulated() bool { return !isNative(img.TransferSyntaxUID) }

// CanDecode reports whether this build decodes frames of transfer syntax
// tsUID (native syntaxes included). Without cgo, JPEG-LS and JPEG 2000
// answer false; video and JPIP syntaxes always do.
func CanDecode(tsUID string) bool {
	if isNative(tsUID) {
		return true
	}
	_, ok := decoderFor(tsUID)
	return ok
}

// Params is the codec description of img's frames.
func (img *Image) Params() codec.Params {
	return codec.Params{
		Rows: img.Rows, Columns: img.Columns, Samples: img.SamplesPerPixel,
		BitsAllocated: img.BitsAllocated, BitsStored: img.BitsStored, Signed: img.Signed,
		PlanarConfiguration: img.PlanarConfiguration, Photometric: img.Photometric,
	}
}

// sampleBytes is the size of one decoded sample (1-bit data: one byte).
func (img *Image) sampleBytes() int {
	if img.BitsAllocated == 1 {
		return 1
	}
	return img.BitsAllocated / 8
}

// DecodedFrameSize is the size of a frame as DecodeFrame returns it.
func (img *Image) DecodedFrameSize() int64 {
	return int64(img.Rows) * int64(img.Columns) * int64(img.SamplesPerPixel) * int64(img.sampleBytes())
}

// decodedPhotometric is the photometric interpretation of DecodeFrame's
// output (before any conversion to RGB).
func (img *Image) decodedPhotometric() string {
	switch img.Photometric {
	case YBRRCT, YBRICT:
		if img.encapsulated() {
			return RGB // the JPEG 2000 codec reverses the component transform
		}
	case YBRFull422:
		return YBRFull // upsampled
	}
	return img.Photometric
}

// DecodeFrame decodes one stored frame: src is the frame as
// part10.WriteFrame writes it (native: little endian, 1-bit frames packed
// from bit 0; encapsulated: all fragments of the frame). The result has
// DecodedFrameSize bytes in the layout described in the package doc; dst is
// used when its capacity suffices (it must not overlap src). Encapsulated
// syntaxes without a decoder in this build give codec.ErrUnsupported.
func DecodeFrame(ctx context.Context, img *Image, src, dst []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := img.validate(); err != nil {
		return nil, fmt.Errorf("pixels: decode frame: %w", err)
	}
	size := img.DecodedFrameSize()
	if size <= 0 || size > MaxFrameBytes || int64(img.Rows)*int64(img.Columns) > MaxPixels {
		return nil, fmt.Errorf("pixels: decode frame of %d bytes: %w", size, ErrTooLarge)
	}
	if isNative(img.TransferSyntaxUID) {
		return normalizeNative(img, src, dst)
	}
	dec, ok := decoderFor(img.TransferSyntaxUID)
	if !ok {
		return nil, fmt.Errorf("pixels: decode frame: transfer syntax %s: %w", img.TransferSyntaxUID, codec.ErrUnsupported)
	}
	if img.BitsAllocated == 1 {
		return nil, fmt.Errorf("pixels: decode frame: 1-bit encapsulated data: %w", codec.ErrUnsupported)
	}
	out, err := safeDecode(dec, src, img.Params(), dst)
	if err != nil {
		return nil, fmt.Errorf("pixels: decode frame (%s): %w", img.TransferSyntaxUID, err)
	}
	if int64(len(out)) != size {
		return nil, fmt.Errorf("pixels: decode frame (%s): decoder gave %d bytes for %d: %w", img.TransferSyntaxUID, len(out), size, ErrInvalid)
	}
	return out, nil
}

// safeDecode runs a decoder, turning a panic into ErrCorrupt: the decoders
// promise not to panic, and one bad file must not take the server down if
// one does.
func safeDecode(dec codec.Decoder, src []byte, p codec.Params, dst []byte) (out []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			out, err = nil, fmt.Errorf("decoder panic (%v): %w", v, codec.ErrCorrupt)
		}
	}()
	return dec(src, p, dst)
}

func grow(dst []byte, n int64) []byte {
	if int64(cap(dst)) >= n {
		return dst[:n]
	}
	return make([]byte, n)
}

// normalizeNative brings a native frame into the decoded layout.
func normalizeNative(img *Image, src, dst []byte) ([]byte, error) {
	need := img.storedFrameBytes()
	if int64(len(src)) < need {
		return nil, fmt.Errorf("pixels: native frame of %d bytes, want %d: %w", len(src), need, ErrInvalid)
	}
	n := img.Rows * img.Columns
	out := grow(dst, img.DecodedFrameSize())
	switch {
	case img.BitsAllocated == 1:
		for i := 0; i < n; i++ {
			out[i] = src[i>>3] >> (i & 7) & 1
		}
		return out, nil
	case img.Photometric == YBRFull422 && img.SamplesPerPixel == 3:
		return upsample422(img, src, out)
	}
	spp := img.SamplesPerPixel
	planar := img.PlanarConfiguration == 1 && spp > 1
	conv := newSampleConv(img)
	bps := img.BitsAllocated / 8
	if !planar && bps == 2 {
		// The common case (CT, MR, CR): one tight loop.
		total := n * spp
		for i := 0; i < total; i++ {
			v := binary.LittleEndian.Uint16(src[2*i:]) >> conv.shift & uint16(conv.mask)
			if conv.signed && v>>(conv.stored-1)&1 == 1 {
				v |= ^uint16(conv.mask)
			}
			binary.LittleEndian.PutUint16(out[2*i:], v)
		}
		return out, nil
	}
	for i := 0; i < n; i++ {
		for c := 0; c < spp; c++ {
			j := i*spp + c
			if planar {
				j = c*n + i
			}
			conv.put(out[(i*spp+c)*bps:], conv.get(src[j*bps:]))
		}
	}
	return out, nil
}

// upsample422 turns native YBR_FULL_422 (Y1 Y2 Cb Cr for each pair of
// pixels, PS3.3 C.7.6.3.1.2) into full-resolution Y Cb Cr.
func upsample422(img *Image, src, out []byte) ([]byte, error) {
	n := img.Rows * img.Columns
	bps := img.BitsAllocated / 8
	if int64(len(src)) < int64((n+1)/2)*4*int64(bps) {
		return nil, fmt.Errorf("pixels: YBR_FULL_422 frame of %d bytes for %d pixels: %w", len(src), n, ErrInvalid)
	}
	conv := newSampleConv(img)
	for i := 0; i < n; i++ {
		p := (i / 2) * 4
		y := conv.get(src[(p+i%2)*bps:])
		cb := conv.get(src[(p+2)*bps:])
		cr := conv.get(src[(p+3)*bps:])
		conv.put(out[(3*i)*bps:], y)
		conv.put(out[(3*i+1)*bps:], cb)
		conv.put(out[(3*i+2)*bps:], cr)
	}
	return out, nil
}

// sampleConv reads a stored sample (moved down from HighBit, masked to
// BitsStored, sign extended) and writes it back in the decoded layout.
type sampleConv struct {
	bps    int
	shift  uint
	mask   uint32
	signed bool
	stored uint
}

func newSampleConv(img *Image) sampleConv {
	return sampleConv{
		bps:    img.sampleBytes(),
		shift:  uint(img.HighBit + 1 - img.BitsStored),
		mask:   uint32(uint64(1)<<img.BitsStored - 1),
		signed: img.Signed,
		stored: uint(img.BitsStored),
	}
}

func (s sampleConv) get(b []byte) int64 {
	v := codec.ReadSample(b, s.bps) >> s.shift & s.mask
	if s.signed && v>>(s.stored-1)&1 == 1 {
		return int64(v) - int64(uint64(1)<<s.stored)
	}
	return int64(v)
}

func (s sampleConv) put(b []byte, v int64) {
	codec.WriteSample(b, s.bps, v)
}

// Decoded describes a frame as TranscodeFrame returns it, for writing it in
// Explicit VR Little Endian: the Image Pixel attributes that replace the
// stored ones. Attributes not listed keep their values.
type Decoded struct {
	Photometric         string
	PlanarConfiguration int
	BitsAllocated       int
	BitsStored          int
	HighBit             int
	// FrameSize is the size of one frame in bytes.
	FrameSize int64
}

// lossyJPEG reports the lossy ISO 10918 syntaxes, whose YCbCr frames are
// converted to RGB when transcoded (as dcmdjpeg does).
func lossyJPEG(tsUID string) bool {
	return tsUID == "1.2.840.10008.1.2.4.50" || tsUID == "1.2.840.10008.1.2.4.51"
}

// Decoded returns the attributes of img's frames after TranscodeFrame.
// Native syntaxes keep theirs (frames pass unchanged). Encapsulated ones
// become planar configuration 0 with HighBit = BitsStored-1; YBR_RCT and
// YBR_ICT become RGB, lossy JPEG YBR_FULL and YBR_FULL_422 become RGB, other
// YBR_FULL_422 becomes YBR_FULL.
func (img *Image) Decoded() Decoded {
	if !img.encapsulated() {
		return Decoded{Photometric: img.Photometric, PlanarConfiguration: img.PlanarConfiguration,
			BitsAllocated: img.BitsAllocated, BitsStored: img.BitsStored, HighBit: img.HighBit,
			FrameSize: img.storedFrameBytes()}
	}
	d := Decoded{Photometric: img.decodedPhotometric(), BitsAllocated: img.BitsAllocated,
		BitsStored: img.BitsStored, HighBit: img.BitsStored - 1, FrameSize: img.DecodedFrameSize()}
	if d.Photometric == YBRFull && lossyJPEG(img.TransferSyntaxUID) {
		d.Photometric = RGB
	}
	return d
}

// TranscodeFrame returns src as a native Explicit VR Little Endian frame
// described by img.Decoded(). Native frames are returned as they are (cut
// to the frame size); encapsulated ones are decoded (see DecodeFrame) and,
// where Decoded says so, converted from YCbCr to RGB.
func TranscodeFrame(ctx context.Context, img *Image, src, dst []byte) ([]byte, error) {
	if err := img.validate(); err != nil {
		return nil, fmt.Errorf("pixels: transcode: %w", err)
	}
	if !img.encapsulated() {
		need := img.storedFrameBytes()
		if int64(len(src)) < need {
			return nil, fmt.Errorf("pixels: transcode: native frame of %d bytes, want %d: %w", len(src), need, ErrInvalid)
		}
		return src[:need], nil
	}
	out, err := DecodeFrame(ctx, img, src, dst)
	if err != nil {
		return nil, err
	}
	if img.decodedPhotometric() == YBRFull && img.Decoded().Photometric == RGB {
		ybrToRGB(out, img.sampleBytes(), img.BitsStored)
	}
	return out, nil
}

// ybrToRGB converts interleaved full-resolution YBR_FULL samples to RGB in
// place (PS3.3 C.7.6.3.1.2), for unsigned samples of bits bits.
func ybrToRGB(b []byte, bps, bits int) {
	maxV := float64(uint64(1)<<bits - 1)
	half := float64(uint64(1) << (bits - 1))
	conv := sampleConv{bps: bps, mask: uint32(uint64(1)<<bits - 1), stored: uint(bits)}
	for i := 0; i+3*bps <= len(b); i += 3 * bps {
		y := float64(conv.get(b[i:]))
		cb := float64(conv.get(b[i+bps:])) - half
		cr := float64(conv.get(b[i+2*bps:])) - half
		r := y + 1.402*cr
		g := y - 0.344136*cb - 0.714136*cr
		bl := y + 1.772*cb
		conv.put(b[i:], clampTo(r, maxV))
		conv.put(b[i+bps:], clampTo(g, maxV))
		conv.put(b[i+2*bps:], clampTo(bl, maxV))
	}
}

func clampTo(v, maxV float64) int64 {
	if !(v > 0) {
		return 0
	}
	if v >= maxV {
		return int64(maxV)
	}
	return int64(math.Floor(v + 0.5))
}
