package part10

import (
	"bytes"
	"encoding/binary"
	"math/bits"
)

// layout works out where the frames of the top level pixel data are.
func (p *parser) layout(f *File) error {
	el := p.pixel
	if el == nil {
		return nil
	}
	ds := f.DataSet
	frames := int64(1)
	if e := ds.Find(TagNumberOfFrames); e != nil {
		v, err := e.Ints()
		if err != nil {
			return malformed("NumberOfFrames %.16q is not an integer", e.Value)
		}
		if len(v) > 0 {
			frames = v[0]
		}
	}
	if frames < 0 || frames > int64(p.lim.MaxFrames) {
		return malformed("NumberOfFrames %d out of range", frames)
	}
	if el.Length == UndefinedLength {
		return p.encapsulatedLayout(f, el, int(frames))
	}
	return p.nativeLayout(f, el, frames)
}

// nativeLayout maps frames of native (uncompressed) pixel data.
func (p *parser) nativeLayout(f *File, el *Element, frames int64) error {
	ds := f.DataSet
	rows, ok1 := ds.Int(TagRows)
	cols, ok2 := ds.Int(TagColumns)
	alloc, ok3 := ds.Int(TagBitsAllocated)
	if !ok1 || !ok2 || !ok3 {
		return nil // not an image: the value stays a bulk value
	}
	spp := int64(1)
	if v, ok := ds.Int(TagSamplesPerPixel); ok {
		spp = v
	}
	if rows <= 0 || cols <= 0 || spp <= 0 || alloc <= 0 || rows > 0xFFFF || cols > 0xFFFF || spp > 0xFFFF || alloc > 64 {
		return malformed("bad image size %d×%d×%d×%d bits", rows, cols, spp, alloc)
	}
	if alloc != 1 && alloc%8 != 0 {
		return malformed("BitsAllocated %d is neither 1 nor a multiple of 8", alloc)
	}
	// rows, cols, spp < 2^16 and alloc <= 64: the product fits in 2^54.
	frameBits := uint64(rows) * uint64(cols) * uint64(spp) * uint64(alloc)
	switch pi := ds.String(TagPhotometricInterpretation); {
	case spp == 3 && (pi == "YBR_FULL_422" || pi == "YBR_PARTIAL_422"):
		// Native 4:2:2 (PS3.3 C.7.6.3.1.2): two pixels share one Cb and
		// one Cr sample, so a pixel takes two samples.
		frameBits = frameBits / 3 * 2
	}
	hi, totalBits := bits.Mul64(frameBits, uint64(frames))
	if hi != 0 || totalBits > uint64(el.Length)*8 {
		return malformed("pixel data of %d bytes is shorter than %d frames of %d×%d×%d×%d bits",
			el.Length, frames, rows, cols, spp, alloc)
	}
	lay := &f.Layout
	if f.TransferSyntax.BigEndian {
		switch el.VR {
		case "OW":
			lay.Swap = 2
			if alloc > 16 {
				lay.Swap = int(alloc / 8)
			}
		case "OF":
			lay.Swap = 4
		case "OD":
			lay.Swap = 8
		}
	}
	lay.Frames = make([]Frame, frames)
	if alloc%8 == 0 {
		fb := int64(frameBits / 8)
		for k := range lay.Frames {
			lay.Frames[k] = Frame{Ranges: []Range{{Offset: el.Offset + int64(k)*fb, Length: fb}}}
		}
		return nil
	}
	// BitsAllocated 1: frames are packed bit after bit, least significant
	// bit first (PS3.5 8.1.1, 8.2), and need not start on a byte boundary.
	// (With Swap 2, WriteFrame swaps the whole words around each range.)
	for k := range lay.Frames {
		startBit := uint64(k) * frameBits
		first := el.Offset + int64(startBit/8)
		last := el.Offset + int64((startBit+frameBits+7)/8) // exclusive
		lay.Frames[k] = Frame{Ranges: []Range{{Offset: first, Length: last - first}},
			BitOffset: uint8(startBit % 8), Bits: int64(frameBits)}
	}
	return nil
}

