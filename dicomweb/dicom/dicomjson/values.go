package dicomjson

import (
	"bytes"
	"encoding/binary"
	"math"
	"strconv"

	"github.com/minipacs/minipacs/dicomweb/dicom/charset"
	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
)

// vrClass says how a VR's value is represented.
type vrClass uint8

const (
	classBinary vrClass = iota // OB OD OF OL OV OW UN and unknown VRs
	classMulti                 // string VRs with '\' separated values
	classSingle                // LT ST UT UR: one value, '\' is data
	classPN                    // PN
	classIS                    // IS
	classDS                    // DS
	classNumber                // US SS UL SL FL FD SV UV
	classAT                    // AT
	classSQ                    // SQ
)

func classOf(vr string) vrClass {
	switch vr {
	case "AE", "AS", "CS", "DA", "DT", "LO", "SH", "TM", "UC", "UI":
		return classMulti
	case "LT", "ST", "UT", "UR":
		return classSingle
	case "PN":
		return classPN
	case "IS":
		return classIS
	case "DS":
		return classDS
	case "US", "SS", "UL", "SL", "FL", "FD", "SV", "UV":
		return classNumber
	case "AT":
		return classAT
	case "SQ":
		return classSQ
	}
	return classBinary
}

// knownVR reports whether vr is one of the VRs of PS3.5 §6.2.
func knownVR(vr string) bool {
	switch vr {
	case "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT", "OB", "OD", "OF", "OL",
		"OV", "OW", "PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US",
		"UT", "UV":
		return true
	}
	return false
}

// keepsLeadingSpaces reports whether leading spaces are significant
// (PS3.5 §6.2: LT, ST, UT and UC only drop trailing spaces).
func keepsLeadingSpaces(vr string) bool {
	switch vr {
	case "LT", "ST", "UT", "UC":
		return true
	}
	return false
}

// trimValue drops the insignificant padding of one value: trailing spaces
// and NULs always, leading spaces except for LT, ST, UT and UC.
func trimValue(v []byte, vr string) []byte {
	end := len(v)
	for end > 0 && (v[end-1] == ' ' || v[end-1] == 0) {
		end--
	}
	v = v[:end]
	if !keepsLeadingSpaces(vr) {
		start := 0
		for start < len(v) && v[start] == ' ' {
			start++
		}
		v = v[start:]
	}
	return v
}

// splitValues calls fn with each trimmed value of a decoded string value
// field; single-valued VRs (LT, ST, UT, UR) give one value. A value field
// that is empty after trimming gives no value at all.
func splitValues(s []byte, vr string, fn func(i int, v []byte)) {
	if len(trimValue(s, vr)) == 0 {
		return
	}
	if classOf(vr) == classSingle {
		fn(0, trimValue(s, vr))
		return
	}
	for i := 0; ; i++ {
		j := bytes.IndexByte(s, '\\')
		if j < 0 {
			fn(i, trimValue(s, vr))
			return
		}
		fn(i, trimValue(s[:j], vr))
		s = s[j+1:]
	}
}

// appendIS appends the JSON number form of an IS value ("+007" → "7"), or
// returns false (and dst unchanged) when it is not an integer string or
// lies beyond ±(2^53-1).
func appendIS(dst, v []byte) ([]byte, bool) {
	neg := false
	if len(v) > 0 && (v[0] == '+' || v[0] == '-') {
		neg = v[0] == '-'
		v = v[1:]
	}
	if len(v) == 0 {
		return dst, false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return dst, false
		}
	}
	for len(v) > 1 && v[0] == '0' {
		v = v[1:]
	}
	n, err := strconv.ParseUint(string(v), 10, 64)
	if err != nil || n > maxSafeInt {
		return dst, false
	}
	if neg && n != 0 {
		dst = append(dst, '-')
	}
	return append(dst, v...), true
}

// maxSafeInt is 2^53-1, the largest integer every JSON reader holds
// exactly (RFC 8259 §6).
const maxSafeInt = 1<<53 - 1

