package jpeg

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	stdjpeg "image/jpeg"
	"os"
	"path/filepath"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/codec"
	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/internal/pixeltest"
)

// dcmdjpegRef decompresses a DICOM file with DCMTK (no colour conversion,
// colour by pixel) and returns the native result.
func dcmdjpegRef(t *testing.T, path string) pixeltest.Image {
	t.Helper()
	out := filepath.Join(t.TempDir(), "ref.dcm")
	pixeltest.Run(t, "dcmdjpeg", "+cn", "+px", path, out)
	return pixeltest.Load(t, out)
}

// checkFrames decodes every frame of df and compares with ref.
func checkFrames(t *testing.T, df, ref pixeltest.Image, tol int) {
	t.Helper()
	if len(df.Frames) != len(ref.Frames) {
		t.Fatalf("%d frames, reference has %d", len(df.Frames), len(ref.Frames))
	}
	for i, fr := range df.Frames {
		got, err := Decode(fr, df.Params, nil)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		want := pixeltest.NativeFrame(t, ref, i)
		if len(got) != len(want) {
			t.Fatalf("frame %d: got %d bytes, want %d", i, len(got), len(want))
		}
		if d := pixeltest.Compare(got, want, df.Params); d.Max > int64(tol) {
			t.Errorf("frame %d: max abs diff %d at sample %d, tolerance %d", i, d.Max, d.Worst, tol)
		} else {
			t.Logf("frame %d: max abs diff %d", i, d.Max)
		}
	}
}

// The DCT tolerance: libjpeg's integer IDCT and upsampling are reproduced
// exactly, so DCMTK's output is matched bit for bit; 1 would allow for an
// IDCT rounding difference.
const dctTolerance = 0

func TestDecodePydicomFiles(t *testing.T) {
	for _, tc := range []struct {
		file string
		tol  int
	}{
		{"JPEG-lossy.dcm", dctTolerance},
		{"JPGExtended.dcm", dctTolerance},
		{"SC_rgb_jpeg_dcmtk.dcm", dctTolerance},
		{"SC_rgb_jpeg_app14_dcmd.dcm", dctTolerance},
		{"SC_rgb_jpeg_lossy_gdcm.dcm", dctTolerance},
		{"SC_jpeg_no_color_transform.dcm", dctTolerance},
		{"SC_jpeg_no_color_transform_2.dcm", dctTolerance},
		{"SC_rgb_small_odd_jpeg.dcm", dctTolerance},
		{"SC_rgb_dcmtk_+eb+cr.dcm", dctTolerance},
		{"SC_rgb_dcmtk_+eb+cy+n1.dcm", dctTolerance},
		{"SC_rgb_dcmtk_+eb+cy+n2.dcm", dctTolerance},
		{"SC_rgb_dcmtk_+eb+cy+np.dcm", dctTolerance},
		{"SC_rgb_dcmtk_+eb+cy+s2.dcm", dctTolerance},
		{"SC_rgb_dcmtk_+eb+cy+s4.dcm", dctTolerance},
		{"SC_rgb_jpeg_gdcm.dcm", 0}, // lossless process 14, RGB
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(pixeltest.TestFiles(t), tc.file)
			df := pixeltest.Load(t, path)
			info, err := ReadInfo(df.Frames[0])
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %+v", df.TS.UID, info)
			checkFrames(t, df, dcmdjpegRef(t, path), tc.tol)
		})
	}
}

