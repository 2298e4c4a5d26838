package part10

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Strings splits a string value on backslashes into its raw values, with
// no character set decoding and no trimming (LT, ST, UT and UR are single
// valued and never split). It returns nil for an empty, bulk or non-string
// value. Note that under ISO 2022 multi-byte sets and GB18030 a 0x5C byte
// can be part of a character; decoders that care should decode first.
func (e *Element) Strings() []string {
	if e == nil || len(e.Value) == 0 || !IsStringVR(e.VR) {
		return nil
	}
	if isSingleValuedText(e.VR) {
		return []string{string(e.Value)}
	}
	return strings.Split(string(e.Value), `\`)
}

func (e *Element) order() binary.ByteOrder {
	if e.BigEndian {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// words checks that the value is a whole number of size-byte words.
func (e *Element) words(size int) (int, error) {
	if e.Bulk {
		return 0, fmt.Errorf("part10: %s: value not in memory", e.Tag)
	}
	if len(e.Value)%size != 0 {
		return 0, fmt.Errorf("part10: %s: %d bytes is not a whole number of %s values: %w", e.Tag, len(e.Value), e.VR, ErrMalformed)
	}
	return len(e.Value) / size, nil
}

// Ints decodes US, SS, UL, SL, SV, UV (up to 2^63-1) and IS values.
func (e *Element) Ints() ([]int64, error) {
	if e == nil {
		return nil, nil
	}
	bo := e.order()
	switch e.VR {
	case "US", "SS":
		n, err := e.words(2)
		out := make([]int64, n)
		for i := range out {
			v := bo.Uint16(e.Value[2*i:])
			if e.VR == "SS" {
				out[i] = int64(int16(v))
			} else {
				out[i] = int64(v)
			}
		}
		return out, err
	case "UL", "SL":
		n, err := e.words(4)
		out := make([]int64, n)
		for i := range out {
			v := bo.Uint32(e.Value[4*i:])
			if e.VR == "SL" {
				out[i] = int64(int32(v))
			} else {
				out[i] = int64(v)
			}
		}
		return out, err
	case "SV", "UV":
		n, err := e.words(8)
		out := make([]int64, n)
		for i := range out {
			v := bo.Uint64(e.Value[8*i:])
			if e.VR == "UV" && v > math.MaxInt64 {
				return nil, fmt.Errorf("part10: %s: UV value %d does not fit int64", e.Tag, v)
			}
			out[i] = int64(v)
		}
		return out, err
	case "IS":
		var out []int64
		for _, s := range e.Strings() {
			s = trimSpaces(s)
			if s == "" {
				continue
			}
			v, err := strconv.ParseInt(strings.TrimPrefix(s, "+"), 10, 64)
			if err != nil {
				return out, fmt.Errorf("part10: %s: bad IS value: %w", e.Tag, ErrMalformed)
			}
			out = append(out, v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("part10: %s: VR %s is not an integer", e.Tag, e.VR)
}

// Uints decodes UV values (and the other unsigned binary VRs) as uint64.
func (e *Element) Uints() ([]uint64, error) {
	if e == nil {
		return nil, nil
	}
	if e.VR == "UV" {
		n, err := e.words(8)
		out := make([]uint64, n)
		for i := range out {
			out[i] = e.order().Uint64(e.Value[8*i:])
		}
		return out, err
	}
	if e.VR != "US" && e.VR != "UL" {
		return nil, fmt.Errorf("part10: %s: VR %s is not unsigned", e.Tag, e.VR)
	}
	ints, err := e.Ints()
	out := make([]uint64, len(ints))
	for i, v := range ints {
		out[i] = uint64(v)
	}
	return out, err
}

// Floats decodes FL, FD, OF, OD and DS values.
func (e *Element) Floats() ([]float64, error) {
	if e == nil {
		return nil, nil
	}
	bo := e.order()
	switch e.VR {
	case "FL", "OF":
		n, err := e.words(4)
		out := make([]float64, n)
		for i := range out {
			out[i] = float64(math.Float32frombits(bo.Uint32(e.Value[4*i:])))
		}
		return out, err
	case "FD", "OD":
		n, err := e.words(8)
		out := make([]float64, n)
		for i := range out {
			out[i] = math.Float64frombits(bo.Uint64(e.Value[8*i:]))
		}
		return out, err
	case "DS":
		var out []float64
		for _, s := range e.Strings() {
			s = trimSpaces(s)
			if s == "" {
				continue
			}
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return out, fmt.Errorf("part10: %s: bad DS value: %w", e.Tag, ErrMalformed)
			}
			out = append(out, v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("part10: %s: VR %s is not a float", e.Tag, e.VR)
}

// Tags decodes AT values.
func (e *Element) Tags() ([]Tag, error) {
	if e == nil {
		return nil, nil
	}
	if e.VR != "AT" {
		return nil, fmt.Errorf("part10: %s: VR %s is not AT", e.Tag, e.VR)
	}
	n, err := e.words(4)
	out := make([]Tag, n)
	bo := e.order()
	for i := range out {
		out[i] = Tag(uint32(bo.Uint16(e.Value[4*i:]))<<16 | uint32(bo.Uint16(e.Value[4*i+2:])))
	}
	return out, err
}

// String returns the first value of the string element t, without its
// trailing spaces and NULs ("" when absent). Meant for UIDs and IDs.
func (d *DataSet) String(t Tag) string {
	e := d.Find(t)
	if e == nil || !IsStringVR(e.VR) {
		return ""
	}
	v := e.Value
	if !isSingleValuedText(e.VR) {
		for i, c := range v {
			if c == '\\' {
				v = v[:i]
				break
			}
		}
	}
	return strings.TrimRight(string(v), " \x00")
}

// Int returns the first value of the integer element t (US, SS, UL, SL,
// SV, UV, IS), reporting false when absent, empty or undecodable.
func (d *DataSet) Int(t Tag) (int64, bool) {
	v, err := d.Find(t).Ints()
	if err != nil || len(v) == 0 {
		return 0, false
	}
	return v[0], true
}

func trimSpaces(s string) string { return strings.Trim(s, " \x00") }
