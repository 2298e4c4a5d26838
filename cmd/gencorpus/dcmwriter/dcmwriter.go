// Package dcmwriter writes DICOM Part-10 files in Explicit VR Little Endian.
//
// It is a deliberately small writer for test and benchmark corpora: a Dataset
// collects elements (strings are given as UTF-8 and encoded to the data set's
// character set, ISO_IR 100 Latin-1 or plain ASCII), checks each value against
// the VR's length and character rules of PS3.5 §6.2, and WriteFile emits the
// 128-byte preamble, "DICM", a file meta group (0002,xxxx) with its group
// length, and the data set elements in ascending tag order with even value
// lengths (PS3.5 §7.1.2, PS3.10 §7.1). Sequences and encapsulated pixel data
// are not supported: a corpus of native images does not need them.
//
// The first error is kept in the Dataset (as bufio.Scanner does), so a long
// list of Put calls needs one check at the end.
package dcmwriter

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// ExplicitVRLittleEndian is the transfer syntax UID this package writes.
const ExplicitVRLittleEndian = "1.2.840.10008.1.2.1"

// Tag is a DICOM attribute tag: group in the high 16 bits, element in the low.
type Tag uint32

// T builds a Tag from its group and element numbers.
func T(group, element uint16) Tag { return Tag(uint32(group)<<16 | uint32(element)) }

// Group returns the tag's group number.
func (t Tag) Group() uint16 { return uint16(t >> 16) }

// Element returns the tag's element number.
func (t Tag) Element() uint16 { return uint16(t) }

func (t Tag) String() string { return fmt.Sprintf("(%04X,%04X)", t.Group(), t.Element()) }

// Charset selects how text values (SH, LO, ST, LT, PN, UC, UT) are encoded.
type Charset int

const (
	// ASCII is the default repertoire (no SpecificCharacterSet).
	ASCII Charset = iota
	// Latin1 is ISO_IR 100 (ISO 8859-1).
	Latin1
)

// element is one encoded attribute: its value is already padded to even length.
type element struct {
	tag   Tag
	vr    string
	value []byte
}

// Dataset is an unordered collection of elements, sorted when written.
type Dataset struct {
	charset Charset
	elems   []element
	err     error
}

// NewDataset returns an empty data set whose text values use cs.
func NewDataset(cs Charset) *Dataset { return &Dataset{charset: cs} }

// Err returns the first error met by a Put method, or nil.
func (d *Dataset) Err() error { return d.err }

func (d *Dataset) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// Strings puts a string attribute with one or more values joined by '\'.
// No values means a zero-length (empty) attribute.
func (d *Dataset) Strings(tag Tag, vr string, values ...string) {
	rule, ok := stringVRs[vr]
	if !ok {
		d.fail(fmt.Errorf("dcmwriter: put %s: VR %q is not a string VR", tag, vr))
		return
	}
	if len(values) > 1 && !rule.multi {
		d.fail(fmt.Errorf("dcmwriter: put %s: VR %s cannot hold %d values", tag, vr, len(values)))
		return
	}
	var buf []byte
	for i, v := range values {
		if i > 0 {
			buf = append(buf, '\\')
		}
		enc, err := d.encode(v, rule)
		if err != nil {
			d.fail(fmt.Errorf("dcmwriter: put %s %s value %d: %w", tag, vr, i+1, err))
			return
		}
		if err := rule.check(vr, enc); err != nil {
			d.fail(fmt.Errorf("dcmwriter: put %s %s value %d: %w", tag, vr, i+1, err))
			return
		}
		buf = append(buf, enc...)
	}
	if len(buf)%2 == 1 {
		if vr == "UI" {
			buf = append(buf, 0)
		} else {
			buf = append(buf, ' ')
		}
	}
	d.put(tag, vr, buf)
}

// UID puts a UI attribute.
func (d *Dataset) UID(tag Tag, uid string) { d.Strings(tag, "UI", uid) }

// DS puts a decimal string attribute, formatting each value in at most 16 characters.
func (d *Dataset) DS(tag Tag, values ...float64) {
	s := make([]string, len(values))
	for i, v := range values {
		f, err := FormatDS(v)
		if err != nil {
			d.fail(fmt.Errorf("dcmwriter: put %s DS: %w", tag, err))
			return
		}
		s[i] = f
	}
	d.Strings(tag, "DS", s...)
}

// IS puts an integer string attribute.
func (d *Dataset) IS(tag Tag, values ...int) {
	s := make([]string, len(values))
	for i, v := range values {
		s[i] = strconv.Itoa(v)
	}
	d.Strings(tag, "IS", s...)
}

// US puts unsigned short values.
func (d *Dataset) US(tag Tag, values ...uint16) {
	buf := make([]byte, 0, 2*len(values))
	for _, v := range values {
		buf = binary.LittleEndian.AppendUint16(buf, v)
	}
	d.put(tag, "US", buf)
}

