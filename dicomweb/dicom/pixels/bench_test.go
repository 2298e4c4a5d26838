package pixels

import (
	"context"
	"encoding/binary"
	"io"
	"math"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
)

// syntheticCT is a 512×512 signed 16-bit CT frame (a disc of soft tissue
// with noise in air) and its description.
func syntheticCT(b *testing.B) (*Image, []byte) {
	ds := grey(512, 512, 16, 12,
		elem{tagPixelRepresentation, "US", us(1)},
		elem{tagWindowCenter, "DS", str("40")}, elem{tagWindowWidth, "DS", str("400")},
		elem{tagRescaleIntercept, "DS", str("-1024")}, elem{tagRescaleSlope, "DS", str("1")})
	img, err := Describe(context.Background(), ds, part10.ExplicitVRLittleEndian, nil)
	if err != nil {
		b.Fatal(err)
	}
	frame := make([]byte, 512*512*2)
	for y := 0; y < 512; y++ {
		for x := 0; x < 512; x++ {
			v := int16(-1000 + (x*7+y*13)%50)
			if math.Hypot(float64(x-256), float64(y-256)) < 200 {
				v = int16(1000 + (x*y)%200)
			}
			binary.LittleEndian.PutUint16(frame[2*(y*512+x):], uint16(v))
		}
	}
	return img, frame
}

// BenchmarkRenderCT: decode (native), window and JPEG-encode one
// 512×512×16 CT frame, as WADO-RS rendered does.
func BenchmarkRenderCT(b *testing.B) {
	img, frame := syntheticCT(b)
	ctx := context.Background()
	buf := make([]byte, 0, img.DecodedFrameSize())
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		dec, err := DecodeFrame(ctx, img, frame, buf)
		if err != nil {
			b.Fatal(err)
		}
		m, err := Render(ctx, img, dec, RenderOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if err := Encode(io.Discard, m, MediaJPEG, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkThumbnail: the same frame to a 128×128 JPEG thumbnail.
func BenchmarkThumbnail(b *testing.B) {
	img, frame := syntheticCT(b)
	ctx := context.Background()
	buf := make([]byte, 0, img.DecodedFrameSize())
	b.ReportAllocs()
	for b.Loop() {
		dec, err := DecodeFrame(ctx, img, frame, buf)
		if err != nil {
			b.Fatal(err)
		}
		m, err := Thumbnail(ctx, img, dec, RenderOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if err := Encode(io.Discard, m, MediaJPEG, 0); err != nil {
			b.Fatal(err)
		}
	}
}
