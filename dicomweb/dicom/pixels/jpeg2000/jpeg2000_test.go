package jpeg2000

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/codec"
	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/internal/pixeltest"
)

// rawPlanes reads a planar little endian raw file written by
// grk_decompress/opj_decompress (.rawl) and interleaves it.
func rawPlanes(t *testing.T, path string, p codec.Params, signed bool) []int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := p.Rows * p.Columns
	bps := len(b) / (n * p.Samples)
	if bps != 1 && bps != 2 || len(b) != n*p.Samples*bps {
		t.Fatalf("%s: %d bytes for %d samples", path, len(b), n*p.Samples)
	}
	out := make([]int64, n*p.Samples)
	for s := 0; s < p.Samples; s++ {
		for i := 0; i < n; i++ {
			k := (s*n + i) * bps
			var v int64
			if bps == 1 {
				v = int64(b[k])
				if signed {
					v = int64(int8(b[k]))
				}
			} else {
				u := binary.LittleEndian.Uint16(b[k:])
				v = int64(u)
				if signed {
					v = int64(int16(u))
				}
			}
			out[i*p.Samples+s] = v
		}
	}
	return out
}

func diff(got, want []int64) (maxDiff int64, first int, psnrSum float64) {
	first = -1
	for i := range want {
		d := got[i] - want[i]
		if d < 0 {
			d = -d
		}
		if d > 0 && first < 0 {
			first = i
		}
		maxDiff = max(maxDiff, d)
		psnrSum += float64(d * d)
	}
	return maxDiff, first, psnrSum
}

func decodeAll(t *testing.T, img pixeltest.Image) [][]int64 {
	t.Helper()
	var out [][]int64
	for i, fr := range img.Frames {
		got, err := Decode(fr, img.Params, nil)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if len(got) != int(img.Params.FrameSize()) {
			t.Fatalf("frame %d: %d bytes", i, len(got))
		}
		out = append(out, pixeltest.Values(got, img.Params))
	}
	return out
}

// TestDecodeLosslessFile compares pydicom's lossless JPEG 2000 MR with the
// native original it was made from.
func TestDecodeLosslessFile(t *testing.T) {
	if !Available {
		t.Skip("built without cgo: JPEG 2000 decoding unavailable")
	}
	img := pixeltest.Load(t, pixeltest.File(t, "MR_small_jp2klossless.dcm"))
	_, ref := pixeltest.ReferenceFrames(t, pixeltest.File(t, "MR_small.dcm"))
	got := decodeAll(t, img)
	if d, at, _ := diff(got[0], pixeltest.Values(ref[0], img.Params)); d != 0 {
		t.Fatalf("differs from MR_small.dcm: max diff %d at %d", d, at)
	}
}

