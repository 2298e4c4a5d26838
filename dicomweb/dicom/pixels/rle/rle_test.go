package rle

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/codec"
	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/internal/pixeltest"
)

// TestDecodeFiles decodes every RLE file of the pydicom set (written by
// GDCM) and RLE files that DCMTK's dcmcrle makes from native files, and
// compares them exactly with DCMTK's dcmdrle output.
func TestDecodeFiles(t *testing.T) {
	tests := []struct {
		name string
		file string // pydicom test file
		// native: compress this native file with dcmcrle first.
		native bool
	}{
		{name: "MR 16-bit signed", file: "MR_small_RLE.dcm"},
		{name: "RGB 8-bit", file: "SC_rgb_rle.dcm"},
		{name: "RGB 8-bit 2 frames", file: "SC_rgb_rle_2frame.dcm"},
		{name: "RGB 16-bit", file: "SC_rgb_rle_16bit.dcm"},
		{name: "RGB 16-bit 2 frames", file: "SC_rgb_rle_16bit_2frame.dcm"},
		{name: "RGB 32-bit", file: "SC_rgb_rle_32bit.dcm"},
		{name: "RGB 32-bit 2 frames", file: "SC_rgb_rle_32bit_2frame.dcm"},
		{name: "RT dose 32-bit 15 frames", file: "rtdose_rle.dcm"},
		{name: "RT dose 32-bit 1 frame", file: "rtdose_rle_1frame.dcm"},
		{name: "dcmcrle CT 16-bit signed", file: "CT_small.dcm", native: true},
		{name: "dcmcrle 8-bit 512x512 deflated source", file: "image_dfl.dcm", native: true},
		{name: "dcmcrle RGB 8-bit", file: "SC_rgb_jpeg_dcmd.dcm", native: true},
		{name: "dcmcrle RGB big endian source", file: "ExplVR_BigEnd.dcm", native: true},
		{name: "dcmcrle RGB 3x3 odd planar source", file: "SC_rgb_small_odd.dcm", native: true},
		{name: "dcmcrle 32-bit 15 frames", file: "rtdose.dcm", native: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			src := pixeltest.File(t, tt.file)
			if tt.native {
				enc := filepath.Join(dir, "rle.dcm")
				pixeltest.Run(t, "dcmcrle", src, enc)
				src = enc
			}
			ref := filepath.Join(dir, "ref.dcm")
			pixeltest.Run(t, "dcmdrle", "+te", src, ref)
			img := pixeltest.Load(t, src)
			if img.TS.UID != "1.2.840.10008.1.2.5" {
				t.Fatalf("transfer syntax %s, want RLE Lossless", img.TS.UID)
			}
			rp, want := pixeltest.ReferenceFrames(t, ref)
			if len(want) != len(img.Frames) || len(want) == 0 {
				t.Fatalf("%d frames, reference has %d", len(img.Frames), len(want))
			}
			if rp.BitsAllocated != img.Params.BitsAllocated || rp.Samples != img.Params.Samples {
				t.Fatalf("reference params %+v, file %+v", rp, img.Params)
			}
			for i, fr := range img.Frames {
				got, err := Decode(fr, img.Params, nil)
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if len(got) != int(img.Params.FrameSize()) {
					t.Fatalf("frame %d: %d bytes, want %d", i, len(got), img.Params.FrameSize())
				}
				if !bytes.Equal(got, want[i]) {
					d := pixeltest.Compare(got, want[i], img.Params)
					t.Fatalf("frame %d differs from dcmdrle: max diff %d, first at sample %d", i, d.Max, d.First)
				}
			}
		})
	}
}

// frame builds an RLE frame from raw segments.
func frame(segs ...[]byte) []byte {
	h := make([]byte, headerSize)
	binary.LittleEndian.PutUint32(h, uint32(len(segs)))
	off := headerSize
	for i, s := range segs {
		binary.LittleEndian.PutUint32(h[4+4*i:], uint32(off))
		off += len(s)
	}
	for _, s := range segs {
		h = append(h, s...)
	}
	return h
}

