package dicomjson

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"

	"github.com/minipacs/minipacs/dicomweb/kind"

	"github.com/minipacs/minipacs/dicomweb/dicom/charset"
	"github.com/minipacs/minipacs/dicomweb/dicom/jsonstr"
	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
)

// Options control the encoding.
type Options struct {
	// BulkURI returns the BulkDataURI of the value at path (part10.BulkValue
	// path syntax: "7FE00010", "00540016/0/00181072"). When nil, bulk
	// values are written with their "vr" only and held binary values are
	// always InlineBinary.
	BulkURI func(path string) string
	// InlineMax: binary values (OB, OD, OF, OL, OV, OW, UN) held in memory
	// and longer than InlineMax bytes are written as BulkDataURI when
	// BulkURI is set. 0 (the default) writes every held value inline, so
	// that exactly the values in part10.Layout.Bulk get a BulkDataURI.
	InlineMax int
	// Extra attributes merged into the top-level object in tag order (an
	// Extra replaces an element of the data set with the same tag).
	Extra []Extra
}

// Extra is an attribute added to the top-level object, such as
// AvailableTransferSyntaxUID (0008,3002), which is not in the data set.
type Extra struct {
	Tag part10.Tag
	VR  string
	// Value is the JSON array written as "Value", e.g.
	// `["1.2.840.10008.1.2.1"]`; empty writes no Value.
	Value []byte
}

// StringExtra returns an Extra whose values are the given strings.
func StringExtra(tag part10.Tag, vr string, values ...string) Extra {
	b := []byte{'['}
	for i, v := range values {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonstr.Append(b, v)
	}
	return Extra{Tag: tag, VR: vr, Value: append(b, ']')}
}

// ErrTooDeep is returned for data sets nested deeper than MaxDepth (only
// possible with hand-made data sets: part10.Parse bounds the depth lower).
var ErrTooDeep = kind.New(kind.Invalid, "data set nested too deeply")

// MaxDepth is the deepest sequence nesting the encoder follows.
const MaxDepth = 64

// flushAt is the buffered size at which EncodeDataSet writes to w.
const flushAt = 32 << 10

// encoder appends JSON to buf, flushing to w (when not nil) as it grows.
type encoder struct {
	w       io.Writer
	buf     []byte
	err     error
	opt     Options
	scratch []byte // decoded strings
}

func (e *encoder) flush() {
	if e.w == nil || e.err != nil || len(e.buf) == 0 {
		return
	}
	if _, err := e.w.Write(e.buf); err != nil {
		e.err = err
	}
	e.buf = e.buf[:0]
}

func (e *encoder) maybeFlush() {
	if e.w != nil && len(e.buf) >= flushAt {
		e.flush()
	}
}

// EncodeDataSet writes ds (normally f.DataSet) as one DICOM JSON object
// (PS3.18 F.2) to w. Group lengths (gggg,0000), Length to End (0008,0001),
// the file meta group (0002), command (0000) and illegal odd groups
// (0001, 0003, 0005, 0007, FFFF), item tags (FFFE) and Data Set Trailing
// Padding (FFFC,FFFC) are left out; attributes come in ascending tag order
// and a tag repeated in a malformed data set is written once (the first).
// Strings are decoded with the data set's Specific Character Set, and in
// sequence items with the item's own (0008,0005) when it has one.
func EncodeDataSet(w io.Writer, f *part10.File, ds *part10.DataSet, opt Options) error {
	extra, err := checkExtra(opt.Extra)
	if err != nil {
		return fmt.Errorf("dicomjson: encode data set: %w", err)
	}
	e := bufPool.Get().(*encoder)
	defer func() {
		*e = encoder{buf: e.buf[:0], scratch: e.scratch[:0]}
		if cap(e.buf) <= 4*flushAt {
			bufPool.Put(e)
		}
	}()
	e.w, e.opt = w, opt
	if err := e.dataSet(f, ds, fileDecoder(f, ds), "", extra, 0); err != nil {
		return fmt.Errorf("dicomjson: encode data set: %w", err)
	}
	e.flush()
	if e.err != nil {
		return fmt.Errorf("dicomjson: encode data set: write: %w", e.err)
	}
	return nil
}

