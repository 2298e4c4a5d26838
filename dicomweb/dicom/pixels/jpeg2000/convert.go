package jpeg2000

import (
	"fmt"

	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/codec"
)

func checkParams(p codec.Params) error {
	if err := p.Check(); err != nil {
		return fmt.Errorf("jpeg2000: decode: %w", err)
	}
	return nil
}

// convert writes component c (one int32 per pixel, of precision prec and
// signedness sgnd) into the interleaved output dst; see the package
// documentation for the rules.
func convert(dst []byte, data []int32, c int, p codec.Params, prec int, sgnd bool) {
	prec = min(max(prec, 1), 32)
	// Range of the stream's own samples.
	lo, hi := rangeOf(prec, sgnd)
	// e: the bits of the output value.
	e := p.BitsStored
	if prec > e {
		e = min(prec, p.BitsAllocated)
	}
	olo, ohi := rangeOf(e, p.Signed)
	pat := min(prec, p.BitsStored) // bit pattern width when signedness differs
	bps := p.BitsAllocated / 8
	stride := p.Samples * bps
	off := c * bps
	for _, raw := range data {
		v := min(max(int64(raw), lo), hi)
		if sgnd != p.Signed {
			v &= 1<<uint(pat) - 1
			if p.Signed && v >= 1<<uint(pat-1) {
				v -= 1 << uint(pat)
			}
		}
		v = min(max(v, olo), ohi)
		codec.WriteSample(dst[off:], bps, v)
		off += stride
	}
}

// rangeOf is the range of a bits-wide integer.
func rangeOf(bits int, signed bool) (lo, hi int64) {
	if signed {
		return -1 << uint(bits-1), 1<<uint(bits-1) - 1
	}
	return 0, 1<<uint(bits) - 1
}
