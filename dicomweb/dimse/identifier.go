package dimse

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/minipacs/minipacs/dicomweb/archive/query"
	"github.com/minipacs/minipacs/dicomweb/dicom/charset"
	"github.com/minipacs/minipacs/dicomweb/dicom/dicomjson"
	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/index"
)

// The identifier of a C-FIND, C-MOVE or C-GET (PS3.4 C.4) is a bare data
// set in the presentation context's transfer syntax. decodeIdentifier
// reads a request's into query keys; encodeMatch writes the identifier of
// one C-FIND answer from an index result.

// maxIdentifierBytes bounds the data set of a C-FIND, C-MOVE or C-GET
// request.
const maxIdentifierBytes = 1 << 20

// Tags an identifier treats specially.
const (
	identSpecificCharacterSet uint32 = 0x00080005
	identQueryRetrieveLevel   uint32 = 0x00080052
	identRetrieveAETitle      uint32 = 0x00080054
	identInstanceAvailability uint32 = 0x00080056
)

// errIdentifier is wrapped by every error of decodeIdentifier: the
// identifier cannot be read (C-FIND status A900 or C000, as the caller
// decides).
var errIdentifier = errors.New("dimse: bad identifier")

// identifier is a decoded C-FIND/C-MOVE/C-GET identifier.
type identifier struct {
	level   string      // QueryRetrieveLevel (0008,0052) value, trimmed: PATIENT, STUDY, SERIES, IMAGE
	keys    []query.Key // every other top-level element (sequences as Sequence keys)
	charset []string    // SpecificCharacterSet terms as sent (nil when absent)
}

// identifierLimits keep every value of an identifier in memory (nothing
// is Bulk): the whole data set is at most maxIdentifierBytes.
var identifierLimits = part10.Limits{
	MaxDepth:        8,
	MaxElements:     maxIdentifierBytes / 8,
	InlineMax:       maxIdentifierBytes,
	MaxNumericBytes: maxIdentifierBytes,
	MaxTextBytes:    maxIdentifierBytes,
	MaxInlineBytes:  2 * maxIdentifierBytes,
}

// parseDataSet parses a bare data set (no preamble, no meta group) of at
// most maxIdentifierBytes encoded in ts: a C-FIND, C-MOVE or C-GET
// identifier, the data set of an N-service.
func parseDataSet(b []byte, ts string) (*part10.File, error) {
	// part10 reads Part-10 objects: give the data set a file meta group.
	meta := part10.FileMeta("", "", ts, ImplementationClassUID, ImplementationVersionName)
	obj := make([]byte, 0, len(meta)+len(b))
	obj = append(append(obj, meta...), b...)
	return part10.Parse(context.Background(), bytes.NewReader(obj), int64(len(obj)), identifierLimits)
}

