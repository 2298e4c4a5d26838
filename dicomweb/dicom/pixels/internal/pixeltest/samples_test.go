package pixeltest

import (
	"bytes"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/codec"
)

func TestNormalizeInterleaveCompare(t *testing.T) {
	p := codec.Params{Rows: 1, Columns: 2, Samples: 2, BitsAllocated: 16, BitsStored: 12, Signed: true, PlanarConfiguration: 1}
	// Planar: sample 0 of both pixels, then sample 1; 0x0800 is -2048 in
	// 12 bits, 0xF7FF has garbage above bit 11 and is 2047.
	planar := []byte{0x00, 0x08, 0x01, 0x00, 0xFF, 0xF7, 0x02, 0x00}
	got := Normalize(Interleave(planar, p), p)
	want := []byte{0x00, 0xF8, 0xFF, 0x07, 0x01, 0x00, 0x02, 0x00}
	if !bytes.Equal(got, want) {
		t.Fatalf("got % x, want % x", got, want)
	}
	if v := Values(got, p); v[0] != -2048 || v[1] != 2047 {
		t.Fatalf("values %v", v)
	}
	other := bytes.Clone(want)
	codec.WriteSample(other[2:], 2, 2040) // 7 off at sample 1
	codec.WriteSample(other[6:], 2, 9)    // 7 off at sample 3
	if d := Compare(other, want, p); d != (Diff{Max: 7, First: 1, Worst: 1}) {
		t.Fatalf("Compare = %+v", d)
	}
	if d := Compare(want, want, p); d != (Diff{First: -1, Worst: -1}) {
		t.Fatalf("Compare of equal frames = %+v", d)
	}
}
