package pixeltest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/codec"
)

// ReferenceFrames returns the frames of the native reference file at path
// in the decoders' output convention (see NativeFrame).
func ReferenceFrames(t testing.TB, path string) (codec.Params, [][]byte) {
	t.Helper()
	img := Load(t, path)
	var out [][]byte
	for i := range img.Frames {
		out = append(out, NativeFrame(t, img, i))
	}
	return img.Params, out
}

// NativeFrame returns frame i of a native image in the decoders' output
// convention: interleaved, the bits above BitsStored cleared or, for signed
// samples, sign extended from BitsStored.
func NativeFrame(t testing.TB, img Image, i int) []byte {
	t.Helper()
	p := img.Params
	if img.TS.Encapsulated {
		t.Fatalf("reference is encapsulated (%s)", img.TS.UID)
	}
	fr := img.Frames[i]
	size := int(p.FrameSize())
	if len(fr) < size {
		t.Fatalf("native frame %d of %d bytes, want %d", i, len(fr), size)
	}
	fr = fr[:size]
	if p.PlanarConfiguration == 1 && p.Samples > 1 {
		fr = Interleave(fr, p)
	}
	return Normalize(fr, p)
}

// Interleave turns a planar frame (Planar Configuration 1) into an
// interleaved one.
func Interleave(planar []byte, p codec.Params) []byte {
	bps := p.BitsAllocated / 8
	n := p.Rows * p.Columns
	out := make([]byte, len(planar))
	for s := 0; s < p.Samples; s++ {
		for i := 0; i < n; i++ {
			copy(out[(i*p.Samples+s)*bps:][:bps], planar[(s*n+i)*bps:][:bps])
		}
	}
	return out
}

// Normalize returns a copy of b with the bits above BitsStored cleared or,
// for signed samples, sign extended from BitsStored.
func Normalize(b []byte, p codec.Params) []byte {
	out := bytes.Clone(b)
	bps := p.BitsAllocated / 8
	for i := 0; i+bps <= len(out); i += bps {
		codec.WriteSample(out[i:], bps, stored(out[i:], p))
	}
	return out
}

// stored reads the sample at b[0:] from its BitsStored low bits.
func stored(b []byte, p codec.Params) int64 {
	v := uint64(codec.ReadSample(b, p.BitsAllocated/8))
	v &= 1<<uint(p.BitsStored) - 1
	if p.Signed && v&(1<<uint(p.BitsStored-1)) != 0 {
		return int64(v) - 1<<uint(p.BitsStored)
	}
	return int64(v)
}

// Value reads the decoded sample at b[0:]: BitsAllocated wide, signed per
// Params.Signed, without masking to BitsStored.
func Value(b []byte, p codec.Params) int64 {
	u := codec.ReadSample(b, p.BitsAllocated/8)
	if !p.Signed {
		return int64(u)
	}
	switch p.BitsAllocated {
	case 8:
		return int64(int8(u))
	case 16:
		return int64(int16(u))
	default:
		return int64(int32(u))
	}
}

// Values reads every decoded sample of b (see Value).
func Values(b []byte, p codec.Params) []int64 {
	bps := p.BitsAllocated / 8
	out := make([]int64, 0, len(b)/bps)
	for i := 0; i+bps <= len(b); i += bps {
		out = append(out, Value(b[i:], p))
	}
	return out
}

// Diff is the outcome of Compare.
type Diff struct {
	// Max is the largest absolute sample difference.
	Max int64
	// First is the index of the first differing sample, Worst that of the
	// first sample differing by Max; both -1 when no sample differs.
	First, Worst int
}

// Compare compares two frames in the output convention sample by sample
// (see Value), over the samples both hold.
func Compare(got, want []byte, p codec.Params) Diff {
	d := Diff{First: -1, Worst: -1}
	bps := p.BitsAllocated / 8
	for i := 0; i+bps <= len(want) && i+bps <= len(got); i += bps {
		x := Value(got[i:], p) - Value(want[i:], p)
		if x < 0 {
			x = -x
		}
		if x > 0 && d.First < 0 {
			d.First = i / bps
		}
		if x > d.Max {
			d.Max, d.Worst = x, i/bps
		}
	}
	return d
}

// IsCodecError reports whether err wraps one of package codec's errors.
func IsCodecError(err error) bool {
	return errors.Is(err, codec.ErrCorrupt) || errors.Is(err, codec.ErrMismatch) || errors.Is(err, codec.ErrUnsupported)
}
