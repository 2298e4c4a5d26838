package part10

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// layoutVersion is the first byte of a marshalled Layout.
const layoutVersion = 1

// MarshalBinary encodes the layout compactly (varints, range offsets as
// deltas from the previous range's end) for the index.
func (l *Layout) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, 16+len(l.Frames)*6+len(l.Bulk)*24)
	b = append(b, layoutVersion)
	var flags byte
	if l.Deflated {
		flags |= 1
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(l.DeflatedAt))
	b = binary.AppendUvarint(b, uint64(l.Swap))
	b = binary.AppendUvarint(b, uint64(len(l.Frames)))
	var prev int64
	for _, f := range l.Frames {
		b = appendRanges(b, f.Ranges, &prev)
		b = append(b, f.BitOffset)
		b = binary.AppendUvarint(b, uint64(f.Bits))
	}
	b = binary.AppendUvarint(b, uint64(len(l.Bulk)))
	for _, bv := range l.Bulk {
		b = binary.AppendUvarint(b, uint64(len(bv.Path)))
		b = append(b, bv.Path...)
		b = binary.AppendUvarint(b, uint64(len(bv.VR)))
		b = append(b, bv.VR...)
		b = binary.AppendUvarint(b, uint64(bv.Swap))
		b = appendRanges(b, bv.Ranges, &prev)
	}
	return b, nil
}

func appendRanges(b []byte, rs []Range, prev *int64) []byte {
	b = binary.AppendUvarint(b, uint64(len(rs)))
	for _, r := range rs {
		b = binary.AppendVarint(b, r.Offset-*prev)
		b = binary.AppendUvarint(b, uint64(r.Length))
		*prev = r.Offset + r.Length
	}
	return b
}

var errLayout = errors.New("part10: bad layout encoding")

type layoutDecoder struct {
	b    []byte
	err  error
	prev int64
}

func (d *layoutDecoder) uvarint(max uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || v > max {
		d.err = errLayout
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *layoutDecoder) bytes(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errLayout
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

// count reads a length prefix that must fit in the bytes left (each
// entry takes at least min bytes).
func (d *layoutDecoder) count(min int) int {
	return int(d.uvarint(uint64(len(d.b) / min)))
}

func (d *layoutDecoder) ranges() []Range {
	n := d.count(2)
	if d.err != nil {
		return nil
	}
	rs := make([]Range, n)
	for i := range rs {
		if d.err != nil {
			return nil
		}
		delta, k := binary.Varint(d.b)
		if k <= 0 {
			d.err = errLayout
			return nil
		}
		d.b = d.b[k:]
		length := d.uvarint(math.MaxInt64)
		off := d.prev + delta
		if (delta > 0 && off < d.prev) || (delta < 0 && off > d.prev) || off < 0 || off > math.MaxInt64-int64(length) {
			d.err = errLayout
			return nil
		}
		rs[i] = Range{Offset: off, Length: int64(length)}
		d.prev = off + int64(length)
	}
	return rs
}

func validSwap(s uint64) bool { return s == 0 || s == 2 || s == 4 || s == 8 }

// UnmarshalBinary decodes a layout written by MarshalBinary. It rejects
// any malformed input with an error.
func (l *Layout) UnmarshalBinary(data []byte) error {
	d := &layoutDecoder{b: data}
	ver := d.bytes(2)
	if d.err != nil || ver[0] != layoutVersion || ver[1]&^1 != 0 {
		return fmt.Errorf("part10: layout: unknown version or flags: %w", errLayout)
	}
	out := Layout{Deflated: ver[1]&1 != 0}
	out.DeflatedAt = int64(d.uvarint(math.MaxInt64))
	swap := d.uvarint(8)
	if !validSwap(swap) {
		return fmt.Errorf("part10: layout: swap %d: %w", swap, errLayout)
	}
	out.Swap = int(swap)
	nf := d.count(3)
	if nf > 0 && d.err == nil {
		out.Frames = make([]Frame, nf)
	}
	for i := 0; i < nf && d.err == nil; i++ {
		f := Frame{Ranges: d.ranges()}
		if b := d.bytes(1); b != nil {
			f.BitOffset = b[0]
		}
		f.Bits = int64(d.uvarint(math.MaxInt64))
		if f.BitOffset > 7 {
			d.err = errLayout
		}
		out.Frames[i] = f
	}
	nb := d.count(4)
	if nb > 0 && d.err == nil {
		out.Bulk = make([]BulkValue, nb)
	}
	for i := 0; i < nb && d.err == nil; i++ {
		var bv BulkValue
		bv.Path = string(d.bytes(d.uvarint(uint64(len(d.b)))))
		bv.VR = string(d.bytes(d.uvarint(2)))
		sw := d.uvarint(8)
		if !validSwap(sw) {
			d.err = errLayout
		}
		bv.Swap = int(sw)
		bv.Ranges = d.ranges()
		out.Bulk[i] = bv
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = errLayout
	}
	if d.err != nil {
		return fmt.Errorf("part10: layout: %w", d.err)
	}
	*l = out
	return nil
}
