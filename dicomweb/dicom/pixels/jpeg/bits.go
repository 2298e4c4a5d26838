package jpeg

import (
	"encoding/binary"
	"fmt"
)

// bitReader reads the entropy-coded segment of a scan: bytes with 0xFF00
// stuffing, ending at a marker. Past the marker (or the end of the data) it
// feeds zero bits and counts them, so that overrun tells a truncated
// segment from a complete one.
type bitReader struct {
	data   []byte
	pos    int    // next byte to load
	acc    uint64 // bits, most significant first
	n      uint   // valid bits in acc
	fake   uint   // zero bits appended after the segment ended
	marker bool   // a marker (or the end) was reached
}

// fill tops acc up to more than 56 bits.
func (br *bitReader) fill() {
	if !br.marker && br.pos+8 <= len(br.data) {
		// Fast path: eight bytes without 0xFF need no unstuffing.
		x := binary.BigEndian.Uint64(br.data[br.pos:])
		if y := ^x; (y-0x0101010101010101)&^y&0x8080808080808080 == 0 {
			k := (64 - br.n) / 8
			br.acc |= x >> (64 - 8*k) << (64 - 8*k - br.n)
			br.pos += int(k)
			br.n += 8 * k
			return
		}
	}
	for br.n <= 56 {
		var b byte
		if !br.marker && br.pos < len(br.data) {
			b = br.data[br.pos]
			if b != 0xFF {
				br.pos++
			} else if br.pos+1 < len(br.data) && br.data[br.pos+1] == 0 {
				br.pos += 2
			} else {
				br.marker = true
				b = 0
				br.fake += 8
			}
		} else {
			br.marker = true
			br.fake += 8
		}
		br.acc |= uint64(b) << (56 - br.n)
		br.n += 8
	}
}

// overrun reports whether bits past the end of the segment were consumed.
func (br *bitReader) overrun() bool { return br.n < br.fake }

// bits reads s ≤ 16 bits; the caller has ensured br.n ≥ s.
func (br *bitReader) bits(s uint) int32 {
	v := int32(br.acc >> (64 - s) & (1<<s - 1))
	br.acc <<= s
	br.n -= s
	return v
}

// receiveExtend reads s bits and extends them to a signed value (F.2.2.1).
func (br *bitReader) receiveExtend(s uint) int32 {
	if s == 0 {
		return 0
	}
	v := br.bits(s)
	if v < 1<<(s-1) {
		v += -1<<s + 1
	}
	return v
}

// reset discards the buffered bits and positions the reader at the marker
// that ends the current segment (skipping any stray data bytes).
func (br *bitReader) reset() {
	br.acc, br.n, br.fake, br.marker = 0, 0, 0, false
}

// nextMarker skips to the next marker at or after pos and returns it with
// the position just after it; ok is false at the end of the data.
func nextMarker(data []byte, pos int) (m byte, next int, ok bool) {
	for pos+1 < len(data) {
		if data[pos] != 0xFF {
			pos++
			continue
		}
		c := data[pos+1]
		switch c {
		case 0x00:
			pos += 2
		case 0xFF:
			pos++
		default:
			return c, pos + 2, true
		}
	}
	return 0, len(data), false
}

// restart consumes the RSTn marker that ends a restart interval.
func (br *bitReader) restart() error {
	br.reset()
	m, next, ok := nextMarker(br.data, br.pos)
	if !ok || m < 0xD0 || m > 0xD7 {
		return corruptf("missing restart marker at byte %d", br.pos)
	}
	br.pos = next
	return nil
}

const lutBits = 9

// huffTable is a Huffman decoding table (C.2, F.2.2.3) with a lookup table
// for codes of up to lutBits bits.
type huffTable struct {
	lut     [1 << lutBits]uint16 // length<<8 | value; 0: longer code
	maxcode [17]int32            // largest code of each length, -1 if none
	valptr  [17]int32
	mincode [17]int32
	vals    [256]byte
	defined bool
	diffs   []int32 // lossless: see buildDiffLUT
}

// parse builds the table from a DHT table definition (after Tc/Th) and
// returns the bytes used.
func (h *huffTable) parse(b []byte) (int, error) {
	if len(b) < 16 {
		return 0, corruptf("short DHT segment")
	}
	total := 0
	for _, c := range b[:16] {
		total += int(c)
	}
	if total > 256 || len(b) < 16+total {
		return 0, corruptf("bad DHT table of %d codes", total)
	}
	*h = huffTable{} // also drops diffs
	copy(h.vals[:], b[16:16+total])
	code, k := int32(0), int32(0)
	for l := 1; l <= 16; l++ {
		cnt := int32(b[l-1])
		h.mincode[l], h.valptr[l] = code, k
		h.maxcode[l] = -1
		if cnt > 0 {
			h.maxcode[l] = code + cnt - 1
		}
		if code+cnt > 1<<l {
			return 0, corruptf("over-subscribed Huffman table")
		}
		if l <= lutBits {
			for i := int32(0); i < cnt; i++ {
				c := code + i
				v := uint16(l)<<8 | uint16(h.vals[k+i])
				shift := lutBits - l
				for s := int32(0); s < 1<<shift; s++ {
					h.lut[c<<shift|s] = v
				}
			}
		}
		code += cnt
		k += cnt
		code <<= 1
	}
	h.defined = true
	return 16 + total, nil
}

// decode reads one Huffman-coded value; the caller has ensured br.n ≥ 16.
func (br *bitReader) decode(h *huffTable) (byte, error) {
	if e := h.lut[br.acc>>(64-lutBits)]; e != 0 {
		l := uint(e >> 8)
		br.acc <<= l
		br.n -= l
		return byte(e), nil
	}
	for l := uint(lutBits + 1); l <= 16; l++ {
		code := int32(br.acc >> (64 - l))
		if code <= h.maxcode[l] {
			br.acc <<= l
			br.n -= l
			return h.vals[h.valptr[l]+code-h.mincode[l]], nil
		}
	}
	return 0, corruptf("bad Huffman code")
}

func corruptf(format string, args ...any) error {
	return fmt.Errorf("jpeg: "+format+": %w", append(args, errCorrupt)...)
}