// TestDecodeGenerated compresses native files with dcmcjpeg and checks the
// decoder against dcmdjpeg's output and, for lossless, the original pixels.
func TestDecodeGenerated(t *testing.T) {
	type genCase struct {
		name string
		src  string
		rle  bool // src is RLE: dcmdrle it first
		args []string
		// exact: the encoding is lossless, compare with the original too.
		exact bool
		tol   int
	}
	cases := []genCase{
		{name: "CT_SV1", src: "CT_small.dcm", args: []string{"+e1"}, exact: true},
		{name: "MR_SV1", src: "MR_small.dcm", args: []string{"+e1"}, exact: true},
		{name: "RGB8_SV1", src: "SC_rgb_rle.dcm", rle: true, args: []string{"+e1"}, exact: true},
		{name: "RGB16_SV1", src: "SC_rgb_rle_16bit.dcm", rle: true, args: []string{"+e1"}, exact: true},
		{name: "RGB8_2frame_SV1", src: "SC_rgb_rle_2frame.dcm", rle: true, args: []string{"+e1"}, exact: true},
		{name: "CT_extended12", src: "CT_small.dcm", args: []string{"+ee", "+bt"}, tol: dctTolerance},
		{name: "MR_extended12", src: "MR_small.dcm", args: []string{"+ee", "+bt"}, tol: dctTolerance},
		{name: "RGB_baseline_422", src: "SC_rgb_rle.dcm", rle: true, args: []string{"+eb"}, tol: dctTolerance},
		{name: "RGB_baseline_411", src: "SC_rgb_rle.dcm", rle: true, args: []string{"+eb", "+n1"}, tol: dctTolerance},
		{name: "RGB_extended_444", src: "SC_rgb_rle.dcm", rle: true, args: []string{"+ee", "+s4"}, tol: dctTolerance},
		{name: "RGB_odd_422", src: "SC_rgb_small_odd.dcm", args: []string{"+eb"}, tol: dctTolerance},
		{name: "CT_SV1_pt2", src: "CT_small.dcm", args: []string{"+el", "+sv", "1", "+pt", "2"}},
	}
	for sv := 1; sv <= 7; sv++ {
		sel := string(rune('0' + sv))
		cases = append(cases,
			genCase{name: "CT_p14_sv" + sel, src: "CT_small.dcm", args: []string{"+el", "+sv", sel}, exact: true},
			genCase{name: "MR_p14_sv" + sel, src: "MR_small.dcm", args: []string{"+el", "+sv", sel}, exact: true},
			genCase{name: "RGB16_p14_sv" + sel, src: "SC_rgb_rle_16bit.dcm", rle: true, args: []string{"+el", "+sv", sel}, exact: true},
		)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			src := filepath.Join(pixeltest.TestFiles(t), tc.src)
			if tc.rle {
				native := filepath.Join(dir, "native.dcm")
				pixeltest.Run(t, "dcmdrle", src, native)
				src = native
			}
			enc := filepath.Join(dir, "enc.dcm")
			pixeltest.Run(t, "dcmcjpeg", append(append([]string{}, tc.args...), src, enc)...)
			df := pixeltest.Load(t, enc)
			info, err := ReadInfo(df.Frames[0])
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %+v", df.TS.UID, info)
			checkFrames(t, df, dcmdjpegRef(t, enc), tc.tol)
			if tc.exact {
				checkFrames(t, df, pixeltest.Load(t, src), 0)
			}
		})
	}
}

// TestDecode420 checks 4:2:0 (h2v2) streams, which dcmcjpeg does not
// write: Go's encoder makes one, img2dcm wraps it, dcmdjpeg decodes it.
func TestDecode420(t *testing.T) {
	for _, size := range [][2]int{{64, 48}, {37, 23}, {2, 2}, {17, 1}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			img := image.NewRGBA(image.Rect(0, 0, size[0], size[1]))
			for y := 0; y < size[1]; y++ {
				for x := 0; x < size[0]; x++ {
					img.Set(x, y, color.RGBA{uint8(x * 7), uint8(y * 5), uint8((x * y) ^ 0x55), 255})
				}
			}
			dir := t.TempDir()
			jp := filepath.Join(dir, "in.jpg")
			f, err := os.Create(jp)
			if err != nil {
				t.Fatal(err)
			}
			if err := stdjpeg.Encode(f, img, &stdjpeg.Options{Quality: 80}); err != nil {
				t.Fatal(err)
			}
			f.Close()
			dcm := filepath.Join(dir, "in.dcm")
			pixeltest.Run(t, "img2dcm", jp, dcm)
			df := pixeltest.Load(t, dcm)
			info, err := ReadInfo(df.Frames[0])
			if err != nil {
				t.Fatal(err)
			}
			if info.Sampling[0] != 0x22 {
				t.Fatalf("sampling %x, want 4:2:0", info.Sampling)
			}
			checkFrames(t, df, dcmdjpegRef(t, dcm), dctTolerance)
		})
	}
}