// TestDecodeGenerated compresses native frames with opj_compress (raw
// input, lossless and lossy, J2K and JP2) and compares the decoded frame
// with the original pixels: exactly, or for lossy streams within a stated
// maximum error and minimum PSNR.
func TestDecodeGenerated(t *testing.T) {
	if !Available {
		t.Skip("built without cgo: JPEG 2000 decoding unavailable")
	}
	tests := []struct {
		name, file string
		ext        string   // j2k or jp2
		opts       []string // opj_compress options
		maxErr     int64    // 0: lossless
		minPSNR    float64
	}{
		{name: "CT 16-bit signed lossless", file: "CT_small.dcm", ext: "j2k"},
		{name: "CT 16-bit signed lossless JP2", file: "CT_small.dcm", ext: "jp2"},
		{name: "8-bit 512x512 lossless", file: "image_dfl.dcm", ext: "j2k"},
		{name: "RGB lossless with RCT", file: "SC_rgb_jpeg_dcmd.dcm", ext: "j2k", opts: []string{"-mct", "1"}},
		{name: "RGB lossless JP2 no MCT", file: "SC_rgb_jpeg_dcmd.dcm", ext: "jp2", opts: []string{"-mct", "0"}},
		{name: "RGB 3x3 lossless", file: "SC_rgb_small_odd.dcm", ext: "j2k", opts: []string{"-n", "1"}},
		{name: "CT lossy 9/7 10:1", file: "CT_small.dcm", ext: "j2k", opts: []string{"-I", "-r", "10"}, maxErr: 100, minPSNR: 60},
		{name: "8-bit lossy 9/7 20:1", file: "image_dfl.dcm", ext: "j2k", opts: []string{"-I", "-r", "20"}, maxErr: 20, minPSNR: 40},
		{name: "RGB lossy ICT 10:1", file: "SC_rgb_jpeg_dcmd.dcm", ext: "j2k", opts: []string{"-I", "-r", "10", "-mct", "1"}, maxErr: 8, minPSNR: 55},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			rp, frames := pixeltest.ReferenceFrames(t, pixeltest.File(t, tt.file))
			// opj_compress reads planar raw samples.
			n := rp.Rows * rp.Columns
			bps := rp.BitsAllocated / 8
			raw := make([]byte, 0, len(frames[0]))
			for s := 0; s < rp.Samples; s++ {
				for i := 0; i < n; i++ {
					raw = append(raw, frames[0][(i*rp.Samples+s)*bps:][:bps]...)
				}
			}
			in := filepath.Join(dir, "in.rawl")
			if err := os.WriteFile(in, raw, 0o644); err != nil {
				t.Fatal(err)
			}
			sign := "u"
			if rp.Signed {
				sign = "s"
			}
			var comps string
			for s := 0; s < rp.Samples; s++ {
				if s > 0 {
					comps += ":"
				}
				comps += "1x1"
			}
			out := filepath.Join(dir, "out."+tt.ext)
			args := append([]string{"-i", in, "-o", out, "-F",
				fmt.Sprintf("%d,%d,%d,%d,%s@%s", rp.Columns, rp.Rows, rp.Samples, rp.BitsStored, sign, comps)}, tt.opts...)
			pixeltest.Run(t, "opj_compress", args...)
			src, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(src, rp, nil)
			if err != nil {
				t.Fatal(err)
			}
			d, at, sq := diff(pixeltest.Values(got, rp), pixeltest.Values(frames[0], rp))
			if tt.maxErr == 0 {
				if d != 0 {
					t.Fatalf("lossless: max diff %d, first at %d", d, at)
				}
				return
			}
			peak := float64(int64(1)<<uint(rp.BitsStored) - 1)
			psnr := 10 * math.Log10(peak*peak/(sq/float64(n*rp.Samples)))
			t.Logf("lossy: max error %d, PSNR %.1f dB", d, psnr)
			if d == 0 || d > tt.maxErr || psnr < tt.minPSNR {
				t.Fatalf("lossy: max error %d (allowed 1..%d), PSNR %.1f dB (want >= %.0f)", d, tt.maxErr, psnr, tt.minPSNR)
			}
		})
	}
}

