// Package rle decodes DICOM RLE Lossless frames (transfer syntax
// 1.2.840.10008.1.2.5, PS3.5 Annex G) in pure Go.
//
// A frame is a 64-byte header (the number of segments, then 15 segment
// offsets, all uint32 little endian) followed by the segments. Each segment
// is one byte plane of one sample, PackBits encoded: for every sample, the
// most significant byte plane comes first. Decode writes the planes back
// into interleaved little endian samples (codec.go's output convention).
//
// Tolerated defects, since real encoders produce them: a segment that
// decodes to more than Rows×Columns bytes (encoders pad segments to an even
// length, and some emit a trailing run) is truncated; bytes left over at the
// end of a segment after the plane is full are ignored. Everything else —
// a segment count that does not match Samples×BitsAllocated/8, offsets
// outside the frame or not increasing, a segment that decodes to fewer
// bytes than the plane needs — is an error (codec.ErrMismatch or
// codec.ErrCorrupt).
package rle

import (
	"encoding/binary"
	"fmt"

	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/codec"
)

const headerSize = 64

// Decode decodes one RLE Lossless frame into the output convention of
// package codec. dst is used when cap(dst) >= p.FrameSize().
func Decode(src []byte, p codec.Params, dst []byte) ([]byte, error) {
	if err := checkParams(p); err != nil {
		return nil, err
	}
	bps := p.BitsAllocated / 8
	planeSize := p.Rows * p.Columns
	want := p.Samples * bps
	if len(src) < headerSize {
		return nil, fmt.Errorf("rle: decode: header of %d bytes: %w", len(src), codec.ErrCorrupt)
	}
	n := int(binary.LittleEndian.Uint32(src))
	if n < 1 || n > 15 {
		return nil, fmt.Errorf("rle: decode: %d segments: %w", n, codec.ErrCorrupt)
	}
	if n != want {
		return nil, fmt.Errorf("rle: decode: %d segments, want %d (%d samples of %d bits): %w",
			n, want, p.Samples, p.BitsAllocated, codec.ErrMismatch)
	}
	var offs [16]int
	for i := 0; i < n; i++ {
		o := binary.LittleEndian.Uint32(src[4+4*i:])
		if o < headerSize || int64(o) > int64(len(src)) {
			return nil, fmt.Errorf("rle: decode: segment %d at offset %d outside the frame of %d bytes: %w",
				i, o, len(src), codec.ErrCorrupt)
		}
		offs[i] = int(o)
		if i > 0 && offs[i] <= offs[i-1] {
			return nil, fmt.Errorf("rle: decode: segment %d at offset %d not after segment %d at %d: %w",
				i, o, i-1, offs[i-1], codec.ErrCorrupt)
		}
	}
	offs[n] = len(src)

	size := int(p.FrameSize())
	if cap(dst) >= size {
		dst = dst[:size]
	} else {
		dst = make([]byte, size)
	}
	stride := p.Samples * bps
	for seg := 0; seg < n; seg++ {
		sample, plane := seg/bps, seg%bps
		// Plane 0 is the most significant byte: last in little endian.
		start := sample*bps + (bps - 1 - plane)
		if err := unpackBits(src[offs[seg]:offs[seg+1]], dst, start, stride, planeSize); err != nil {
			return nil, fmt.Errorf("rle: decode: segment %d: %w", seg, err)
		}
	}
	codec.FixHighBits(dst, p)
	return dst, nil
}

// unpackBits decodes one PackBits segment into count bytes of dst, at
// dst[start], dst[start+stride], ... Output beyond count is dropped.
func unpackBits(seg, dst []byte, start, stride, count int) error {
	pos, got := start, 0
	i := 0
	for got < count {
		if i >= len(seg) {
			return fmt.Errorf("decoded %d of %d bytes: %w", got, count, codec.ErrCorrupt)
		}
		h := int(int8(seg[i]))
		i++
		switch {
		case h >= 0: // literal run of h+1 bytes
			k := h + 1
			if i+k > len(seg) {
				return fmt.Errorf("literal run of %d bytes past the segment end: %w", k, codec.ErrCorrupt)
			}
			k = min(k, count-got)
			if stride == 1 {
				copy(dst[pos:pos+k], seg[i:i+k])
				pos += k
			} else {
				for _, c := range seg[i : i+k] {
					dst[pos] = c
					pos += stride
				}
			}
			i += h + 1
			got += k
		case h != -128: // replicate the next byte 1-h times
			if i >= len(seg) {
				return fmt.Errorf("replicate run past the segment end: %w", codec.ErrCorrupt)
			}
			c := seg[i]
			i++
			k := min(1-h, count-got)
			if stride == 1 {
				b := dst[pos : pos+k]
				for j := range b {
					b[j] = c
				}
				pos += k
			} else {
				for range k {
					dst[pos] = c
					pos += stride
				}
			}
			got += k
		}
	}
	return nil
}

func checkParams(p codec.Params) error {
	if err := p.Check(); err != nil {
		return fmt.Errorf("rle: decode: %w", err)
	}
	return nil
}
