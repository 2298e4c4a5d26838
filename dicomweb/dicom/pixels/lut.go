package pixels

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
)

// LUT is a lookup table (PS3.3 C.11.1.1): input values from First on map
// to Data; inputs below First map to Data[0], above the last to the last.
type LUT struct {
	// First is the first input value mapped (the descriptor's second value).
	First int
	// Bits is the number of bits of each entry (8 to 16).
	Bits int
	Data []uint16
}

// Lookup maps x through the table.
func (l *LUT) Lookup(x int) int {
	i := x - l.First
	if i < 0 {
		i = 0
	} else if i >= len(l.Data) {
		i = len(l.Data) - 1
	}
	return int(l.Data[i])
}

// Max is the largest value an entry can have.
func (l *LUT) Max() int { return 1<<l.Bits - 1 }

// Palette is the Palette Color Lookup Table of a PALETTE COLOR image.
type Palette struct {
	Red, Green, Blue *LUT
}

// descriptor decodes a LUT descriptor: entries (0 means 65536), first value
// mapped (signed when signed is set or the VR is SS), bits per entry.
func descriptor(e *part10.Element, signed bool) (entries, first, bits int, err error) {
	if e == nil {
		return 0, 0, 0, fmt.Errorf("no LUT descriptor: %w", ErrInvalid)
	}
	v, err := e.Ints()
	if err != nil || len(v) != 3 {
		return 0, 0, 0, fmt.Errorf("LUT descriptor %s is not 3 numbers: %w", e.Tag, ErrInvalid)
	}
	entries, bits = int(uint16(v[0])), int(v[2])
	if entries == 0 {
		entries = 65536
	}
	if e.VR == "SS" {
		first = int(int16(v[1]))
	} else if signed {
		first = int(int16(uint16(v[1])))
	} else {
		first = int(uint16(v[1]))
	}
	if bits < 1 || bits > 16 {
		return 0, 0, 0, fmt.Errorf("LUT descriptor %s: %d bits per entry: %w", e.Tag, bits, ErrInvalid)
	}
	return entries, first, bits, nil
}

// lutData reads the entries of LUT data element e: 16-bit words, or for
// 8-bit entries possibly one byte each (some writers pack them so).
func lutData(ctx context.Context, e *part10.Element, path string, entries, bits int, load BulkLoader) ([]uint16, error) {
	if e == nil {
		return nil, fmt.Errorf("no LUT data: %w", ErrInvalid)
	}
	raw := e.Value
	little := !e.BigEndian
	if e.Bulk {
		if load == nil {
			return nil, fmt.Errorf("LUT data %s not in memory and no loader: %w", path, ErrInvalid)
		}
		b, err := load(ctx, path, maxLUTBytes+2)
		if err != nil {
			return nil, err
		}
		raw, little = b, true
	}
	out := make([]uint16, entries)
	switch {
	case len(raw) >= 2*entries:
		for i := range out {
			if little {
				out[i] = binary.LittleEndian.Uint16(raw[2*i:])
			} else {
				out[i] = binary.BigEndian.Uint16(raw[2*i:])
			}
		}
		if bits <= 8 {
			// 8-bit entries in 16-bit words: in the low byte, or (some
			// writers) in the high byte when every low byte is zero.
			high := true
			for _, v := range out {
				if v&0xFF != 0 {
					high = false
					break
				}
			}
			for i, v := range out {
				if high {
					out[i] = v >> 8
				} else {
					out[i] = v & 0xFF
				}
			}
		}
	case bits <= 8 && len(raw) >= entries:
		for i := range out {
			out[i] = uint16(raw[i])
		}
	default:
		return nil, fmt.Errorf("LUT data %s of %d bytes for %d entries: %w", path, len(raw), entries, ErrInvalid)
	}
	maxV := uint16(1<<bits - 1)
	for i, v := range out {
		if v > maxV {
			out[i] = maxV
		}
	}
	return out, nil
}

// readLUT reads a Modality or VOI LUT Sequence item.
func readLUT(ctx context.Context, it *part10.DataSet, prefix string, signed bool, load BulkLoader) (*LUT, error) {
	entries, first, bits, err := descriptor(it.Find(tagLUTDescriptor), signed)
	if err != nil {
		return nil, err
	}
	data, err := lutData(ctx, it.Find(tagLUTData), prefix+tagLUTData.String(), entries, bits, load)
	if err != nil {
		return nil, err
	}
	return &LUT{First: first, Bits: bits, Data: data}, nil
}

// readPalette reads the three Palette Color Lookup Tables, plain or
// segmented (PS3.3 C.7.6.3.1.5-6, C.7.9.2).
func readPalette(ctx context.Context, ds *part10.DataSet, load BulkLoader) (*Palette, error) {
	var luts [3]*LUT
	descs := [3]part10.Tag{tagRedDescriptor, tagGreenDescriptor, tagBlueDescriptor}
	datas := [3]part10.Tag{tagRedData, tagGreenData, tagBlueData}
	segs := [3]part10.Tag{tagSegRedData, tagSegGreenData, tagSegBlueData}
	for i := range luts {
		entries, first, bits, err := descriptor(ds.Find(descs[i]), false)
		if err != nil {
			return nil, fmt.Errorf("pixels: describe: palette: %w", err)
		}
		if bits != 8 && bits != 16 {
			return nil, fmt.Errorf("pixels: describe: palette of %d-bit entries: %w", bits, ErrInvalid)
		}
		var data []uint16
		if e := ds.Find(datas[i]); e != nil {
			data, err = lutData(ctx, e, datas[i].String(), entries, bits, load)
		} else if e := ds.Find(segs[i]); e != nil {
			data, err = segmentedData(ctx, e, segs[i].String(), entries, bits, load)
		} else {
			err = fmt.Errorf("no palette data %s: %w", datas[i], ErrInvalid)
		}
		if err != nil {
			return nil, fmt.Errorf("pixels: describe: palette: %w", err)
		}
		luts[i] = &LUT{First: first, Bits: bits, Data: data}
	}
	return &Palette{Red: luts[0], Green: luts[1], Blue: luts[2]}, nil
}

