package retrieve

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/dicomweb/dicom/pixels"
	"github.com/minipacs/minipacs/index"
)

// maxFrameBytes bounds the stored frame read into memory for decoding or
// rendering (one frame at a time).
const maxFrameBytes = 512 << 20

// Image is a stored instance parsed again for decoding or rendering its
// frames. It is used by one goroutine.
type Image struct {
	ref  *index.Ref
	file *part10.File
	lay  *part10.Layout
	img  *pixels.Image
	open part10.OpenFunc
	// frame decodes frames for Frame, reusing its buffer.
	frame func(ctx context.Context, n int) ([]byte, error)
}

// Image parses the stored object of ref (skipping bulk values) and
// describes its pixel data. An instance without pixel data is
// ErrNoPixelData; pixel data this archive cannot describe is one of the
// pixels errors (ErrNotImage, ErrInvalid, ErrTooLarge...).
func (s *Service) Image(ctx context.Context, ref *index.Ref) (*Image, error) {
	open := s.opener(ref)
	f, err := s.parse(ctx, ref, open)
	if err != nil {
		return nil, err
	}
	if len(f.Layout.Frames) == 0 {
		return nil, ErrNoPixelData
	}
	img, err := pixels.Describe(ctx, f.DataSet, ref.TransferSyntaxUID, pixels.LayoutLoader(open, &f.Layout))
	if err != nil {
		return nil, err
	}
	return &Image{ref: ref, file: f, lay: &f.Layout, img: img, open: open}, nil
}

// Count is the number of frames.
func (im *Image) Count() int { return len(im.lay.Frames) }

// ThumbnailFrame is the frame (1-based) a thumbnail shows.
func (im *Image) ThumbnailFrame() int { return pixels.ThumbnailFrame(im.img) + 1 }

// Frame decodes frame n (1-based) into native little endian samples
// (Explicit VR Little Endian). The body is in memory and valid until the
// next call of Frame: its buffer is reused.
func (im *Image) Frame(ctx context.Context, n int) (*Body, error) {
	if n < 1 || n > im.Count() {
		return nil, ErrNoSuchFrame
	}
	if im.frame == nil {
		im.frame = im.transcoder()
	}
	out, err := im.frame(ctx, n)
	if err != nil {
		return nil, err
	}
	return bytesBody(out), nil
}

// storedFrame reads stored frame n (1-based) into memory.
func (im *Image) storedFrame(ctx context.Context, n int) ([]byte, error) {
	fr := im.lay.Frames[n-1]
	size := part10.FrameLength(im.lay, fr)
	if size > maxFrameBytes {
		return nil, tooLarge(n, size)
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	if err := part10.WriteFrame(ctx, buf, im.open, im.lay, fr); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func tooLarge(n int, size int64) error {
	return fmt.Errorf("frame %d is too large to decode (%d bytes): %w", n, size, pixels.ErrTooLarge)
}

// transcoder returns a function that gives stored frame n (1-based) as
// native little endian samples (pixels.TranscodeFrame), reusing its output
// buffer: a result is valid until the next call.
func (im *Image) transcoder() func(ctx context.Context, n int) ([]byte, error) {
	var buf []byte
	return func(ctx context.Context, n int) ([]byte, error) {
		raw, err := im.storedFrame(ctx, n)
		if err != nil {
			return nil, err
		}
		out, err := pixels.TranscodeFrame(ctx, im.img, raw, buf)
		if err != nil {
			return nil, err
		}
		buf = out[:0]
		return out, nil
	}
}

// decodedPixels describes the decoded frames of im for
// part10.WriteExplicitLEDecoded, decoding one frame at a time.
func (im *Image) decodedPixels() *part10.DecodedPixels {
	d := im.img.Decoded()
	vr := "OW"
	if d.BitsAllocated <= 8 {
		vr = "OB"
	}
	frame := im.transcoder()
	set := []*part10.Element{
		csElement(part10.TagPhotometricInterpretation, d.Photometric),
		usElement(0x00280100, d.BitsAllocated),
		usElement(0x00280101, d.BitsStored),
		usElement(0x00280102, d.HighBit),
	}
	if im.img.SamplesPerPixel > 1 {
		set = append(set, usElement(0x00280006, d.PlanarConfiguration))
	}
	if ts, _ := part10.LookupTransferSyntax(im.img.TransferSyntaxUID); ts.Lossy || im.img.LossyImageCompression {
		// Decoding does not undo a lossy compression (PS3.3 C.7.6.1.1.5).
		set = append(set, csElement(0x00282110, "01"))
	}
	return &part10.DecodedPixels{
		VR: vr, Frames: len(im.lay.Frames), FrameSize: d.FrameSize,
		WriteFrame: func(ctx context.Context, w io.Writer, i int) error {
			out, err := frame(ctx, i+1)
			if err != nil {
				return err
			}
			_, err = w.Write(out)
			return err
		},
		Set: set,
	}
}

func csElement(t part10.Tag, v string) *part10.Element {
	if len(v)%2 == 1 {
		v += " "
	}
	return &part10.Element{Tag: t, VR: "CS", Length: uint32(len(v)), Value: []byte(v)}
}

func usElement(t part10.Tag, v int) *part10.Element {
	return &part10.Element{Tag: t, VR: "US", Length: 2, Value: []byte{byte(v), byte(v >> 8)}}
}

// frameBufs recycles the stored and decoded frame buffers of Render (each
// a frame's size: 512 KiB for a CT slice), which would otherwise be
// allocated twice per rendered picture.
var frameBufs sync.Pool

func getFrameBuf() []byte {
	if b, ok := frameBufs.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return nil
}

func putFrameBuf(b []byte) {
	if cap(b) == 0 || cap(b) > 64<<20 {
		return
	}
	b = b[:0]
	frameBufs.Put(&b)
}