// encapsulatedLayout maps fragments to frames (PS3.5 A.4): from the
// Extended Offset Table, the Basic Offset Table, or, when both are empty,
// by counting fragments and looking for each codec's start-of-frame marker.
func (p *parser) encapsulatedLayout(f *File, el *Element, frames int) error {
	if len(el.Fragments) == 0 {
		return malformed("encapsulated pixel data without a basic offset table item")
	}
	frags := el.Fragments[1:]
	lay := &f.Layout
	if frames == 0 {
		return nil
	}
	if len(frags) == 0 {
		return malformed("encapsulated pixel data without fragments")
	}
	cd := p.syntax.codec
	if cd == codecVideo {
		// One bit stream for all frames; it is served whole.
		lay.Frames = []Frame{framesOf(frags)}
		return nil
	}
	var starts []int64 // offsets relative to the first fragment's item tag
	var lengths []uint64
	if eot := f.DataSet.Find(TagExtendedOffsetTable); eot != nil && len(eot.Value) > 0 {
		if len(eot.Value)%8 != 0 || len(eot.Value)/8 != frames {
			return malformed("extended offset table of %d bytes for %d frames", len(eot.Value), frames)
		}
		for i := 0; i < frames; i++ {
			v := binary.LittleEndian.Uint64(eot.Value[8*i:])
			if v > 1<<62 {
				return malformed("extended offset table entry %d out of range", i)
			}
			starts = append(starts, int64(v))
		}
		if l := f.DataSet.Find(TagExtendedOffsetTableLen); l != nil && len(l.Value) > 0 {
			if len(l.Value) != 8*frames {
				return malformed("extended offset table lengths of %d bytes for %d frames", len(l.Value), frames)
			}
			for i := 0; i < frames; i++ {
				lengths = append(lengths, binary.LittleEndian.Uint64(l.Value[8*i:]))
			}
		}
	} else if len(p.bot) > 0 {
		if len(p.bot)%4 != 0 || len(p.bot)/4 != frames {
			return malformed("basic offset table of %d bytes for %d frames", len(p.bot), frames)
		}
		for i := 0; i < frames; i++ {
			starts = append(starts, int64(binary.LittleEndian.Uint32(p.bot[4*i:])))
		}
	}
	if starts != nil {
		idx, err := fragmentIndexes(frags, starts)
		if err != nil {
			return err
		}
		lay.Frames = make([]Frame, frames)
		for k := range idx {
			end := len(frags)
			if k+1 < len(idx) {
				end = idx[k+1]
			}
			lay.Frames[k] = framesOf(frags[idx[k]:end])
			if lengths != nil && lengths[k] > uint64(FrameLength(lay, lay.Frames[k])) {
				return malformed("extended offset table length of frame %d exceeds its fragments", k+1)
			}
		}
		return nil
	}
	switch {
	case len(frags) == frames:
		lay.Frames = make([]Frame, frames)
		for k := range frags {
			lay.Frames[k] = framesOf(frags[k : k+1])
		}
		return nil
	case frames == 1:
		lay.Frames = []Frame{framesOf(frags)}
		return nil
	case len(frags) < frames:
		return malformed("%d fragments for %d frames", len(frags), frames)
	}
	var isStart func([]byte) bool
	switch cd {
	case codecJPEG:
		isStart = func(b []byte) bool { return len(b) >= 2 && b[0] == 0xFF && b[1] == 0xD8 }
	case codecJ2K:
		isStart = func(b []byte) bool {
			return bytes.HasPrefix(b, []byte{0xFF, 0x4F, 0xFF, 0x51}) ||
				bytes.HasPrefix(b, []byte{0, 0, 0, 0x0C, 'j', 'P', ' ', ' '})
		}
	default:
		return malformed("%d fragments for %d frames in %s, which has one fragment per frame", len(frags), frames, p.syntax.ts.UID)
	}
	var idx []int
	for i, h := range p.fragHeads {
		if isStart(h) {
			idx = append(idx, i)
		}
	}
	if len(idx) != frames || idx[0] != 0 {
		return malformed("found %d frame starts in %d fragments for %d frames", len(idx), len(frags), frames)
	}
	lay.Frames = make([]Frame, frames)
	for k := range idx {
		end := len(frags)
		if k+1 < len(idx) {
			end = idx[k+1]
		}
		lay.Frames[k] = framesOf(frags[idx[k]:end])
	}
	return nil
}

func framesOf(frags []Fragment) Frame {
	f := Frame{Ranges: make([]Range, len(frags))}
	for i, fr := range frags {
		f.Ranges[i] = Range(fr)
	}
	return f
}

// fragmentIndexes maps offset table entries (relative to the first
// fragment's item tag) to fragment indexes. Entries must be increasing and
// point exactly at an item tag.
func fragmentIndexes(frags []Fragment, starts []int64) ([]int, error) {
	idx := make([]int, 0, len(starts))
	j := 0
	for k, s := range starts {
		for j < len(frags) && frags[j].Offset-frags[0].Offset < s {
			j++
		}
		if j == len(frags) || frags[j].Offset-frags[0].Offset != s || (k > 0 && j == idx[k-1]) {
			return nil, malformed("offset table entry %d (%d) does not point at a fragment", k, s)
		}
		idx = append(idx, j)
	}
	if idx[0] != 0 {
		return nil, malformed("offset table does not start at the first fragment")
	}
	return idx, nil
}