var bufPool = sync.Pool{New: func() any { return &encoder{buf: make([]byte, 0, 2*flushAt)} }}

// EncodeElement returns the attribute object {"vr":..,"Value":[..]} of el.
// dec is the decoder of the data set holding el (nil: the file's
// character set); path is el's bulk data path (part10.BulkValue.Path).
func EncodeElement(f *part10.File, dec *charset.Decoder, el *part10.Element, path string, opt Options) ([]byte, error) {
	if el == nil {
		return nil, errors.New("dicomjson: encode element: nil element")
	}
	if dec == nil {
		dec = fileDecoder(f, nil)
	}
	e := &encoder{opt: opt}
	if err := e.element(f, dec, el, path, true, 0); err != nil {
		return nil, fmt.Errorf("dicomjson: encode element %s: %w", el.Tag, err)
	}
	return e.buf, nil
}

func checkExtra(extra []Extra) ([]Extra, error) {
	if len(extra) == 0 {
		return nil, nil
	}
	out := slices.Clone(extra)
	for _, x := range out {
		if !knownVR(x.VR) {
			return nil, fmt.Errorf("extra attribute %s: invalid VR %q", x.Tag, x.VR)
		}
		if len(x.Value) > 0 {
			v := bytes.TrimSpace(x.Value)
			if len(v) == 0 || v[0] != '[' || !json.Valid(v) {
				return nil, fmt.Errorf("extra attribute %s: Value is not a JSON array", x.Tag)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Extra) int { return cmpTag(a.Tag, b.Tag) })
	return slices.CompactFunc(out, func(a, b Extra) bool { return a.Tag == b.Tag }), nil
}

func cmpTag(a, b part10.Tag) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// skipped reports whether a tag is left out of DICOM JSON.
func skipped(t part10.Tag) bool {
	switch t.Group() {
	case 0x0000, 0x0001, 0x0002, 0x0003, 0x0005, 0x0007, 0xFFFE, 0xFFFF:
		return true
	}
	return t.Element() == 0x0000 || t == 0x00080001 || t == 0xFFFCFFFC
}

// sortedElements returns ds's elements in ascending tag order.
func sortedElements(ds *part10.DataSet) []*part10.Element {
	els := ds.Elements
	if slices.IsSortedFunc(els, func(a, b *part10.Element) int { return cmpTag(a.Tag, b.Tag) }) {
		return els
	}
	els = slices.Clone(els)
	slices.SortStableFunc(els, func(a, b *part10.Element) int { return cmpTag(a.Tag, b.Tag) })
	return els
}

// dataSet writes one JSON object for ds. prefix is the bulk path of ds
// ("" or "00540016/0/").
func (e *encoder) dataSet(f *part10.File, ds *part10.DataSet, dec *charset.Decoder, prefix string, extra []Extra, depth int) error {
	if depth > MaxDepth {
		return ErrTooDeep
	}
	e.buf = append(e.buf, '{')
	first := true
	key := func(t part10.Tag) {
		if !first {
			e.buf = append(e.buf, ',')
		}
		first = false
		e.buf = append(e.buf, '"')
		e.buf = appendTagHex(e.buf, t)
		e.buf = append(e.buf, '"', ':')
	}
	writeExtra := func(x Extra) {
		key(x.Tag)
		e.buf = append(e.buf, `{"vr":"`...)
		e.buf = append(e.buf, x.VR...)
		e.buf = append(e.buf, '"')
		if v := bytes.TrimSpace(x.Value); len(v) > 0 {
			e.buf = append(e.buf, `,"Value":`...)
			e.buf = append(e.buf, v...)
		}
		e.buf = append(e.buf, '}')
	}
	var els []*part10.Element
	if ds != nil {
		els = sortedElements(ds)
	}
	written := false
	var last part10.Tag
	for _, el := range els {
		if el == nil || skipped(el.Tag) || (written && el.Tag == last) {
			continue
		}
		for len(extra) > 0 && extra[0].Tag <= el.Tag {
			writeExtra(extra[0])
			last, written = extra[0].Tag, true
			extra = extra[1:]
		}
		if written && el.Tag == last {
			continue // replaced by an Extra
		}
		key(el.Tag)
		if err := e.element(f, dec, el, prefix, false, depth); err != nil {
			return err
		}
		last, written = el.Tag, true
		e.maybeFlush()
	}
	for _, x := range extra {
		writeExtra(x)
	}
	e.buf = append(e.buf, '}')
	return nil
}

// hexPairs holds the two uppercase hex digits of every byte value.
var hexPairs = func() (t [512]byte) {
	const hex = "0123456789ABCDEF"
	for i := range 256 {
		t[2*i], t[2*i+1] = hex[i>>4], hex[i&0xF]
	}
	return t
}()

func appendTagHex(dst []byte, t part10.Tag) []byte {
	a, b, c, d := 2*int(t>>24), 2*int(t>>16&0xFF), 2*int(t>>8&0xFF), 2*int(t&0xFF)
	return append(dst, hexPairs[a], hexPairs[a+1], hexPairs[b], hexPairs[b+1],
		hexPairs[c], hexPairs[c+1], hexPairs[d], hexPairs[d+1])
}

func isPixelTag(t part10.Tag) bool {
	return t == part10.TagPixelData || t == part10.TagFloatPixelData || t == part10.TagDoubleFloatPixelData
}

// element writes the attribute object of el. Its bulk data path is
// prefix, when full, else prefix followed by el's tag (computed only when
// needed).
func (e *encoder) element(f *part10.File, dec *charset.Decoder, el *part10.Element, prefix string, full bool, depth int) error {
	path := func() string {
		if full {
			return prefix
		}
		return prefix + el.Tag.String()
	}
	vr := el.VR
	if !knownVR(vr) {
		vr = "UN"
	}
	e.buf = append(e.buf, `{"vr":"`...)
	e.buf = append(e.buf, vr...)
	e.buf = append(e.buf, '"')
	cls := classOf(vr)
	switch {
	case cls == classSQ:
		if err := e.items(f, dec, el, path(), depth); err != nil {
			return err
		}
	case el.Bulk || el.Value == nil && (len(el.Fragments) > 0 || el.Length > 0 && el.Length != part10.UndefinedLength):
		// The value was not kept: only a BulkDataURI can give it.
		e.bulk(path)
	case cls == classBinary:
		if e.opt.BulkURI != nil && (isPixelTag(el.Tag) || e.opt.InlineMax > 0 && len(el.Value) > e.opt.InlineMax) {
			e.bulk(path)
		} else if len(el.Value) > 0 {
			e.inline(el, vr)
		}
	default:
		e.values(dec, el, vr, cls)
	}
	e.buf = append(e.buf, '}')
	return nil
}

func (e *encoder) bulk(path func() string) {
	if e.opt.BulkURI == nil {
		return
	}
	e.buf = append(e.buf, `,"BulkDataURI":`...)
	e.buf = jsonstr.Append(e.buf, e.opt.BulkURI(path()))
}

// inline writes InlineBinary: the value in little endian, base64.
func (e *encoder) inline(el *part10.Element, vr string) {
	v := el.Value
	if n := part10.SwapSize(vr); el.BigEndian && n > 1 {
		sw := make([]byte, len(v))
		copy(sw, v)
		for i := 0; i+n <= len(sw); i += n {
			slices.Reverse(sw[i : i+n])
		}
		v = sw
	}
	e.buf = append(e.buf, `,"InlineBinary":"`...)
	// Encode in chunks (multiples of 3 bytes) so a large value streams.
	const chunk = 3 * 4096
	for len(v) > 0 {
		n := min(len(v), chunk)
		e.buf = base64.StdEncoding.AppendEncode(e.buf, v[:n])
		v = v[n:]
		e.maybeFlush()
	}
	e.buf = append(e.buf, '"')
}

// items writes the Value of a sequence: each item an object.
func (e *encoder) items(f *part10.File, dec *charset.Decoder, el *part10.Element, path string, depth int) error {
	if len(el.Items) == 0 {
		return nil
	}
	e.buf = append(e.buf, `,"Value":[`...)
	for i, item := range el.Items {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		idec := dec
		if s := item.Find(part10.TagSpecificCharacterSet); s != nil && s.Value != nil {
			idec, _ = charset.New(charset.ParseTerms(s.Value))
		}
		if err := e.dataSet(f, item, idec, path+"/"+strconv.Itoa(i)+"/", nil, depth+1); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, ']')
	return nil
}

// values writes the Value array of a string, number or AT element.
func (e *encoder) values(dec *charset.Decoder, el *part10.Element, vr string, cls vrClass) {
	v := el.Value
	if len(v) == 0 {
		return
	}
	switch cls {
	case classNumber, classAT:
		size := 4
		if cls == classNumber {
			size = numberSize(vr)
		}
		if len(v) < size {
			return
		}
		order := byteOrder(el)
		e.buf = append(e.buf, `,"Value":[`...)
		for i := 0; i+size <= len(v); i += size {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			if cls == classAT {
				e.buf = append(e.buf, '"')
				e.buf = appendTag(e.buf, v[i:i+4], order)
				e.buf = append(e.buf, '"')
			} else {
				e.buf = appendNumber(e.buf, vr, v[i:i+size], order, true)
			}
			e.maybeFlush()
		}
		e.buf = append(e.buf, ']')
		return
	}
	e.scratch = dec.AppendDecode(e.scratch[:0], vr, v)
	// One empty value is no value (F.2.5); empty values among several are
	// null.
	count, nonEmpty := 0, false
	splitValues(e.scratch, vr, func(_ int, s []byte) {
		count++
		nonEmpty = nonEmpty || !emptyValue(s, cls)
	})
	if count == 0 || count == 1 && !nonEmpty {
		return
	}
	e.buf = append(e.buf, `,"Value":[`...)
	splitValues(e.scratch, vr, func(i int, s []byte) {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		if emptyValue(s, cls) {
			e.buf = append(e.buf, "null"...)
			return
		}
		switch cls {
		case classPN:
			e.personName(s)
		case classIS:
			var ok bool
			if e.buf, ok = appendIS(e.buf, s); !ok {
				e.buf = jsonstr.Append(e.buf, s)
			}
		case classDS:
			var ok bool
			if e.buf, ok = appendDS(e.buf, s); !ok {
				e.buf = jsonstr.Append(e.buf, s)
			}
		default:
			e.buf = jsonstr.Append(e.buf, s)
		}
	})
	e.buf = append(e.buf, ']')
}

// emptyValue reports whether a trimmed value is empty; a PN value is
// empty when all its component groups are.
func emptyValue(s []byte, cls vrClass) bool {
	if len(s) == 0 {
		return true
	}
	if cls == classPN {
		g := pnGroups(s)
		return len(g[0]) == 0 && len(g[1]) == 0 && len(g[2]) == 0
	}
	return false
}

// personName writes one PN value as an object of its non-empty groups.
func (e *encoder) personName(s []byte) {
	g := pnGroups(s)
	names := [3]string{"Alphabetic", "Ideographic", "Phonetic"}
	e.buf = append(e.buf, '{')
	first := true
	for i := range g {
		if len(g[i]) == 0 {
			continue
		}
		if !first {
			e.buf = append(e.buf, ',')
		}
		first = false
		e.buf = append(e.buf, '"')
		e.buf = append(e.buf, names[i]...)
		e.buf = append(e.buf, '"', ':')
		e.buf = jsonstr.Append(e.buf, g[i])
	}
	e.buf = append(e.buf, '}')
}