func TestDecodeSynthetic(t *testing.T) {
	p8 := codec.Params{Rows: 2, Columns: 2, Samples: 1, BitsAllocated: 8, BitsStored: 8}
	p16 := codec.Params{Rows: 1, Columns: 2, Samples: 1, BitsAllocated: 16, BitsStored: 12, Signed: true}
	p16u := p16
	p16u.Signed = false
	rgb := codec.Params{Rows: 1, Columns: 2, Samples: 3, BitsAllocated: 8, BitsStored: 8}
	bad := func(f []byte, off int, v uint32) []byte {
		f = bytes.Clone(f)
		binary.LittleEndian.PutUint32(f[off:], v)
		return f
	}
	ok4 := frame([]byte{3, 1, 2, 3, 4})
	tests := []struct {
		name string
		src  []byte
		p    codec.Params
		want []byte
		err  error
	}{
		{name: "literal", src: ok4, p: p8, want: []byte{1, 2, 3, 4}},
		{name: "replicate", src: frame([]byte{0xFD, 9}), p: p8, want: []byte{9, 9, 9, 9}},
		{name: "no-op header -128 skipped", src: frame([]byte{0x80, 0xFF, 7, 1, 8}), p: p8, want: []byte{7, 7, 8, 0}, err: codec.ErrCorrupt},
		{name: "no-op then runs", src: frame([]byte{0x80, 0xFF, 7, 1, 8, 9}), p: p8, want: []byte{7, 7, 8, 9}},
		{name: "padded segment truncated", src: frame([]byte{0xF9, 5, 0}), p: p8, want: []byte{5, 5, 5, 5}},
		{name: "literal beyond plane truncated", src: frame([]byte{5, 1, 2, 3, 4, 5, 6}), p: p8, want: []byte{1, 2, 3, 4}},
		{name: "16-bit signed, MSB plane first, sign extended from 12 bits",
			src: frame([]byte{1, 0x0F, 0x00}, []byte{1, 0xFF, 0x05}), p: p16, want: []byte{0xFF, 0xFF, 0x05, 0x00}},
		{name: "16-bit unsigned, bits above 12 cleared",
			src: frame([]byte{1, 0xFF, 0x00}, []byte{1, 0xFF, 0x05}), p: p16u, want: []byte{0xFF, 0x0F, 0x05, 0x00}},
		{name: "RGB interleaved", src: frame([]byte{1, 1, 2}, []byte{1, 3, 4}, []byte{1, 5, 6}), p: rgb, want: []byte{1, 3, 5, 2, 4, 6}},
		{name: "short header", src: ok4[:63], p: p8, err: codec.ErrCorrupt},
		{name: "zero segments", src: bad(ok4, 0, 0), p: p8, err: codec.ErrCorrupt},
		{name: "16 segments", src: bad(ok4, 0, 16), p: p8, err: codec.ErrCorrupt},
		{name: "too many segments", src: frame([]byte{3, 1, 2, 3, 4}, []byte{3, 1, 2, 3, 4}), p: p8, err: codec.ErrMismatch},
		{name: "too few segments", src: frame([]byte{1, 0x0F, 0x00}), p: p16, err: codec.ErrMismatch},
		{name: "offset past the end", src: bad(ok4, 4, 1000), p: p8, err: codec.ErrCorrupt},
		{name: "offset inside the header", src: bad(ok4, 4, 12), p: p8, err: codec.ErrCorrupt},
		{name: "offsets not increasing", src: bad(frame([]byte{1, 1, 2}, []byte{1, 3, 4}, []byte{1, 5, 6}), 12, 64), p: rgb, err: codec.ErrCorrupt},
		{name: "short segment", src: frame([]byte{1, 1, 2}), p: p8, err: codec.ErrCorrupt},
		{name: "literal past segment end", src: frame([]byte{5, 1, 2}), p: p8, err: codec.ErrCorrupt},
		{name: "replicate without value", src: frame([]byte{2, 1, 2, 3, 0xFF}), p: p8, err: codec.ErrCorrupt},
		{name: "empty segment", src: frame([]byte{}), p: p8, err: codec.ErrCorrupt},
		{name: "bad params", src: ok4, p: codec.Params{Rows: 2, Columns: 2, Samples: 1, BitsAllocated: 12, BitsStored: 12}, err: codec.ErrUnsupported},
		{name: "bits stored > allocated", src: ok4, p: codec.Params{Rows: 2, Columns: 2, Samples: 1, BitsAllocated: 8, BitsStored: 9}, err: codec.ErrMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.src, tt.p, nil)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("error %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDecodeReusesDst(t *testing.T) {
	p := codec.Params{Rows: 2, Columns: 2, Samples: 1, BitsAllocated: 8, BitsStored: 8}
	dst := make([]byte, 0, 16)
	got, err := Decode(frame([]byte{3, 1, 2, 3, 4}), p, dst)
	if err != nil {
		t.Fatal(err)
	}
	if &got[0] != &dst[:1][0] {
		t.Fatal("dst with enough capacity was not used")
	}
}

func FuzzDecode(f *testing.F) {
	params := pixeltest.Seed(f, "MR_small_RLE.dcm", "SC_rgb_rle_16bit.dcm", "rtdose_rle_1frame.dcm")
	f.Add(uint8(0), frame([]byte{0x80, 0xFF, 7, 1, 8, 9}))
	pixeltest.Fuzz(f, Decode, params, true)
}

func BenchmarkDecode(b *testing.B) {
	for _, name := range []string{"MR_small_RLE.dcm", "SC_rgb_rle_16bit.dcm"} {
		b.Run(name, func(b *testing.B) {
			pixeltest.Bench(b, Decode, pixeltest.Load(b, pixeltest.File(b, name)))
		})
	}
}
