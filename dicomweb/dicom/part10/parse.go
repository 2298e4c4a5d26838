package part10

import (
	"bufio"
	"compress/flate"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
)

// encoding is the byte order and VR explicitness of a data set being read.
// It changes inside UN sequences of undefined length, which are always
// Implicit VR Little Endian (PS3.5 6.2.2).
type encoding struct{ explicit, big bool }

func (e encoding) u16(b []byte) uint16 {
	if e.big {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (e encoding) u32(b []byte) uint32 {
	if e.big {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func (e encoding) tag(b []byte) Tag { return Tag(uint32(e.u16(b))<<16 | uint32(e.u16(b[2:]))) }

var explicitLE = encoding{explicit: true}

// Special values of dsState.end.
const (
	endUndefined = -1 // an item of undefined length: ends at its delimiter
	endEOF       = -2 // the top level data set: ends with the object
)

// dsState describes the data set being read.
type dsState struct {
	enc      encoding
	depth    int
	end      int64  // position of the data set's end, or endUndefined/endEOF
	limit    int64  // hard bound: the innermost defined end around it
	path     string // bulk path prefix: "" or "00540016/0/"
	pixelRep int    // PixelRepresentation in force, for implicit US/SS
	meta     bool   // reading the file meta group: stop at the first other group
}

type parser struct {
	ctx    context.Context
	rd     *reader
	lim    Limits
	syntax syntaxInfo
	count  int
	inline int64
	bulk   []BulkValue
	warn   []string

	// The top level pixel data element and what the frame mapping needs.
	pixel     *Element
	bot       []byte   // Basic Offset Table value
	fragHeads [][]byte // first bytes of each fragment after the table
}

// Parse reads the Part-10 object of the given size from r. It reads the
// object once, front to back, through a small buffer; bulk values are
// skipped, not read. Every declared length is checked against the bytes
// that remain, so a short or lying object fails with ErrMalformed instead
// of causing large allocations. Errors wrap ErrNoPart10Header, ErrMalformed
// or ErrUnsupportedTransferSyntax, or the reader's own error.
func Parse(ctx context.Context, r io.ReaderAt, size int64, lim Limits) (f *File, err error) {
	defer func() {
		if v := recover(); v != nil {
			f, err = nil, fmt.Errorf("part10: parse: internal error (%v): %w", v, ErrMalformed)
		}
	}()
	lim = lim.withDefaults()
	if size < 132 {
		return nil, fmt.Errorf("part10: parse: %d bytes: %w", size, ErrNoPart10Header)
	}
	var magic [4]byte
	if n, err := r.ReadAt(magic[:], 128); n < 4 {
		return nil, fmt.Errorf("part10: parse: read prefix: %w", err)
	}
	if string(magic[:]) != "DICM" {
		return nil, fmt.Errorf("part10: parse: %w", ErrNoPart10Header)
	}
	p := &parser{ctx: ctx, rd: newReaderAt(r, 132, size), lim: lim}
	meta := &DataSet{}
	st := dsState{enc: explicitLE, end: endEOF, limit: size, meta: true}
	if err := p.readDataSet(meta, &st); err != nil {
		return nil, fmt.Errorf("part10: parse file meta information: %w", err)
	}
	f = &File{Meta: meta, DataSetOffset: p.rd.pos, DataSet: &DataSet{}, Size: size}
	uid := meta.String(TagTransferSyntaxUID)
	if uid == "" {
		return nil, fmt.Errorf("part10: parse: no transfer syntax in the file meta information: %w", ErrMalformed)
	}
	si, ok := syntaxes[uid]
	if !ok {
		return nil, fmt.Errorf("part10: parse: transfer syntax %.64q: %w", uid, ErrUnsupportedTransferSyntax)
	}
	p.syntax = si
	f.TransferSyntax = si.ts
	st = dsState{enc: encoding{explicit: si.ts.ExplicitVR, big: si.ts.BigEndian}, end: endEOF, limit: size}
	if si.ts.Deflated {
		// PS3.5 A.5: raw deflate from the first byte after the meta group.
		// Offsets then count inflated bytes from DataSetOffset.
		sec := io.NewSectionReader(r, f.DataSetOffset, size-f.DataSetOffset)
		fr := flate.NewReader(bufio.NewReaderSize(sec, 16<<10))
		defer fr.Close()
		end := f.DataSetOffset + lim.MaxInflatedBytes
		p.rd = newStreamReader(fr, f.DataSetOffset, end)
		st.limit = end
		f.Layout.Deflated = true
		f.Layout.DeflatedAt = f.DataSetOffset
	}
	if err := p.readDataSet(f.DataSet, &st); err != nil {
		return nil, fmt.Errorf("part10: parse data set: %w", err)
	}
	if e := f.DataSet.Find(TagSpecificCharacterSet); e != nil {
		for _, s := range e.Strings() {
			f.CharacterSet = append(f.CharacterSet, trimSpaces(s))
		}
	}
	f.Layout.Bulk = p.bulk
	f.Warnings = p.warn
	if err := p.layout(f); err != nil {
		return nil, fmt.Errorf("part10: map pixel data: %w", err)
	}
	return f, nil
}

func malformed(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, ErrMalformed)...)
}

// maxWarnings bounds File.Warnings; later defects are counted only.
const maxWarnings = 20

func (p *parser) warning(format string, args ...any) {
	switch n := len(p.warn); {
	case n < maxWarnings:
		p.warn = append(p.warn, fmt.Sprintf(format, args...))
	case n == maxWarnings:
		p.warn = append(p.warn, "more defects not listed")
	}
}

// countOne accounts for one element, item or fragment.
func (p *parser) countOne() error {
	p.count++
	if p.count > p.lim.MaxElements {
		return malformed("more than %d elements", p.lim.MaxElements)
	}
	if p.count%1024 == 0 {
		if err := p.ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// readDataSet reads elements into ds until the data set ends.
func (p *parser) readDataSet(ds *DataSet, st *dsState) error {
	rd := p.rd
	var last Tag
	var seen map[Tag]struct{} // built once elements arrive out of order
	for {
		switch {
		case st.end >= 0:
			if rd.pos >= st.end {
				return nil
			}
		case st.end == endEOF:
			done, err := rd.atEnd()
			if err != nil {
				return err
			}
			if done {
				return nil
			}
		}
		if st.meta {
			if b := rd.peek(2); len(b) < 2 || binary.LittleEndian.Uint16(b) != 0x0002 {
				return nil
			}
		}
		if err := p.countOne(); err != nil {
			return err
		}
		start := rd.pos
		t, vr, length, err := p.header(st.enc)
		if err != nil {
			return err
		}
		switch t {
		case TagItemDelimitation:
			if st.end == endUndefined {
				return nil
			}
			return malformed("item delimiter outside an item at offset %d", start)
		case TagItem, TagSequenceDelimitation:
			return malformed("unexpected %s in a data set at offset %d", t, start)
		}
		el := &Element{Tag: t, VR: vr, Length: length, Offset: rd.pos, BigEndian: st.enc.big}
		keep := true
		if t <= last && len(ds.Elements) > 0 {
			if seen == nil {
				seen = make(map[Tag]struct{}, len(ds.Elements))
				for _, e := range ds.Elements {
					seen[e.Tag] = struct{}{}
				}
			}
			if _, dup := seen[t]; dup {
				keep = false
				p.warning("repeated element %s%s dropped", st.path, t)
			} else {
				p.warning("element %s%s out of order", st.path, t)
			}
		}
		if keep {
			ds.Elements = append(ds.Elements, el)
			if seen != nil {
				seen[t] = struct{}{}
			}
			last = max(last, t)
		}
		nbulk := len(p.bulk)
		if err := p.readValue(el, st); err != nil {
			return err
		}
		if !keep {
			p.bulk = p.bulk[:nbulk] // no BulkDataURI for a dropped element
			if p.pixel == el {
				p.pixel = nil
			}
		}
	}
}

// header reads an element header. vr is "" for implicit VR and item tags.
func (p *parser) header(enc encoding) (Tag, string, uint32, error) {
	b, err := p.rd.next(8)
	if err != nil {
		return 0, "", 0, err
	}
	t := enc.tag(b)
	if t.Group() == 0xFFFE || !enc.explicit {
		return t, "", enc.u32(b[4:]), nil
	}
	vr, long := lookupVR(b[4], b[5])
	if vr == "" {
		return 0, "", 0, malformed("invalid VR %q for (%04X,%04X) at offset %d", b[4:6], t.Group(), t.Element(), p.rd.pos-8)
	}
	if !long {
		return t, vr, uint32(enc.u16(b[6:])), nil
	}
	b, err = p.rd.next(4)
	if err != nil {
		return 0, "", 0, err
	}
	return t, vr, enc.u32(b), nil
}

func isPixelTag(t Tag) bool {
	return t == TagPixelData || t == TagFloatPixelData || t == TagDoubleFloatPixelData
}

// readValue reads or skips the value of el, whose header has been read.
func (p *parser) readValue(el *Element, st *dsState) error {
	rd := p.rd
	if !st.enc.explicit {
		el.VR = implicitVR(el.Tag, st.pixelRep)
	}
	if el.Length == UndefinedLength {
		switch {
		case el.Tag == TagPixelData && el.VR != "SQ":
			if !p.syntax.ts.Encapsulated {
				return malformed("encapsulated pixel data in the native transfer syntax %s", p.syntax.ts.UID)
			}
			return p.readFragments(el, st)
		case el.VR == "SQ":
			return p.readItems(el, st, st.enc)
		case el.VR == "UN" && st.enc.explicit:
			el.VR = "SQ"
			return p.readItems(el, st, encoding{})
		case !st.enc.explicit:
			el.VR = "SQ"
			return p.readItems(el, st, st.enc)
		default:
			return malformed("undefined length for %s element %s at offset %d", el.VR, el.Tag, el.Offset)
		}
	}
	n := int64(el.Length)
	if n > rd.remaining() || rd.pos+n > st.limit {
		return malformed("length %d of %s at offset %d runs past the end", n, el.Tag, el.Offset)
	}
	if el.VR == "UN" && st.enc.explicit && el.Tag.Group()%2 == 0 && !isPixelTag(el.Tag) {
		// PS3.5 §6.2.2: a UN value is encoded as in Implicit VR Little
		// Endian, so a public attribute sent as UN is read with its
		// dictionary VR (Note 2 allows it); its metadata then shows the
		// real value instead of base64.
		if vr := implicitVR(el.Tag, st.pixelRep); vr != "" && vr != "UN" && vr != "SQ" {
			el.VR, el.BigEndian = vr, false
		}
	}
	if el.VR == "SQ" {
		return p.readItems(el, st, st.enc)
	}
	var inline bool
	switch {
	case isPixelTag(el.Tag):
		inline = false
	case el.Tag == TagExtendedOffsetTable || el.Tag == TagExtendedOffsetTableLen:
		inline = n <= 8*int64(p.lim.MaxFrames)
	case isBinaryVR(el.VR):
		inline = n <= int64(p.lim.InlineMax)
	case isNumericVR(el.VR):
		inline = n <= int64(p.lim.MaxNumericBytes)
	default:
		inline = n <= int64(p.lim.MaxTextBytes)
	}
	if inline {
		p.inline += n
		if p.inline > p.lim.MaxInlineBytes {
			return malformed("more than %d bytes of values", p.lim.MaxInlineBytes)
		}
		v, err := rd.value(n)
		if err != nil {
			return err
		}
		el.Value = v
		if el.Tag == TagPixelRepresentation && len(v) == 2 {
			st.pixelRep = int(st.enc.u16(v))
		}
		return nil
	}
	el.Bulk = true
	if isPixelTag(el.Tag) {
		if n > p.lim.MaxPixelBytes {
			return malformed("pixel data of %d bytes exceeds the limit", n)
		}
		if st.depth == 0 && !st.meta && p.pixel == nil {
			p.pixel = el
		}
	}
	if !st.meta {
		p.bulk = append(p.bulk, BulkValue{Path: st.path + el.Tag.String(), VR: el.VR,
			Ranges: []Range{{Offset: el.Offset, Length: n}}, Swap: swapFor(el.VR, el.BigEndian)})
	}
	return rd.skip(n)
}

// readItems reads the items of the sequence el, encoded with enc.
func (p *parser) readItems(el *Element, st *dsState, enc encoding) error {
	rd := p.rd
	if el.VR != "SQ" {
		el.VR = "SQ"
	}
	depth := st.depth + 1
	if depth > p.lim.MaxDepth {
		return malformed("sequences nested deeper than %d", p.lim.MaxDepth)
	}
	end, limit := int64(endUndefined), st.limit
	if el.Length != UndefinedLength {
		end = el.Offset + int64(el.Length)
		limit = end
	}
	for i := 0; ; i++ {
		if end >= 0 && rd.pos >= end {
			return nil
		}
		start := rd.pos
		b, err := rd.next(8)
		if err != nil {
			return err
		}
		t, length := enc.tag(b), enc.u32(b[4:])
		if t == TagSequenceDelimitation && end == endUndefined {
			return nil
		}
		if t != TagItem {
			return malformed("expected an item in sequence %s at offset %d, found %s", el.Tag, start, t)
		}
		if err := p.countOne(); err != nil {
			return err
		}
		item := &DataSet{}
		el.Items = append(el.Items, item)
		ist := dsState{enc: enc, depth: depth, end: endUndefined, limit: limit,
			path: st.path + el.Tag.String() + "/" + strconv.Itoa(i) + "/", pixelRep: st.pixelRep}
		if length != UndefinedLength {
			n := int64(length)
			if n > rd.remaining() || rd.pos+n > limit {
				return malformed("item of length %d in sequence %s at offset %d runs past the end", n, el.Tag, start)
			}
			ist.end = rd.pos + n
			ist.limit = ist.end
		}
		if err := p.readDataSet(item, &ist); err != nil {
			return err
		}
		if rd.pos > limit {
			return malformed("item in sequence %s at offset %d runs past its sequence", el.Tag, start)
		}
	}
}

// readFragments reads the items of encapsulated pixel data (PS3.5 A.4).
func (p *parser) readFragments(el *Element, st *dsState) error {
	rd := p.rd
	el.Bulk = true
	top := st.depth == 0 && !st.meta && p.pixel == nil
	if top {
		p.pixel = el
	}
	var total int64
	for i := 0; ; i++ {
		start := rd.pos
		b, err := rd.next(8)
		if err != nil {
			return err
		}
		t, length := st.enc.tag(b), st.enc.u32(b[4:])
		if t == TagSequenceDelimitation {
			break
		}
		if t != TagItem || length == UndefinedLength {
			return malformed("bad pixel data item %s at offset %d", t, start)
		}
		if err := p.countOne(); err != nil {
			return err
		}
		n := int64(length)
		if n > rd.remaining() || rd.pos+n > st.limit {
			return malformed("pixel data item of length %d at offset %d runs past the end", n, start)
		}
		if total += n; total > p.lim.MaxPixelBytes {
			return malformed("pixel data of more than %d bytes", p.lim.MaxPixelBytes)
		}
		el.Fragments = append(el.Fragments, Fragment{Offset: rd.pos, Length: n})
		switch {
		case i == 0 && top:
			if n > 4*int64(p.lim.MaxFrames) {
				return malformed("basic offset table of %d bytes", n)
			}
			if p.bot, err = rd.value(n); err != nil {
				return err
			}
			continue
		case top:
			p.fragHeads = append(p.fragHeads, append([]byte(nil), rd.peek(12)...))
		}
		if err := rd.skip(n); err != nil {
			return err
		}
	}
	if len(el.Fragments) > 0 {
		bv := BulkValue{Path: st.path + el.Tag.String(), VR: el.VR, Ranges: make([]Range, 0, len(el.Fragments)-1)}
		for _, fr := range el.Fragments[1:] {
			bv.Ranges = append(bv.Ranges, Range(fr))
		}
		p.bulk = append(p.bulk, bv)
	}
	return nil
}

// swapFor is the word size to swap for a value of VR vr in big endian.
func swapFor(vr string, big bool) int {
	if !big {
		return 0
	}
	return SwapSize(vr)
}

// SwapSize is the word size in which a binary value of VR vr is byte
// swapped between big and little endian (OW 2, OF/OL 4, OD/OV 8), or 0 for
// VRs that are not swapped as a whole (OB, UN, strings; numbers are
// swapped per their own size).
func SwapSize(vr string) int {
	switch vr {
	case "OW":
		return 2
	case "OF", "OL":
		return 4
	case "OD", "OV":
		return 8
	}
	return 0
}
