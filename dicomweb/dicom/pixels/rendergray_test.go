package pixels

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
)

// TestRenderGrayFast checks the 16-bit fast path of renderGray against the
// per-sample mapping (sampleConv.get and grayMapper.value): signed and
// unsigned samples, 12 and 16 bits stored, high bits set beyond the stored
// bits (masked away), with a window and with the frame's own range.
func TestRenderGrayFast(t *testing.T) {
	for _, stored := range []int{12, 16} {
		for _, signed := range []bool{false, true} {
			for _, windowed := range []bool{false, true} {
				t.Run(fmt.Sprintf("stored%d_signed%v_window%v", stored, signed, windowed), func(t *testing.T) {
					pr := uint16(0)
					if signed {
						pr = 1
					}
					extra := []elem{{tagPixelRepresentation, "US", us(pr)}}
					if windowed {
						extra = append(extra, elem{tagWindowCenter, "DS", str("40")}, elem{tagWindowWidth, "DS", str("400")})
					}
					const rows, cols = 24, 20
					img, err := Describe(context.Background(), grey(rows, cols, 16, stored, extra...), part10.ExplicitVRLittleEndian, nil)
					if err != nil {
						t.Fatal(err)
					}
					rng := rand.New(rand.NewPCG(uint64(stored), 7))
					frame := make([]byte, rows*cols*2)
					for i := 0; i < len(frame); i += 2 {
						binary.LittleEndian.PutUint16(frame[i:], uint16(rng.IntN(1<<16)))
					}
					got, err := renderGray(img, frame, nil)
					if err != nil {
						t.Fatal(err)
					}
					conv := newSampleConv(img)
					conv.shift = 0
					lo, hi := int64(1<<62), int64(-1<<62)
					for i := 0; i < rows*cols; i++ {
						v := conv.get(frame[2*i:])
						lo, hi = min(lo, v), max(hi, v)
					}
					g := &grayMapper{img: img}
					if windowed {
						g.window = img.Windows[0]
					} else {
						a, b := g.modality(lo), g.modality(hi)
						g.window = Window{Center: (a + b) / 2, Width: max(b-a, 1e-9), Function: LinearExact}
					}
					for i := 0; i < rows*cols; i++ {
						v := conv.get(frame[2*i:])
						if want := g.value(v); got.Pix[i] != want {
							t.Fatalf("pixel %d (stored value %d): %d, want %d", i, v, got.Pix[i], want)
						}
					}
				})
			}
		}
	}
}

// BenchmarkRenderGray: windowing alone of a 512×512 signed 16-bit CT frame
// (the 16-bit fast path).
func BenchmarkRenderGray(b *testing.B) {
	img, frame := syntheticCT(b)
	ctx := context.Background()
	dec, err := DecodeFrame(ctx, img, frame, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(dec)))
	for b.Loop() {
		if _, err := renderGray(img, dec, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeJPEGGray: image/jpeg at the default quality of a rendered
// 512×512 CT picture, the largest cost of a rendered request.
func BenchmarkEncodeJPEGGray(b *testing.B) {
	img, frame := syntheticCT(b)
	ctx := context.Background()
	dec, err := DecodeFrame(ctx, img, frame, nil)
	if err != nil {
		b.Fatal(err)
	}
	m, err := renderGray(img, dec, nil)
	if err != nil {
		b.Fatal(err)
	}
	var out bytes.Buffer
	for b.Loop() {
		out.Reset()
		if err := Encode(&out, m, MediaJPEG, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(out.Len()), "bytes/op")
}
