package codec

import "encoding/binary"

// ReadSample returns the little endian sample of width bytes (1, 2 or 4;
// any other width reads 4) at b[0:], as stored: no masking, no sign
// extension.
func ReadSample(b []byte, width int) uint32 {
	switch width {
	case 1:
		return uint32(b[0])
	case 2:
		return uint32(binary.LittleEndian.Uint16(b))
	default:
		return binary.LittleEndian.Uint32(b)
	}
}

// WriteSample writes the low width bytes (1, 2 or 4; any other width
// writes 4) of v at b[0:], little endian: two's complement for negative v.
func WriteSample(b []byte, width int, v int64) {
	switch width {
	case 1:
		b[0] = byte(v)
	case 2:
		binary.LittleEndian.PutUint16(b, uint16(v))
	default:
		binary.LittleEndian.PutUint32(b, uint32(v))
	}
}

// FixHighBits brings decoded samples of p to the output convention: it
// clears the bits above BitsStored (unsigned) or sign extends from
// BitsStored (signed), in place. p must have passed Check (or, for a
// decoder of 8 and 16 bits only, the equivalent checks).
func FixHighBits(b []byte, p Params) {
	if p.BitsStored >= p.BitsAllocated {
		return
	}
	shift := uint(p.BitsAllocated - p.BitsStored)
	switch p.BitsAllocated {
	case 8:
		for i, c := range b {
			if p.Signed {
				b[i] = byte(int8(c<<shift) >> shift)
			} else {
				b[i] = c << shift >> shift
			}
		}
	case 16:
		for i := 0; i+1 < len(b); i += 2 {
			v := binary.LittleEndian.Uint16(b[i:])
			if p.Signed {
				v = uint16(int16(v<<shift) >> shift)
			} else {
				v = v << shift >> shift
			}
			binary.LittleEndian.PutUint16(b[i:], v)
		}
	case 32:
		for i := 0; i+3 < len(b); i += 4 {
			v := binary.LittleEndian.Uint32(b[i:])
			if p.Signed {
				v = uint32(int32(v<<shift) >> shift)
			} else {
				v = v << shift >> shift
			}
			binary.LittleEndian.PutUint32(b[i:], v)
		}
	}
}