// decodeIdentifier parses a bare data set (no preamble, no meta) encoded
// in transfer syntax ts (Implicit VR LE or Explicit VR LE), of at most
// maxIdentifierBytes, decoding string values with its
// SpecificCharacterSet (an unknown term reads as the default repertoire,
// as ingest does).
//
// Key values are the text of dicomjson.Values joined by '\': strings
// decoded to UTF-8 and trimmed, PN as "Alphabetic=Ideographic=Phonetic",
// binary numbers as decimal text. A sequence is a Sequence key whose Value
// is "" when its items hold only zero-length elements and otherwise the
// first value found in them (sequence matching, which query.FromKeys
// refuses). A binary value (OB, OW, UN ...) is given as its bytes read as
// text, so that query.FromKeys refuses to match on it rather than taking it
// for a return key.
func decodeIdentifier(b []byte, ts string) (*identifier, error) {
	if len(b) > maxIdentifierBytes {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", errIdentifier, len(b), maxIdentifierBytes)
	}
	if ts != part10.ImplicitVRLittleEndian && ts != part10.ExplicitVRLittleEndian {
		return nil, fmt.Errorf("%w: transfer syntax %.64q", errIdentifier, ts)
	}
	f, err := parseDataSet(b, ts)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errIdentifier, err)
	}
	dec, _ := charset.New(f.CharacterSet)
	id := &identifier{}
	if f.DataSet.Find(part10.TagSpecificCharacterSet) != nil {
		id.charset = f.CharacterSet
	}
	for _, e := range f.DataSet.Elements {
		tag := uint32(e.Tag)
		switch {
		case e.Tag.Group() == 0x0000, e.Tag.Group() == 0x0002, e.Tag.Element() == 0x0000,
			tag == identSpecificCharacterSet:
			continue
		case tag == identQueryRetrieveLevel:
			id.level = strings.Trim(dec.Decode(e.VR, e.Value), " \x00")
			continue
		}
		k := query.Key{Tag: tag, VR: e.VR}
		switch {
		case e.VR == "SQ" || e.Items != nil:
			k.Sequence = true
			k.Value = firstNestedValue(f, dec, e.Items)
		default:
			if vals := dicomjson.Values(f, dec, e); vals != nil {
				k.Value = strings.Join(vals, `\`)
			} else if len(e.Value) > 0 {
				k.Value = strings.Trim(dec.Decode(e.VR, e.Value), " \x00")
			}
		}
		id.keys = append(id.keys, k)
	}
	return id, nil
}

// firstNestedValue returns the first non-empty value inside the items of a
// sequence key, "" when there is none.
func firstNestedValue(f *part10.File, dec *charset.Decoder, items []*part10.DataSet) string {
	for _, it := range items {
		if it == nil {
			continue
		}
		for _, e := range it.Elements {
			if e.Tag.Element() == 0x0000 {
				continue // a group length is no key
			}
			if v := firstNestedValue(f, dec, e.Items); v != "" {
				return v
			}
			if vals := dicomjson.Values(f, dec, e); len(vals) > 0 {
				if v := strings.Join(vals, `\`); v != "" {
					return v
				}
			}
		}
	}
	return ""
}

// answerElement is one attribute of a C-FIND answer before encoding.
type answerElement struct {
	tag  uint32
	vr   string
	vals []string
}

// encodeMatch returns the identifier of one C-FIND answer, in transfer
// syntax ts: the attributes of fields (tag order) taken from res (levels
// 0..level of the result), a requested attribute the match lacks as a
// zero-length element, plus QueryRetrieveLevel, and SpecificCharacterSet
// chosen as: all values ASCII → the request's terms echoed (or none); else
// if the request asked ISO_IR 100 and every rune < 0x100 → ISO_IR 100
// (Latin-1 bytes); else "ISO_IR 192" (UTF-8). Sequences (SQ) are returned
// zero-length. Also RetrieveAETitle (0008,0054) = aet if aet != "".
// InstanceAvailability, when asked, is ONLINE.
//
// A value that cannot be encoded (bad number text, too long for its
// length field) gives a zero-length element, never an error: the only
// error is a transfer syntax other than Implicit or Explicit VR LE.
func encodeMatch(res *index.Result, level index.Level, qrLevel string, fields []query.Field, reqCharset []string, ts, aet string) ([]byte, error) {
	var explicit bool
	switch ts {
	case part10.ImplicitVRLittleEndian:
	case part10.ExplicitVRLittleEndian:
		explicit = true
	default:
		return nil, fmt.Errorf("dimse: encode match: transfer syntax %.64q", ts)
	}
	level = max(index.LevelStudy, min(level, index.LevelInstance))
	var readers [index.LevelInstance + 1]index.AttrReader
	for l := index.LevelStudy; l <= level; l++ {
		readers[l] = res.Reader(l)
	}
	out := make([]answerElement, 0, len(fields)+3)
	askedAET := false
	for _, f := range fields {
		switch {
		case f.Tag>>16 == 0x0000, f.Tag>>16 == 0x0002, f.Tag == identSpecificCharacterSet, f.Tag == identQueryRetrieveLevel:
			continue
		case f.Tag == identRetrieveAETitle:
			askedAET = true
			continue
		}
		el := answerElement{tag: f.Tag, vr: f.VR}
		found := false
		// The query level first: the attributes every level repeats
		// (TimezoneOffsetFromUTC) are taken from the most specific one.
		for l := level; l >= index.LevelStudy && !found; l-- {
			if a, ok := readers[l].Seek(f.Tag); ok {
				found = true
				if a.VR != "" {
					el.vr = a.VR
				}
				el.vals = a.Values()
			}
		}
		if !found && f.Tag == identInstanceAvailability {
			el.vr, el.vals = "CS", []string{"ONLINE"}
		}
		if el.vr == "" {
			el.vr = "UN"
		}
		out = append(out, el)
	}
	out = append(out, answerElement{tag: identQueryRetrieveLevel, vr: "CS", vals: []string{qrLevel}})
	if aet != "" {
		out = append(out, answerElement{tag: identRetrieveAETitle, vr: "AE", vals: []string{aet}})
	} else if askedAET {
		out = append(out, answerElement{tag: identRetrieveAETitle, vr: "AE"})
	}
	terms, latin1 := answerCharset(out, reqCharset)
	if len(terms) > 0 {
		out = append(out, answerElement{tag: identSpecificCharacterSet, vr: "CS", vals: terms})
	}
	slices.SortFunc(out, func(a, b answerElement) int { return cmp.Compare(a.tag, b.tag) })

	var b []byte
	for _, el := range out {
		b = appendAnswerElement(b, explicit, el.tag, el.vr, answerValue(el.vr, el.vals, latin1))
	}
	return b, nil
}

// answerCharset chooses the Specific Character Set of an answer from the
// values of its character-set-affected VRs (SH, LO, UC, ST, LT, UT, PN):
// all ASCII → the request's terms; the request asked ISO_IR 100 and every
// character is Latin-1 → ISO_IR 100 (latin1: those values are written as
// ISO 8859-1 bytes); else ISO_IR 192. The others are written as UTF-8.
func answerCharset(els []answerElement, req []string) (terms []string, latin1 bool) {
	ascii, inLatin1 := true, true
	for _, el := range els {
		if !charset.Affected(el.vr) {
			continue
		}
		for _, v := range el.vals {
			for _, r := range v {
				if r >= 0x80 {
					ascii = false
				}
				if r >= 0x100 {
					inLatin1 = false
				}
			}
		}
	}
	asksLatin1 := slices.ContainsFunc(req, func(t string) bool {
		t = strings.TrimSpace(t)
		return t == "ISO_IR 100" || t == "ISO 2022 IR 100"
	})
	switch {
	case ascii:
		return slices.Clone(req), false
	case asksLatin1 && inLatin1:
		return []string{"ISO_IR 100"}, true
	}
	return []string{"ISO_IR 192"}, false
}

// answerValue is the value field of one answer element: strings joined by
// '\' and padded to even length (NUL for UI, space otherwise), in Latin-1
// for the affected VRs when latin1; binary numbers and AT from their text
// to little-endian binary. It is nil (a zero-length element) for
// sequences, binary VRs the index holds no value of, and text that is not
// a valid value of the VR.
func answerValue(vr string, vals []string, latin1 bool) []byte {
	if len(vals) == 0 {
		return nil
	}
	var b []byte
	switch vr {
	case "SQ", "OB", "OD", "OF", "OL", "OV", "OW", "UN":
		return nil
	case "US", "SS", "UL", "SL", "FL", "FD", "SV", "UV", "AT":
		for _, v := range vals {
			var ok bool
			if b, ok = appendBinaryNumber(b, vr, strings.TrimSpace(v)); !ok {
				return nil
			}
		}
		return b
	}
	for i, v := range vals {
		if i > 0 {
			b = append(b, '\\')
		}
		if latin1 && charset.Affected(vr) {
			for _, r := range v {
				b = append(b, byte(r)) // every rune < 0x100 (answerCharset)
			}
		} else {
			b = append(b, v...)
		}
	}
	if len(b)%2 == 1 {
		if vr == "UI" {
			b = append(b, 0)
		} else {
			b = append(b, ' ')
		}
	}
	return b
}

// appendBinaryNumber appends the little-endian binary form of one value
// of a binary number VR or AT given as text; false when the text is not a
// value of the VR.
func appendBinaryNumber(b []byte, vr, s string) ([]byte, bool) {
	le := binary.LittleEndian
	var err error
	switch vr {
	case "US":
		var n uint64
		if n, err = strconv.ParseUint(s, 10, 16); err == nil {
			b = le.AppendUint16(b, uint16(n))
		}
	case "UL":
		var n uint64
		if n, err = strconv.ParseUint(s, 10, 32); err == nil {
			b = le.AppendUint32(b, uint32(n))
		}
	case "UV":
		var n uint64
		if n, err = strconv.ParseUint(s, 10, 64); err == nil {
			b = le.AppendUint64(b, n)
		}
	case "SS":
		var n int64
		if n, err = strconv.ParseInt(s, 10, 16); err == nil {
			b = le.AppendUint16(b, uint16(n))
		}
	case "SL":
		var n int64
		if n, err = strconv.ParseInt(s, 10, 32); err == nil {
			b = le.AppendUint32(b, uint32(n))
		}
	case "SV":
		var n int64
		if n, err = strconv.ParseInt(s, 10, 64); err == nil {
			b = le.AppendUint64(b, uint64(n))
		}
	case "FL":
		// ParseFloat reads the "NaN", "Infinity" and "-Infinity" that
		// dicomjson.Values writes.
		var f float64
		if f, err = strconv.ParseFloat(s, 32); err == nil {
			b = le.AppendUint32(b, math.Float32bits(float32(f)))
		}
	case "FD":
		var f float64
		if f, err = strconv.ParseFloat(s, 64); err == nil {
			b = le.AppendUint64(b, math.Float64bits(f))
		}
	case "AT":
		var t uint64
		if len(s) != 8 {
			return b, false
		}
		if t, err = strconv.ParseUint(s, 16, 32); err == nil {
			b = le.AppendUint16(le.AppendUint16(b, uint16(t>>16)), uint16(t))
		}
	default:
		return b, false
	}
	return b, err == nil
}

// longLengthVR reports whether Explicit VR writes the VR with two reserved
// bytes and a 4-byte length (PS3.5 7.1.2).
func longLengthVR(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
		return true
	}
	return false
}

// shortLengthVR reports whether Explicit VR writes the VR with a 2-byte
// length.
func shortLengthVR(vr string) bool {
	switch vr {
	case "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT", "PN",
		"SH", "SL", "SS", "ST", "TM", "UI", "UL", "US":
		return true
	}
	return false
}

// appendAnswerElement appends one element in Implicit or Explicit VR
// Little Endian; a value too long for its length field is left out (a
// zero-length element).
func appendAnswerElement(b []byte, explicit bool, tag uint32, vr string, val []byte) []byte {
	le := binary.LittleEndian
	if !shortLengthVR(vr) && !longLengthVR(vr) {
		vr, val = "UN", nil
	}
	b = le.AppendUint16(b, uint16(tag>>16))
	b = le.AppendUint16(b, uint16(tag))
	switch {
	case !explicit:
		if uint64(len(val)) > 0xFFFFFFFE {
			val = nil
		}
		b = le.AppendUint32(b, uint32(len(val)))
	case longLengthVR(vr):
		if uint64(len(val)) > 0xFFFFFFFE {
			val = nil
		}
		b = append(b, vr[0], vr[1], 0, 0)
		b = le.AppendUint32(b, uint32(len(val)))
	default:
		if len(val) > 0xFFFE {
			val = nil
		}
		b = append(b, vr[0], vr[1])
		b = le.AppendUint16(b, uint16(len(val)))
	}
	return append(b, val...)
}