// appendDS appends the JSON number form of a DS value (".5" → "0.5",
// "+1.E3" → "1e3", "007" → "7"), or returns false (and dst unchanged) when
// it is not a decimal string or not a finite binary64 number.
func appendDS(dst, v []byte) ([]byte, bool) {
	start := len(dst)
	out := dst
	i := 0
	if i < len(v) && (v[i] == '+' || v[i] == '-') {
		if v[i] == '-' {
			out = append(out, '-')
		}
		i++
	}
	intStart := i
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	intPart := v[intStart:i]
	var frac []byte
	if i < len(v) && v[i] == '.' {
		i++
		fs := i
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
		frac = v[fs:i]
	}
	if len(intPart) == 0 && len(frac) == 0 {
		return dst, false
	}
	for len(intPart) > 1 && intPart[0] == '0' {
		intPart = intPart[1:]
	}
	if len(intPart) == 0 {
		out = append(out, '0')
	} else {
		out = append(out, intPart...)
	}
	if len(frac) > 0 {
		out = append(out, '.')
		out = append(out, frac...)
	}
	if i < len(v) && (v[i] == 'e' || v[i] == 'E') {
		i++
		out = append(out, 'e')
		if i < len(v) && (v[i] == '+' || v[i] == '-') {
			if v[i] == '-' {
				out = append(out, '-')
			}
			i++
		}
		es := i
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
		exp := v[es:i]
		if len(exp) == 0 {
			return dst, false
		}
		for len(exp) > 1 && exp[0] == '0' {
			exp = exp[1:]
		}
		out = append(out, exp...)
	}
	if i != len(v) {
		return dst, false
	}
	f, err := strconv.ParseFloat(string(out[start:]), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return dst, false
	}
	return out, true
}

// numberSize is the size of one value of a binary number VR.
func numberSize(vr string) int {
	switch vr {
	case "US", "SS":
		return 2
	case "UL", "SL", "FL":
		return 4
	}
	return 8 // FD SV UV
}

// appendNumber appends the JSON form of value i of a binary number VR.
// Values a JSON number cannot hold are strings: NaN and infinities of FL
// and FD ("NaN", "Infinity", "-Infinity"), SV and UV beyond ±(2^53-1).
// quote=false appends the bare text (for Values).
func appendNumber(dst []byte, vr string, b []byte, order binary.ByteOrder, quote bool) []byte {
	switch vr {
	case "US":
		return strconv.AppendUint(dst, uint64(order.Uint16(b)), 10)
	case "SS":
		return strconv.AppendInt(dst, int64(int16(order.Uint16(b))), 10)
	case "UL":
		return strconv.AppendUint(dst, uint64(order.Uint32(b)), 10)
	case "SL":
		return strconv.AppendInt(dst, int64(int32(order.Uint32(b))), 10)
	case "FL":
		return appendFloat(dst, float64(math.Float32frombits(order.Uint32(b))), 32, quote)
	case "FD":
		return appendFloat(dst, math.Float64frombits(order.Uint64(b)), 64, quote)
	case "SV":
		n := int64(order.Uint64(b))
		if quote && (n > maxSafeInt || n < -maxSafeInt) {
			dst = append(dst, '"')
			return append(strconv.AppendInt(dst, n, 10), '"')
		}
		return strconv.AppendInt(dst, n, 10)
	default: // UV
		n := order.Uint64(b)
		if quote && n > maxSafeInt {
			dst = append(dst, '"')
			return append(strconv.AppendUint(dst, n, 10), '"')
		}
		return strconv.AppendUint(dst, n, 10)
	}
}

func appendFloat(dst []byte, f float64, bits int, quote bool) []byte {
	var s string
	switch {
	case math.IsNaN(f):
		s = "NaN"
	case math.IsInf(f, 1):
		s = "Infinity"
	case math.IsInf(f, -1):
		s = "-Infinity"
	default:
		return strconv.AppendFloat(dst, f, 'g', -1, bits)
	}
	if quote {
		return append(append(append(dst, '"'), s...), '"')
	}
	return append(dst, s...)
}

// appendTag appends an AT value as 8 uppercase hex digits.
func appendTag(dst []byte, b []byte, order binary.ByteOrder) []byte {
	return appendTagHex(dst, part10.Tag(uint32(order.Uint16(b))<<16|uint32(order.Uint16(b[2:]))))
}