// TestDecodeReferenceDecoder decodes pydicom's JPEG 2000 files that have no
// native original and compares them with Grok (grk_decompress), an
// independent JPEG 2000 decoder: exactly for lossless streams, within ±1
// for the irreversible 9/7 stream (the two round differently).
// GDCMJ2K_TextGBR's stream has a wrong tile-part count that Grok refuses,
// so it is compared with opj_decompress (same library: a consistency check
// of the binding only).
func TestDecodeReferenceDecoder(t *testing.T) {
	if !Available {
		t.Skip("built without cgo: JPEG 2000 decoding unavailable")
	}
	tests := []struct {
		file, tool string
		jp2        bool
		tolerance  int64
		// fix turns the reference decoder's raw value into the expected one.
		fix func(v int64) int64
	}{
		{file: "JPEG2000.dcm", tool: "grk_decompress", tolerance: 1},
		{file: "693_J2KI.dcm", tool: "grk_decompress"},
		{file: "SC_rgb_gdcm_KY.dcm", tool: "grk_decompress"},
		{file: "GDCMJ2K_TextGBR.dcm", tool: "opj_decompress", jp2: true},
		// Unsigned 13-bit stream in signed data: the 13-bit pattern is
		// two's complement.
		{file: "J2K_pixelrep_mismatch.dcm", tool: "grk_decompress", fix: func(v int64) int64 {
			if v >= 1<<12 {
				return v - 1<<13
			}
			return v
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			img := pixeltest.Load(t, pixeltest.File(t, tt.file))
			dir := t.TempDir()
			in := filepath.Join(dir, "in.j2k")
			if tt.jp2 {
				in = filepath.Join(dir, "in.jp2")
			}
			if err := os.WriteFile(in, img.Frames[0], 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "out.rawl")
			pixeltest.Run(t, tt.tool, "-i", in, "-o", out)
			want := rawPlanes(t, out, img.Params, img.Params.Signed && tt.fix == nil)
			if tt.fix != nil {
				for i := range want {
					want[i] = tt.fix(want[i])
				}
			}
			got := decodeAll(t, img)[0]
			d, at, _ := diff(got, want)
			if d > tt.tolerance {
				t.Fatalf("differs from %s: max diff %d (allowed %d), first at %d: got %d want %d",
					tt.tool, d, tt.tolerance, at, got[at], want[at])
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	if !Available {
		t.Skip("built without cgo: JPEG 2000 decoding unavailable")
	}
	img := pixeltest.Load(t, pixeltest.File(t, "MR_small_jp2klossless.dcm"))
	fr := img.Frames[0]
	with := func(f func(*codec.Params)) codec.Params { return pixeltest.With(img.Params, f) }
	delim := pixeltest.Load(t, pixeltest.File(t, "JPEG2000-embedded-sequence-delimiter.dcm"))
	pixeltest.CheckErrors(t, Decode, []pixeltest.ErrorCase{
		{Name: "embedded sequence delimiter (SIZ width garbled)", Src: delim.Frames[0], P: delim.Params, Err: codec.ErrMismatch},
		{Name: "rows differ", Src: fr, P: with(func(p *codec.Params) { p.Rows = 65 }), Err: codec.ErrMismatch},
		{Name: "columns differ", Src: fr, P: with(func(p *codec.Params) { p.Columns = 32 }), Err: codec.ErrMismatch},
		{Name: "samples differ", Src: fr, P: with(func(p *codec.Params) { p.Samples = 3 }), Err: codec.ErrMismatch},
		{Name: "16-bit stream, 8 bits allocated", Src: fr, P: with(func(p *codec.Params) { p.BitsAllocated, p.BitsStored = 8, 8 }), Err: codec.ErrMismatch},
		{Name: "12 bits allocated", Src: fr, P: with(func(p *codec.Params) { p.BitsAllocated = 12 }), Err: codec.ErrUnsupported},
		{Name: "empty", Src: nil, P: img.Params, Err: codec.ErrCorrupt},
		{Name: "not JPEG 2000", Src: []byte("this is not a JPEG 2000 codestream"), P: img.Params, Err: codec.ErrCorrupt},
		{Name: "truncated header", Src: fr[:30], P: img.Params, Err: codec.ErrCorrupt},
		{Name: "JP2 signature only", Src: append([]byte{0, 0, 0, 0x0C, 'j', 'P', ' ', ' ', 0x0D, 0x0A, 0x87, 0x0A}, 0, 0, 0, 0), P: img.Params, Err: codec.ErrCorrupt},
	})
}

func FuzzDecode(f *testing.F) {
	params := pixeltest.Seed(f, "MR_small_jp2klossless.dcm", "SC_rgb_gdcm_KY.dcm", "GDCMJ2K_TextGBR.dcm")
	pixeltest.Fuzz(f, Decode, params, Available)
}

// BenchmarkDecode decodes JPEG2000.dcm (256×1024 16-bit, lossy) and 693_J2KI
// (512×512 16-bit, reversible).
func BenchmarkDecode(b *testing.B) {
	if !Available {
		b.Skip("built without cgo")
	}
	for _, name := range []string{"JPEG2000.dcm", "693_J2KI.dcm"} {
		b.Run(name, func(b *testing.B) {
			pixeltest.Bench(b, Decode, pixeltest.Load(b, pixeltest.File(b, name)))
		})
	}
}