// TestDecodeErrors checks the error classes on bad input and mismatches.
func TestDecodeErrors(t *testing.T) {
	df := pixeltest.Load(t, filepath.Join(pixeltest.TestFiles(t), "SC_rgb_jpeg_gdcm.dcm"))
	lossy := pixeltest.Load(t, filepath.Join(pixeltest.TestFiles(t), "JPGExtended.dcm"))
	frame, p := df.Frames[0], df.Params
	with := func(f func(*codec.Params)) codec.Params {
		q := p
		f(&q)
		return q
	}
	for _, tc := range []struct {
		name string
		src  []byte
		p    codec.Params
		want error
	}{
		{"empty", nil, p, codec.ErrCorrupt},
		{"no SOI", frame[2:], p, codec.ErrCorrupt},
		{"truncated half", frame[:len(frame)/2], p, codec.ErrCorrupt},
		{"truncated headers", frame[:40], p, codec.ErrCorrupt},
		{"truncated DCT", lossy.Frames[0][:len(lossy.Frames[0])/2], lossy.Params, codec.ErrCorrupt},
		{"rows", frame, with(func(q *codec.Params) { q.Rows++ }), codec.ErrMismatch},
		{"columns", frame, with(func(q *codec.Params) { q.Columns = 1 }), codec.ErrMismatch},
		{"samples", frame, with(func(q *codec.Params) { q.Samples = 1 }), codec.ErrMismatch},
		{"lossless 12 in 8 bits", lossy.Frames[0], with(func(q *codec.Params) {
			*q = lossy.Params
			q.BitsAllocated, q.BitsStored = 8, 8
		}), codec.ErrMismatch},
		{"bits allocated", frame, with(func(q *codec.Params) { q.BitsAllocated = 12 }), codec.ErrMismatch},
		{"short stream for a huge frame", hugeSOF(t), codec.Params{Rows: 60000, Columns: 60000, Samples: 1, BitsAllocated: 16, BitsStored: 16}, codec.ErrCorrupt},
		{"progressive", progressiveFrame(t), codec.Params{Rows: 8, Columns: 8, Samples: 1, BitsAllocated: 8, BitsStored: 8}, codec.ErrUnsupported},
		{"arithmetic", []byte{0xFF, 0xD8, 0xFF, 0xC9, 0, 11, 8, 0, 8, 0, 8, 1, 1, 0x11, 0}, codec.Params{Rows: 8, Columns: 8, Samples: 1, BitsAllocated: 8, BitsStored: 8}, codec.ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.src, tc.p, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// hugeSOF is a small lossless stream whose SOF claims 60000×60000.
func hugeSOF(t *testing.T) []byte {
	src := losslessEncoder{w: 7, h: 5, prec: 16, psv: 1}.encode([][]uint16{make([]uint16, 35)})
	i := bytes.Index(src, []byte{0xFF, 0xC3})
	if i < 0 {
		t.Fatal("no SOF3")
	}
	src[i+5], src[i+6], src[i+7], src[i+8] = 0xEA, 0x60, 0xEA, 0x60
	return src
}

func progressiveFrame(t *testing.T) []byte {
	// SOI, SOF2 8x8 gray, SOS: enough for the decoder to refuse it.
	return []byte{0xFF, 0xD8, 0xFF, 0xC2, 0, 11, 8, 0, 8, 0, 8, 1, 1, 0x11, 0,
		0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 0, 0, 0xFF, 0xD9}
}