func byteOrder(e *part10.Element) binary.ByteOrder {
	if e.BigEndian {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// pnGroups splits one PN value into its Alphabetic, Ideographic and
// Phonetic component groups, each trimmed of spaces. More than two '='
// leave the rest in the Phonetic group.
func pnGroups(v []byte) (g [3][]byte) {
	for i := 0; i < 2; i++ {
		j := bytes.IndexByte(v, '=')
		if j < 0 {
			g[i] = bytes.TrimSpace(v)
			return g
		}
		g[i] = bytes.TrimSpace(v[:j])
		v = v[j+1:]
	}
	g[2] = bytes.TrimSpace(v)
	return g
}

// Values returns the values of e as decoded strings for matching and
// indexing:
//
//   - strings decoded from dec (nil: the file's character set) and trimmed
//     as in DICOM JSON; an empty value inside a multi-valued attribute is "";
//   - PN as "Alphabetic=Ideographic=Phonetic", each group without trailing
//     spaces and trailing empty '^' components, trailing empty groups
//     dropped ("Doe^John^^^" → "Doe^John", "Yamada^Tarou=山田^太郎=");
//   - IS and DS normalised as in DICOM JSON ("+007" → "7", ".5" → "0.5"),
//     or the trimmed text when not a valid number;
//   - US, SS, UL, SL, FL, FD, SV, UV as decimal text (FL/FD as the shortest
//     text that reads back to the same number; "NaN", "Infinity");
//   - AT as 8 uppercase hex digits; UI without NUL padding.
//
// It returns nil for an empty element, sequences, and bulk or binary
// (OB, OW, UN ...) values.
func Values(f *part10.File, dec *charset.Decoder, e *part10.Element) []string {
	if e == nil || len(e.Value) == 0 {
		return nil
	}
	vr := e.VR
	if !knownVR(vr) {
		return nil
	}
	switch cls := classOf(vr); cls {
	case classBinary, classSQ:
		return nil
	case classNumber:
		size := numberSize(vr)
		order := byteOrder(e)
		out := make([]string, 0, len(e.Value)/size)
		var buf []byte
		for i := 0; i+size <= len(e.Value); i += size {
			buf = appendNumber(buf[:0], vr, e.Value[i:i+size], order, false)
			out = append(out, string(buf))
		}
		return out
	case classAT:
		order := byteOrder(e)
		out := make([]string, 0, len(e.Value)/4)
		var buf []byte
		for i := 0; i+4 <= len(e.Value); i += 4 {
			buf = appendTag(buf[:0], e.Value[i:i+4], order)
			out = append(out, string(buf))
		}
		return out
	default:
		if dec == nil {
			dec = fileDecoder(f, nil)
		}
		s := dec.AppendDecode(nil, vr, e.Value)
		var out []string
		splitValues(s, vr, func(_ int, v []byte) {
			switch cls {
			case classPN:
				g := pnGroups(v)
				var b []byte
				n := 0
				for i := range g {
					g[i] = bytes.TrimRight(g[i], "^ ")
					if len(g[i]) > 0 {
						n = i + 1
					}
				}
				for i := 0; i < n; i++ {
					if i > 0 {
						b = append(b, '=')
					}
					b = append(b, g[i]...)
				}
				out = append(out, string(b))
			case classIS:
				if n, ok := appendIS(nil, v); ok {
					v = n
				}
				out = append(out, string(v))
			case classDS:
				if n, ok := appendDS(nil, v); ok {
					v = n
				}
				out = append(out, string(v))
			default:
				out = append(out, string(v))
			}
		})
		return out
	}
}

// fileDecoder returns the decoder for a data set: from its own Specific
// Character Set element if it has one, else from f.CharacterSet.
func fileDecoder(f *part10.File, ds *part10.DataSet) *charset.Decoder {
	if e := ds.Find(part10.TagSpecificCharacterSet); e != nil && e.Value != nil {
		d, _ := charset.New(charset.ParseTerms(e.Value))
		return d
	}
	if f != nil && len(f.CharacterSet) > 0 {
		d, _ := charset.New(f.CharacterSet)
		return d
	}
	return charset.Default()
}
