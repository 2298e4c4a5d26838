package jpegls

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/codec"
	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/internal/pixeltest"
)

// TestDecodeFiles decodes pydicom's JPEG-LS file and JPEG-LS files that
// DCMTK's dcmcjpls makes from native files (lossless in every interleave
// mode, and near-lossless), and compares them exactly with DCMTK's
// dcmdjpls output (DCMTK's own JPEG-LS code, not libcharls). Near-lossless
// frames are also compared with the original pixels: within NEAR.
func TestDecodeFiles(t *testing.T) {
	if !Available {
		t.Skip("built without cgo: JPEG-LS decoding unavailable")
	}
	tests := []struct {
		name string
		file string
		// enc: dcmcjpls options to compress the native file first (nil:
		// the file is JPEG-LS already).
		enc []string
		// near: maximum deviation from the original (near-lossless).
		near int64
		// unsigned: make the (signed) source unsigned first with dcmodify.
		unsigned bool
	}{
		{name: "pydicom MR 16-bit signed", file: "MR_small_jpeg_ls_lossless.dcm"},
		{name: "MR 16-bit signed", file: "MR_small.dcm", enc: []string{"+el"}},
		{name: "CT 16-bit signed", file: "CT_small.dcm", enc: []string{"+el"}},
		{name: "8-bit 512x512", file: "image_dfl.dcm", enc: []string{"+el"}},
		{name: "RGB line interleaved", file: "SC_rgb_jpeg_dcmd.dcm", enc: []string{"+el", "+il"}},
		{name: "RGB sample interleaved", file: "SC_rgb_jpeg_dcmd.dcm", enc: []string{"+el", "+is"}},
		{name: "RGB not interleaved", file: "SC_rgb_jpeg_dcmd.dcm", enc: []string{"+el", "+in"}},
		{name: "RGB big endian source", file: "ExplVR_BigEnd.dcm", enc: []string{"+el", "+iv"}},
		{name: "RGB 3x3 planar source", file: "SC_rgb_small_odd.dcm", enc: []string{"+el", "+in"}},
		{name: "CT as 16-bit unsigned", file: "CT_small.dcm", enc: []string{"+el"}, unsigned: true},
		{name: "near-lossless 16-bit unsigned NEAR=2", file: "CT_small.dcm", enc: []string{"+en", "+md", "2"}, near: 2, unsigned: true},
		{name: "near-lossless 8-bit NEAR=3", file: "image_dfl.dcm", enc: []string{"+en", "+md", "3"}, near: 3},
		{name: "near-lossless RGB NEAR=2", file: "SC_rgb_jpeg_dcmd.dcm", enc: []string{"+en", "+md", "2", "+in"}, near: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			orig := pixeltest.File(t, tt.file)
			if tt.unsigned {
				// dcmcjpls refuses signed data for near-lossless.
				u := filepath.Join(dir, "unsigned.dcm")
				data, err := os.ReadFile(orig)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(u, data, 0o644); err != nil {
					t.Fatal(err)
				}
				pixeltest.Run(t, "dcmodify", "-nb", "-m", "(0028,0103)=0", u)
				orig = u
			}
			src := orig
			if tt.enc != nil {
				src = filepath.Join(dir, "jls.dcm")
				pixeltest.Run(t, "dcmcjpls", append(append([]string{}, tt.enc...), orig, src)...)
			}
			ref := filepath.Join(dir, "ref.dcm")
			pixeltest.Run(t, "dcmdjpls", "+te", src, ref)
			img := pixeltest.Load(t, src)
			if !img.TS.Encapsulated {
				t.Fatalf("%s is not encapsulated", src)
			}
			_, want := pixeltest.ReferenceFrames(t, ref)
			var origFrames [][]byte
			if tt.near > 0 {
				_, origFrames = pixeltest.ReferenceFrames(t, orig)
			}
			if len(want) != len(img.Frames) || len(want) == 0 {
				t.Fatalf("%d frames, reference has %d", len(img.Frames), len(want))
			}
			for i, fr := range img.Frames {
				got, err := Decode(fr, img.Params, nil)
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if !bytes.Equal(got, want[i]) {
					d := pixeltest.Compare(got, want[i], img.Params)
					t.Fatalf("frame %d differs from dcmdjpls: max diff %d, first at sample %d", i, d.Max, d.First)
				}
				if tt.near > 0 {
					d := pixeltest.Compare(got, origFrames[i], img.Params).Max
					if d > tt.near {
						t.Fatalf("frame %d: max deviation from the original %d > NEAR %d", i, d, tt.near)
					}
					if d == 0 {
						t.Fatalf("frame %d: near-lossless frame is identical to the original", i)
					}
				}
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	if !Available {
		t.Skip("built without cgo: JPEG-LS decoding unavailable")
	}
	img := pixeltest.Load(t, pixeltest.File(t, "MR_small_jpeg_ls_lossless.dcm"))
	fr := img.Frames[0]
	with := func(f func(*codec.Params)) codec.Params { return pixeltest.With(img.Params, f) }
	pixeltest.CheckErrors(t, Decode, []pixeltest.ErrorCase{
		{Name: "rows differ", Src: fr, P: with(func(p *codec.Params) { p.Rows++ }), Err: codec.ErrMismatch},
		{Name: "columns differ", Src: fr, P: with(func(p *codec.Params) { p.Columns-- }), Err: codec.ErrMismatch},
		{Name: "samples differ", Src: fr, P: with(func(p *codec.Params) { p.Samples = 3 }), Err: codec.ErrMismatch},
		{Name: "16-bit stream, 8 bits allocated", Src: fr, P: with(func(p *codec.Params) { p.BitsAllocated, p.BitsStored = 8, 8 }), Err: codec.ErrMismatch},
		{Name: "32 bits allocated", Src: fr, P: with(func(p *codec.Params) { p.BitsAllocated = 32 }), Err: codec.ErrMismatch},
		{Name: "zero rows", Src: fr, P: with(func(p *codec.Params) { p.Rows = 0 }), Err: codec.ErrMismatch},
		{Name: "empty", Src: nil, P: img.Params, Err: codec.ErrCorrupt},
		{Name: "not JPEG-LS", Src: []byte("this is not a JPEG-LS stream at all"), P: img.Params, Err: codec.ErrCorrupt},
		{Name: "truncated header", Src: fr[:20], P: img.Params, Err: codec.ErrCorrupt},
		{Name: "truncated data", Src: fr[:len(fr)/2], P: img.Params, Err: codec.ErrCorrupt},
	})
}

func FuzzDecode(f *testing.F) {
	params := pixeltest.Seed(f, "MR_small_jpeg_ls_lossless.dcm")
	// A small RGB case, so that interleave conversion is fuzzed too.
	params = append(params, codec.Params{Rows: 3, Columns: 3, Samples: 3, BitsAllocated: 8, BitsStored: 8})
	pixeltest.Fuzz(f, Decode, params, Available)
}

// BenchmarkDecode decodes a 512×512 8-bit frame and pydicom's 64×64 MR
// frame (both lossless).
func BenchmarkDecode(b *testing.B) {
	if !Available {
		b.Skip("built without cgo")
	}
	cases := []struct{ name, file string }{
		{"MR_small_jpeg_ls_lossless", "MR_small_jpeg_ls_lossless.dcm"},
		{"image_dfl_512x512x8", "image_dfl.dcm"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			src := pixeltest.File(b, c.file)
			img := pixeltest.Load(b, src)
			if !img.TS.Encapsulated {
				enc := filepath.Join(b.TempDir(), "jls.dcm")
				pixeltest.Run(b, "dcmcjpls", src, enc)
				img = pixeltest.Load(b, enc)
			}
			pixeltest.Bench(b, Decode, img)
		})
	}
}