// segmentedData expands Segmented Palette Color LUT Data (PS3.3
// C.7.9.2): discrete (0), linear (1) and indirect (2) segments.
func segmentedData(ctx context.Context, e *part10.Element, path string, entries, bits int, load BulkLoader) ([]uint16, error) {
	raw := e.Value
	little := !e.BigEndian
	if e.Bulk {
		if load == nil {
			return nil, fmt.Errorf("segmented LUT data %s not in memory and no loader: %w", path, ErrInvalid)
		}
		b, err := load(ctx, path, maxLUTBytes*2)
		if err != nil {
			return nil, err
		}
		raw, little = b, true
	}
	words := make([]uint16, len(raw)/2)
	for i := range words {
		if little {
			words[i] = binary.LittleEndian.Uint16(raw[2*i:])
		} else {
			words[i] = binary.BigEndian.Uint16(raw[2*i:])
		}
	}
	out, err := expandSegments(words, entries, 0)
	if err != nil {
		return nil, fmt.Errorf("segmented LUT data %s: %w", path, err)
	}
	if len(out) < entries {
		return nil, fmt.Errorf("segmented LUT data %s: %d entries for %d: %w", path, len(out), entries, ErrInvalid)
	}
	maxV := uint16(1<<bits - 1)
	out = out[:entries]
	for i, v := range out {
		out[i] = min(v, maxV)
	}
	return out, nil
}

func expandSegments(w []uint16, entries, depth int) ([]uint16, error) {
	if depth > 1 {
		return nil, fmt.Errorf("nested indirect segments: %w", ErrInvalid)
	}
	out := make([]uint16, 0, entries)
	for i := 0; i < len(w); {
		if len(w)-i < 2 {
			return nil, fmt.Errorf("truncated segment: %w", ErrInvalid)
		}
		op, n := w[i], int(w[i+1])
		switch op {
		case 0: // discrete: n values
			if i+2+n > len(w) || len(out)+n > entries {
				return nil, fmt.Errorf("discrete segment of %d: %w", n, ErrInvalid)
			}
			out = append(out, w[i+2:i+2+n]...)
			i += 2 + n
		case 1: // linear: from the previous value to w[i+2] in n steps
			if i+3 > len(w) || len(out) == 0 || len(out)+n > entries {
				return nil, fmt.Errorf("linear segment of %d: %w", n, ErrInvalid)
			}
			y0, y1 := float64(out[len(out)-1]), float64(w[i+2])
			for k := 1; k <= n; k++ {
				out = append(out, uint16(y0+(y1-y0)*float64(k)/float64(n)+0.5))
			}
			i += 3
		case 2: // indirect: copy n segments starting at a word offset
			if i+4 > len(w) {
				return nil, fmt.Errorf("truncated indirect segment: %w", ErrInvalid)
			}
			off := int(w[i+2]) | int(w[i+3])<<16
			if off < 0 || off >= i {
				return nil, fmt.Errorf("indirect segment offset %d: %w", off, ErrInvalid)
			}
			// Re-expand the n segments from off with the values so far.
			sub, err := segmentsFrom(w, off, n)
			if err != nil {
				return nil, err
			}
			more, err := expandSegmentsAfter(sub, out, entries, depth+1)
			if err != nil {
				return nil, err
			}
			out = more
			i += 4
		default:
			return nil, fmt.Errorf("segment type %d: %w", op, ErrInvalid)
		}
	}
	return out, nil
}

// segmentsFrom returns the words of n segments starting at word off.
func segmentsFrom(w []uint16, off, n int) ([]uint16, error) {
	i := off
	for k := 0; k < n; k++ {
		if i+2 > len(w) {
			return nil, fmt.Errorf("indirect segments past the data: %w", ErrInvalid)
		}
		switch w[i] {
		case 0:
			i += 2 + int(w[i+1])
		case 1:
			i += 3
		default:
			return nil, fmt.Errorf("indirect segment refers to type %d: %w", w[i], ErrInvalid)
		}
	}
	if i > len(w) {
		return nil, fmt.Errorf("indirect segments past the data: %w", ErrInvalid)
	}
	return w[off:i], nil
}

func expandSegmentsAfter(sub, prev []uint16, entries, depth int) ([]uint16, error) {
	// Linear segments need the previous value: expand with it as a seed.
	seed := 0
	if len(prev) > 0 {
		seed = 1
	}
	words := make([]uint16, 0, len(sub)+3)
	if seed == 1 {
		words = append(words, 0, 1, prev[len(prev)-1])
	}
	words = append(words, sub...)
	more, err := expandSegments(words, entries-len(prev)+seed, depth)
	if err != nil {
		return nil, err
	}
	return append(prev, more[seed:]...), nil
}
