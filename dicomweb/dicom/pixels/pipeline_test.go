package pixels

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/codec"
	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/internal/pixeltest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestWindowFunctions(t *testing.T) {
	cases := []struct {
		name string
		w    Window
		x    float64
		want float64
	}{
		// LINEAR, PS3.3 C.11.2.1.2.1: c=2048 w=4096 maps 0..4095 onto 0..255.
		{"linear low end", Window{2048, 4096, Linear}, 0, 0},
		{"linear high end", Window{2048, 4096, Linear}, 4095, 255},
		{"linear middle", Window{2048, 4096, Linear}, 2047.5, 127.5},
		{"linear below", Window{40, 400, Linear}, -160, 0},
		{"linear above", Window{40, 400, Linear}, 240, 255},
		{"linear width 1 is a threshold", Window{100, 1, Linear}, 99, 0},
		{"linear width 1 above", Window{100, 1, Linear}, 100, 255},
		// LINEAR_EXACT, C.11.2.1.3.2: c±w/2 are the ends exactly.
		{"exact low end", Window{100, 200, LinearExact}, 0, 0},
		{"exact centre", Window{100, 200, LinearExact}, 100, 127.5},
		{"exact quarter", Window{100, 200, LinearExact}, 50, 63.75},
		{"exact high end", Window{100, 200, LinearExact}, 200, 255},
		// SIGMOID, C.11.2.1.3.1.
		{"sigmoid centre", Window{0, 100, Sigmoid}, 0, 127.5},
		{"sigmoid c+w/4", Window{0, 100, Sigmoid}, 25, 255 / (1 + math.Exp(-1))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.w.apply(tc.x); math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("apply(%g) = %g, want %g", tc.x, got, tc.want)
			}
		})
	}
}

func TestParseWindow(t *testing.T) {
	cases := []struct {
		in      string
		want    Window
		wantErr bool
	}{
		{"40,400,linear", Window{40, 400, Linear}, false},
		{"-600,1500,LINEAR-EXACT", Window{-600, 1500, LinearExact}, false},
		{"0.5,2.5,sigmoid", Window{0.5, 2.5, Sigmoid}, false},
		{"40,400", Window{40, 400, Linear}, false},
		{"40, 400, linear_exact", Window{40, 400, LinearExact}, false},
		{"40,0.5,linear", Window{}, true}, // LINEAR needs width >= 1
		{"40,0,sigmoid", Window{}, true},
		{"40,400,cubic", Window{}, true},
		{"40", Window{}, true},
		{"a,b,linear", Window{}, true},
		{"NaN,400", Window{}, true},
		{"40,Inf", Window{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseWindow(tc.in)
			if (err != nil) != tc.wantErr || (err == nil && got != tc.want) {
				t.Errorf("ParseWindow(%q) = %+v, %v", tc.in, got, err)
			}
		})
	}
}

func TestParseViewportAndFit(t *testing.T) {
	vp := []struct {
		in      string
		w, h    int
		wantErr bool
	}{
		{"512,512", 512, 512, false},
		{"256,", 256, 0, false},
		{",100", 0, 100, false},
		{",", 0, 0, true},
		{"0,10", 0, 0, true},
		{"100000,10", 0, 0, true},
		{"10,10,0,0,5,5", 0, 0, true},
		{"x,10", 0, 0, true},
	}
	for _, tc := range vp {
		w, h, err := ParseViewport(tc.in)
		if (err != nil) != tc.wantErr || w != tc.w || h != tc.h {
			t.Errorf("ParseViewport(%q) = %d, %d, %v", tc.in, w, h, err)
		}
	}
	fit := []struct {
		w, h     int
		opt      RenderOptions
		wantW, H int
	}{
		{512, 512, RenderOptions{}, 512, 512},
		{512, 512, RenderOptions{Width: 128, Height: 128}, 128, 128},
		{512, 256, RenderOptions{Width: 128, Height: 128}, 128, 64},
		{256, 512, RenderOptions{Width: 128, Height: 128}, 64, 128},
		{512, 256, RenderOptions{Width: 100}, 100, 50},
		{512, 256, RenderOptions{Height: 100}, 200, 100},
		{64, 64, RenderOptions{Width: 128, Height: 128}, 128, 128},
		{64, 64, RenderOptions{Width: 128, Height: 128, NoUpscale: true}, 64, 64},
		{3, 3000, RenderOptions{Width: 100, Height: 100}, 1, 100},
	}
	for _, tc := range fit {
		if w, h := fitSize(tc.w, tc.h, tc.opt); w != tc.wantW || h != tc.H {
			t.Errorf("fitSize(%d, %d, %+v) = %d×%d, want %d×%d", tc.w, tc.h, tc.opt, w, h, tc.wantW, tc.H)
		}
	}
}