// UL puts unsigned long values.
func (d *Dataset) UL(tag Tag, values ...uint32) {
	buf := make([]byte, 0, 4*len(values))
	for _, v := range values {
		buf = binary.LittleEndian.AppendUint32(buf, v)
	}
	d.put(tag, "UL", buf)
}

// Binary puts an OB or OW value. OW values must have an even length; an OB
// value of odd length is padded with a zero byte. The slice is kept, not copied.
func (d *Dataset) Binary(tag Tag, vr string, value []byte) {
	switch vr {
	case "OB":
		if len(value)%2 == 1 {
			value = append(value[:len(value):len(value)], 0)
		}
	case "OW":
		if len(value)%2 == 1 {
			d.fail(fmt.Errorf("dcmwriter: put %s OW: odd length %d", tag, len(value)))
			return
		}
	default:
		d.fail(fmt.Errorf("dcmwriter: put %s: VR %q is not OB or OW", tag, vr))
		return
	}
	d.put(tag, vr, value)
}

func (d *Dataset) put(tag Tag, vr string, value []byte) {
	if d.err != nil {
		return
	}
	if uint64(len(value)) >= math.MaxUint32 {
		d.fail(fmt.Errorf("dcmwriter: put %s: value of %d bytes too long", tag, len(value)))
		return
	}
	if !longVR[vr] && len(value) > math.MaxUint16 {
		d.fail(fmt.Errorf("dcmwriter: put %s %s: value of %d bytes exceeds the 16-bit length", tag, vr, len(value)))
		return
	}
	d.elems = append(d.elems, element{tag: tag, vr: vr, value: value})
}

// encode converts a UTF-8 value to the data set's character set. Only text
// VRs may carry characters outside the default repertoire.
func (d *Dataset) encode(v string, rule vrRule) ([]byte, error) {
	out := make([]byte, 0, len(v))
	for _, r := range v {
		switch {
		case r == '\\' && rule.multi:
			return nil, errors.New("backslash inside a value")
		case r < 0x20 && !(rule.text && (r == '\n' || r == '\r' || r == '\t' || r == '\f' || r == 0x1b)):
			return nil, fmt.Errorf("control character %U", r)
		case r < 0x7f:
			out = append(out, byte(r))
		case r >= 0xa0 && r <= 0xff && rule.text && d.charset == Latin1:
			out = append(out, byte(r))
		default:
			return nil, fmt.Errorf("character %q not in the character set of this VR", r)
		}
	}
	return out, nil
}

// vrRule describes a string VR: its maximum value length in bytes (0: no
// limit), whether it may hold several values, whether it is text in the
// data set's character set, and an optional character check.
type vrRule struct {
	max   int
	multi bool
	text  bool
	valid func(b byte) bool
}

