package jpegls

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/pixels/codec"
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
			orig := pydicomFile(t, tt.file)
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
				run(t, "dcmodify", "-nb", "-m", "(0028,0103)=0", u)
				orig = u
			}
			src := orig
			if tt.enc != nil {
				src = filepath.Join(dir, "jls.dcm")
				run(t, "dcmcjpls", append(append([]string{}, tt.enc...), orig, src)...)
			}
			ref := filepath.Join(dir, "ref.dcm")
			run(t, "dcmdjpls", "+te", src, ref)
			img := loadImage(t, src)
			if !img.ts.Encapsulated {
				t.Fatalf("%s is not encapsulated", src)
			}
			_, want := referenceFrames(t, ref)
			var origFrames [][]byte
			if tt.near > 0 {
				_, origFrames = referenceFrames(t, orig)
			}
			if len(want) != len(img.frames) || len(want) == 0 {
				t.Fatalf("%d frames, reference has %d", len(img.frames), len(want))
			}
			for i, fr := range img.frames {
				got, err := Decode(fr, img.p, nil)
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if !bytes.Equal(got, want[i]) {
					d, at := compare(got, want[i], img.p)
					t.Fatalf("frame %d differs from dcmdjpls: max diff %d, first at sample %d", i, d, at)
				}
				if tt.near > 0 {
					d, _ := compare(got, origFrames[i], img.p)
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
	img := loadImage(t, pydicomFile(t, "MR_small_jpeg_ls_lossless.dcm"))
	fr := img.frames[0]
	with := func(f func(*codec.Params)) codec.Params {
		p := img.p
		f(&p)
		return p
	}
	tests := []struct {
		name string
		src  []byte
		p    codec.Params
		err  error
	}{
		{name: "rows differ", src: fr, p: with(func(p *codec.Params) { p.Rows++ }), err: codec.ErrMismatch},
		{name: "columns differ", src: fr, p: with(func(p *codec.Params) { p.Columns-- }), err: codec.ErrMismatch},
		{name: "samples differ", src: fr, p: with(func(p *codec.Params) { p.Samples = 3 }), err: codec.ErrMismatch},
		{name: "16-bit stream, 8 bits allocated", src: fr, p: with(func(p *codec.Params) { p.BitsAllocated, p.BitsStored = 8, 8 }), err: codec.ErrMismatch},
		{name: "32 bits allocated", src: fr, p: with(func(p *codec.Params) { p.BitsAllocated = 32 }), err: codec.ErrMismatch},
		{name: "zero rows", src: fr, p: with(func(p *codec.Params) { p.Rows = 0 }), err: codec.ErrMismatch},
		{name: "empty", src: nil, p: img.p, err: codec.ErrCorrupt},
		{name: "not JPEG-LS", src: []byte("this is not a JPEG-LS stream at all"), p: img.p, err: codec.ErrCorrupt},
		{name: "truncated header", src: fr[:20], p: img.p, err: codec.ErrCorrupt},
		{name: "truncated data", src: fr[:len(fr)/2], p: img.p, err: codec.ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.src, tt.p, nil)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	var params []codec.Params
	for _, name := range []string{"MR_small_jpeg_ls_lossless.dcm"} {
		img := loadImage(f, pydicomFile(f, name))
		params = append(params, img.p)
		f.Add(uint8(0), img.frames[0])
	}
	// A small RGB case, so that interleave conversion is fuzzed too.
	params = append(params, codec.Params{Rows: 3, Columns: 3, Samples: 3, BitsAllocated: 8, BitsStored: 8})
	f.Fuzz(func(t *testing.T, which uint8, src []byte) {
		p := params[int(which)%len(params)]
		got, err := Decode(src, p, nil)
		if err != nil {
			if Available && !isCodecError(err) {
				t.Fatalf("error %v wraps no codec error", err)
			}
			return
		}
		if len(got) != int(p.FrameSize()) {
			t.Fatalf("%d bytes, want %d", len(got), p.FrameSize())
		}
	})
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
			src := pydicomFile(b, c.file)
			img := loadImage(b, src)
			if !img.ts.Encapsulated {
				enc := filepath.Join(b.TempDir(), "jls.dcm")
				run(b, "dcmcjpls", src, enc)
				img = loadImage(b, enc)
			}
			dst := make([]byte, img.p.FrameSize())
			b.SetBytes(img.p.FrameSize())
			for b.Loop() {
				if _, err := Decode(img.frames[0], img.p, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