// TestGolden renders scaled pictures and compares them with PNGs under
// testdata/ (go test -update rewrites them).
func TestGolden(t *testing.T) {
	cases := []struct {
		name, file string
		frame      int
		opt        RenderOptions
		thumb      bool
	}{
		{"ct_small_viewport_64x32", "CT_small.dcm", 0, RenderOptions{Width: 64, Height: 32, Window: &Window{40, 400, Linear}}, false},
		{"mr_small_upscaled_150", "MR_small.dcm", 0, RenderOptions{Width: 150}, false},
		{"ybr422_viewport_50", "SC_ybr_full_422_uncompressed.dcm", 0, RenderOptions{Width: 50, Height: 50}, false},
		{"rtdose_thumbnail", "rtdose.dcm", 7, RenderOptions{}, true},
		{"image_dfl_thumbnail", "image_dfl.dcm", 0, RenderOptions{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := loadPath(t, pixeltest.File(t, tc.file))
			ctx := context.Background()
			dec, err := DecodeFrame(ctx, l.img, l.frame(t, tc.frame), nil)
			if err != nil {
				t.Fatal(err)
			}
			var m image.Image
			if tc.thumb {
				m, err = Thumbnail(ctx, l.img, dec, tc.opt)
			} else {
				m, err = Render(ctx, l.img, dec, tc.opt)
			}
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tc.name+".png")
			if *update {
				var buf bytes.Buffer
				if err := Encode(&buf, m, MediaPNG, 0); err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			f, err := os.Open(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			defer f.Close()
			want, err := png.Decode(f)
			if err != nil {
				t.Fatal(err)
			}
			if m.Bounds() != want.Bounds() {
				t.Fatalf("bounds %v, golden %v", m.Bounds(), want.Bounds())
			}
			b := m.Bounds()
			for y := b.Min.Y; y < b.Max.Y; y++ {
				for x := b.Min.X; x < b.Max.X; x++ {
					r1, g1, b1, _ := m.At(x, y).RGBA()
					r2, g2, b2, _ := want.At(x, y).RGBA()
					if r1 != r2 || g1 != g2 || b1 != b2 {
						t.Fatalf("pixel (%d,%d) differs from the golden file", x, y)
					}
				}
			}
		})
	}
}

func TestThumbnailFrame(t *testing.T) {
	for _, tc := range []struct{ frames, want int }{{0, 0}, {1, 0}, {2, 0}, {3, 1}, {15, 7}, {200, 99}} {
		if got := ThumbnailFrame(&Image{NumberOfFrames: tc.frames}); got != tc.want {
			t.Errorf("ThumbnailFrame(%d frames) = %d, want %d", tc.frames, got, tc.want)
		}
	}
}

func TestDecodeNative(t *testing.T) {
	ctx := context.Background()
	t.Run("1-bit expands to 0/1 bytes", func(t *testing.T) {
		img := &Image{TransferSyntaxUID: part10.ExplicitVRLittleEndian, Rows: 2, Columns: 5, SamplesPerPixel: 1,
			BitsAllocated: 1, BitsStored: 1, HighBit: 0, Photometric: Monochrome2, NumberOfFrames: 1}
		got, err := DecodeFrame(ctx, img, []byte{0b10100101, 0b10}, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := []byte{1, 0, 1, 0, 0, 1, 0, 1, 0, 1}
		if !bytes.Equal(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
		if d := img.Decoded(); d.BitsAllocated != 1 || d.FrameSize != 2 {
			t.Errorf("Decoded() = %+v: native frames stay as stored", d)
		}
	})
	t.Run("planar 1 interleaves, HighBit moves down, sign extends", func(t *testing.T) {
		img := &Image{TransferSyntaxUID: part10.ExplicitVRLittleEndian, Rows: 1, Columns: 2, SamplesPerPixel: 3,
			BitsAllocated: 8, BitsStored: 8, HighBit: 7, Photometric: RGB, PlanarConfiguration: 1, NumberOfFrames: 1}
		got, err := DecodeFrame(ctx, img, []byte{1, 2, 3, 4, 5, 6}, make([]byte, 0, 64))
		if err != nil {
			t.Fatal(err)
		}
		if want := []byte{1, 3, 5, 2, 4, 6}; !bytes.Equal(got, want) {
			t.Errorf("planar: got %v, want %v", got, want)
		}
		img = &Image{TransferSyntaxUID: part10.ExplicitVRLittleEndian, Rows: 1, Columns: 2, SamplesPerPixel: 1,
			BitsAllocated: 16, BitsStored: 12, HighBit: 13, Signed: true, Photometric: Monochrome2, NumberOfFrames: 1}
		// 0xFFFC>>2 = 0x3FFF: 12 bits 0xFFF = -1; 0xC004: overlay bits set, 0x001 = 1.
		got, err = DecodeFrame(ctx, img, []byte{0xFC, 0xFF, 0x04, 0xC0}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := []byte{0xFF, 0xFF, 0x01, 0x00}; !bytes.Equal(got, want) {
			t.Errorf("high bit: got %x, want %x", got, want)
		}
	})
	t.Run("transcode of a native frame is the frame", func(t *testing.T) {
		l := loadPath(t, pixeltest.File(t, "MR_small.dcm"))
		raw := l.frame(t, 0)
		got, err := TranscodeFrame(ctx, l.img, raw, nil)
		if err != nil || !bytes.Equal(got, raw) {
			t.Errorf("TranscodeFrame changed a native frame (err %v)", err)
		}
	})
	t.Run("CanDecode", func(t *testing.T) {
		for uid, want := range map[string]bool{
			part10.ExplicitVRLittleEndian:                         true,
			part10.ImplicitVRLittleEndian:                         true,
			part10.ExplicitVRBigEndian:                            true,
			part10.DeflatedExplicitVRLittleEndian:                 true,
			part10.EncapsulatedUncompressedExplicitVRLittleEndian: true,
			"1.2.840.10008.1.2.5":                                 true,
			"1.2.840.10008.1.2.4.100":                             false, // MPEG2
			"1.2.840.10008.1.2.4.107":                             false, // HEVC
			"1.2.840.10008.1.2.4.94":                              false, // JPIP
			"1.2.3":                                               false,
		} {
			if got := CanDecode(uid); got != want {
				t.Errorf("CanDecode(%s) = %v, want %v", uid, got, want)
			}
		}
	})
	t.Run("video is unsupported", func(t *testing.T) {
		img := &Image{TransferSyntaxUID: "1.2.840.10008.1.2.4.102", Rows: 2, Columns: 2, SamplesPerPixel: 3,
			BitsAllocated: 8, BitsStored: 8, HighBit: 7, Photometric: RGB, NumberOfFrames: 1}
		if _, err := DecodeFrame(ctx, img, []byte{0, 0, 1, 0xB3}, nil); !errors.Is(err, codec.ErrUnsupported) {
			t.Errorf("got %v, want codec.ErrUnsupported", err)
		}
	})
}

func TestEncode(t *testing.T) {
	gray := image.NewGray(image.Rect(0, 0, 20, 10))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i)
	}
	rgba := image.NewRGBA(image.Rect(0, 0, 20, 10))
	for i := range rgba.Pix {
		rgba.Pix[i] = uint8(i)
	}
	for _, m := range []image.Image{gray, rgba} {
		for _, mt := range []string{MediaJPEG, MediaPNG, MediaGIF} {
			var buf bytes.Buffer
			if err := Encode(&buf, m, mt, 0); err != nil {
				t.Fatalf("%s: %v", mt, err)
			}
			var dec func(r *bytes.Buffer) (image.Image, error)
			switch mt {
			case MediaJPEG:
				dec = func(r *bytes.Buffer) (image.Image, error) { return jpeg.Decode(r) }
			case MediaPNG:
				dec = func(r *bytes.Buffer) (image.Image, error) { return png.Decode(r) }
			default:
				dec = func(r *bytes.Buffer) (image.Image, error) { return gif.Decode(r) }
			}
			got, err := dec(&buf)
			if err != nil || got.Bounds() != m.Bounds() {
				t.Errorf("%s %T: decoded %v, %v", mt, m, got, err)
			}
		}
	}
	if err := Encode(&bytes.Buffer{}, gray, "image/jp2", 0); !errors.Is(err, ErrMediaType) {
		t.Errorf("image/jp2: got %v, want ErrMediaType", err)
	}
	if err := Encode(&bytes.Buffer{}, gray, MediaJPEG, 101); err == nil {
		t.Error("quality 101 accepted")
	}
}

func TestSegmentedPalette(t *testing.T) {
	// discrete 0,10,20; linear to 50 in 3 steps (30,40,50); indirect: repeat
	// the first segment (0,10,20) from word offset 0.
	words := []uint16{0, 3, 0, 10, 20, 1, 3, 50, 2, 1, 0, 0}
	got, err := expandSegments(words, 9, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []uint16{0, 10, 20, 30, 40, 50, 0, 10, 20}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	for _, bad := range [][]uint16{
		{1, 3, 50},                        // linear without a previous value
		{0, 9, 1},                         // discrete past the data
		{0, 1, 5, 2, 1, 9, 0},             // indirect pointing forward
		{7, 1, 0},                         // unknown type
		{0, 1, 5, 2, 1, 0, 0, 2, 1, 3, 0}, // indirect to an indirect
	} {
		if _, err := expandSegments(bad, 100, 0); err == nil {
			t.Errorf("expandSegments(%v) accepted", bad)
		}
	}
}