func (r vrRule) check(vr string, v []byte) error {
	if r.max > 0 && len(v) > r.max {
		return fmt.Errorf("%d bytes exceed the maximum of %d for %s", len(v), r.max, vr)
	}
	if r.valid != nil {
		for _, b := range v {
			if !r.valid(b) {
				return fmt.Errorf("byte %q not allowed in %s", b, vr)
			}
		}
	}
	switch vr {
	case "UI":
		return checkUID(string(v))
	case "DA":
		if len(v) != 0 && len(v) != 8 {
			return fmt.Errorf("DA %q is not YYYYMMDD", v)
		}
	case "PN":
		if strings.Count(string(v), "=") > 2 {
			return errors.New("PN with more than three component groups")
		}
		for _, g := range strings.Split(string(v), "=") {
			if len(g) > 64 {
				return fmt.Errorf("PN component group of %d bytes exceeds 64", len(g))
			}
			if strings.Count(g, "^") > 4 {
				return errors.New("PN with more than five components")
			}
		}
	}
	return nil
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

var stringVRs = map[string]vrRule{
	"AE": {max: 16, multi: true},
	"AS": {max: 4, multi: true},
	"CS": {max: 16, multi: true, valid: func(b byte) bool {
		return b >= 'A' && b <= 'Z' || isDigit(b) || b == ' ' || b == '_'
	}},
	"DA": {max: 8, multi: true, valid: isDigit},
	"DS": {max: 16, multi: true, valid: func(b byte) bool {
		return isDigit(b) || strings.IndexByte("+-.eE ", b) >= 0
	}},
	"DT": {max: 26, multi: true},
	"IS": {max: 12, multi: true, valid: func(b byte) bool { return isDigit(b) || b == '+' || b == '-' || b == ' ' }},
	"LO": {max: 64, multi: true, text: true},
	"LT": {max: 10240, text: true},
	"PN": {max: 0, multi: true, text: true},
	"SH": {max: 16, multi: true, text: true},
	"ST": {max: 1024, text: true},
	"TM": {max: 14, multi: true, valid: func(b byte) bool { return isDigit(b) || b == '.' }},
	"UC": {multi: true, text: true},
	"UI": {max: 64, multi: true, valid: func(b byte) bool { return isDigit(b) || b == '.' }},
	"UT": {text: true},
}

// longVR lists the VRs that Explicit VR encodes with two reserved bytes and a
// 32-bit length (PS3.5 §7.1.2, Table 7.1-1).
var longVR = map[string]bool{
	"OB": true, "OD": true, "OF": true, "OL": true, "OV": true, "OW": true,
	"SQ": true, "SV": true, "UC": true, "UN": true, "UR": true, "UT": true, "UV": true,
}

// checkUID applies PS3.5 §9.1: at most 64 characters, digits and dots, no
// empty component, no leading zero in a multi-digit component.
func checkUID(uid string) error {
	if uid == "" {
		return errors.New("empty UID")
	}
	if len(uid) > 64 {
		return fmt.Errorf("UID of %d characters exceeds 64", len(uid))
	}
	for _, c := range strings.Split(uid, ".") {
		if c == "" {
			return fmt.Errorf("UID %q has an empty component", uid)
		}
		if len(c) > 1 && c[0] == '0' {
			return fmt.Errorf("UID %q has a component with a leading zero", uid)
		}
		for i := 0; i < len(c); i++ {
			if !isDigit(c[i]) {
				return fmt.Errorf("UID %q has a non-digit", uid)
			}
		}
	}
	return nil
}

// FormatDS formats v as a decimal string of at most 16 characters.
func FormatDS(v float64) (string, error) {
	if v == 0 {
		v = 0 // no "-0"
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "", fmt.Errorf("DS cannot hold %v", v)
	}
	for prec := 10; prec >= 1; prec-- {
		s := strconv.FormatFloat(v, 'g', prec, 64)
		if len(s) <= 16 {
			return s, nil
		}
	}
	return "", fmt.Errorf("DS cannot hold %v in 16 characters", v)
}

// FileMeta holds the file meta information (PS3.10 §7.1) that WriteFile puts
// in group 0002. TransferSyntaxUID is always Explicit VR Little Endian.
type FileMeta struct {
	MediaStorageSOPClassUID    string
	MediaStorageSOPInstanceUID string
	ImplementationClassUID     string
	ImplementationVersionName  string // optional, SH
}

// WriteFile writes a Part-10 file: preamble, "DICM", the file meta group and
// ds in ascending tag order. ds must not contain group 0002 elements.
func WriteFile(w io.Writer, meta FileMeta, ds *Dataset) error {
	if err := ds.Err(); err != nil {
		return err
	}
	m := NewDataset(ASCII)
	m.Binary(T(0x0002, 0x0001), "OB", []byte{0x00, 0x01})
	m.UID(T(0x0002, 0x0002), meta.MediaStorageSOPClassUID)
	m.UID(T(0x0002, 0x0003), meta.MediaStorageSOPInstanceUID)
	m.UID(T(0x0002, 0x0010), ExplicitVRLittleEndian)
	m.UID(T(0x0002, 0x0012), meta.ImplementationClassUID)
	if meta.ImplementationVersionName != "" {
		m.Strings(T(0x0002, 0x0013), "SH", meta.ImplementationVersionName)
	}
	if err := m.Err(); err != nil {
		return fmt.Errorf("dcmwriter: file meta: %w", err)
	}
	elems := slices.Clone(ds.elems)
	slices.SortStableFunc(elems, func(a, b element) int {
		switch {
		case a.tag < b.tag:
			return -1
		case a.tag > b.tag:
			return 1
		}
		return 0
	})
	for i, e := range elems {
		if e.tag.Group() <= 0x0002 {
			return fmt.Errorf("dcmwriter: write: data set holds group %04X element %s", e.tag.Group(), e.tag)
		}
		if i > 0 && elems[i-1].tag == e.tag {
			return fmt.Errorf("dcmwriter: write: duplicate element %s", e.tag)
		}
	}

	var groupLen uint32
	for _, e := range m.elems {
		groupLen += uint32(headerLen(e.vr) + len(e.value))
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	var pre [132]byte
	copy(pre[128:], "DICM")
	bw.Write(pre[:])
	gl := element{tag: T(0x0002, 0x0000), vr: "UL", value: binary.LittleEndian.AppendUint32(nil, groupLen)}
	writeElement(bw, gl)
	for _, e := range m.elems {
		writeElement(bw, e)
	}
	for _, e := range elems {
		writeElement(bw, e)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("dcmwriter: write: %w", err)
	}
	return nil
}

func headerLen(vr string) int {
	if longVR[vr] {
		return 12
	}
	return 8
}

// writeElement writes one element; errors surface at Flush (bufio keeps them).
func writeElement(bw *bufio.Writer, e element) {
	var h [12]byte
	binary.LittleEndian.PutUint16(h[0:], e.tag.Group())
	binary.LittleEndian.PutUint16(h[2:], e.tag.Element())
	h[4], h[5] = e.vr[0], e.vr[1]
	if longVR[e.vr] {
		binary.LittleEndian.PutUint32(h[8:], uint32(len(e.value)))
		bw.Write(h[:12])
	} else {
		binary.LittleEndian.PutUint16(h[6:], uint16(len(e.value)))
		bw.Write(h[:8])
	}
	bw.Write(e.value)
}
