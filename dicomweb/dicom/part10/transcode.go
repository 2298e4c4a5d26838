package part10

import (
	"bufio"
	"compress/flate"
	"context"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/minipacs/minipacs/dicomweb/kind"
)

// Re-encoding of native objects in a native little endian transfer syntax:
// Explicit VR Little Endian (PS3.5 A.2), the syntax WADO-RS sends when a
// request names none (PS3.18 §8.7.3), or Implicit VR Little Endian
// (PS3.5 A.1), the default syntax of DIMSE peers. One transcoder writes
// both; only the element headers of the data set differ.
//
// The output is a Part-10 file: a zero preamble, "DICM", the file meta group
// (always explicit VR little endian, PS3.10 7.1) with TransferSyntaxUID set
// to the output syntax and (0002,0000) recomputed, then the data set
// elements in the order Parse found them:
//   - in Explicit VR Little Endian every header is explicit VR little
//     endian (PS3.5 7.1.2); a value of a VR with a 2-byte length field that
//     is longer than maxShortLength is written as UN with a 4-byte length
//     (PS3.5 6.2.2: UN is encoded as Implicit VR Little Endian, which is
//     what the swapped value is); elements whose VR is unknown are written
//     as UN;
//   - in Implicit VR Little Endian every header is a tag and a 4-byte
//     length (PS3.5 7.1.3), whatever the VR;
//   - values are swapped to little endian when they were big endian
//     (Element.BigEndian): 2-byte words for US, SS, OW and AT, 4 for UL,
//     SL, FL, OF and OL, 8 for FD, OD, SV, UV and OV, and for the pixel
//     data the Layout's word size; strings, OB and UN go unchanged;
//   - sequences and items get undefined lengths and delimitation items
//     (which also tell an implicit VR reader that a private or unknown
//     element is a sequence);
//   - group length elements (gggg,0000) of 4 bytes are recomputed for the
//     new encoding; other values are kept byte for byte (odd lengths too).
//
// Elements that Parse dropped (repeated tags) are not written. Refused, with
// ErrNotReencodable: encapsulated objects (their pixel data would need
// decoding, see WriteDecoded) and media storage directories (DICOMDIR),
// whose records hold byte offsets into the file that re-encoding would
// invalidate. In Implicit VR, where a reader takes each element's VR from
// the data dictionary, also refused: a sequence whose tag the dictionary
// lists with another VR, and a non-empty value that is not a sequence
// whose tag the dictionary lists as one (e.g. a sequence sent as UN of
// defined length); either would be read back as something else.

// ErrNotReencodable is returned by WriteNative and WriteDecoded for objects
// they cannot re-encode; see CanWriteNative.
var ErrNotReencodable = kind.New(kind.Unsupported, "object cannot be re-encoded in a native little endian transfer syntax")

// MediaStorageDirectoryStorage is the SOP class of a DICOMDIR.
const MediaStorageDirectoryStorage = "1.2.840.10008.1.3.10"

// tagDirectoryRecordSequence is (0004,1220), the records of a DICOMDIR.
const tagDirectoryRecordSequence Tag = 0x00041220

// implicitLE is the encoding of an Implicit VR Little Endian data set.
var implicitLE = encoding{}

// outputEncoding returns the encoding of a data set written in ts, which
// must be ExplicitVRLittleEndian or ImplicitVRLittleEndian.
func outputEncoding(ts string) (encoding, error) {
	switch ts {
	case ExplicitVRLittleEndian:
		return explicitLE, nil
	case ImplicitVRLittleEndian:
		return implicitLE, nil
	}
	return encoding{}, fmt.Errorf("output in %q: %w: %w", ts, ErrNotReencodable, ErrUnsupportedTransferSyntax)
}

// syntaxName names the output syntax of enc in errors.
func syntaxName(enc encoding) string {
	if enc.explicit {
		return "explicit VR little endian"
	}
	return "implicit VR little endian"
}

// CanWriteNative reports, with the reason, whether WriteNative can
// re-encode f in the transfer syntax ts.
func CanWriteNative(f *File, ts string) error {
	enc, err := outputEncoding(ts)
	if err != nil {
		return err
	}
	switch {
	case f == nil || f.Meta == nil || f.DataSet == nil:
		return fmt.Errorf("no parsed file: %w", ErrNotReencodable)
	case f.TransferSyntax.Encapsulated:
		return fmt.Errorf("%s is encapsulated: %w: %w", f.TransferSyntax.UID, ErrNotReencodable, ErrUnsupportedTransferSyntax)
	case f.Meta.String(0x00020002) == MediaStorageDirectoryStorage || f.DataSet.Find(tagDirectoryRecordSequence) != nil:
		return fmt.Errorf("a DICOMDIR holds file offsets: %w", ErrNotReencodable)
	}
	if !enc.explicit {
		return checkImplicit(f.DataSet.Elements)
	}
	return nil
}

// CanWriteExplicitLE is CanWriteNative(f, ExplicitVRLittleEndian).
func CanWriteExplicitLE(f *File) error { return CanWriteNative(f, ExplicitVRLittleEndian) }

// checkImplicit rejects elements that an implicit VR reader, taking VRs
// from the data dictionary, would read as something else (see above).
func checkImplicit(els []*Element) error {
	for _, el := range els {
		dictSQ, known := dictionarySequence(el.Tag)
		switch {
		case isSequence(el) && known && !dictSQ:
			return fmt.Errorf("element %s: a sequence, the dictionary says %s: %w", el.Tag, DictionaryVR(el.Tag), ErrNotReencodable)
		case !isSequence(el) && dictSQ && el.Length != 0:
			return fmt.Errorf("element %s: a %s value of a sequence attribute: %w", el.Tag, el.VR, ErrNotReencodable)
		}
		for _, item := range el.Items {
			if err := checkImplicit(item.Elements); err != nil {
				return err
			}
		}
	}
	return nil
}

// dictionarySequence reports whether the data dictionary lists t as a
// sequence (any of its VRs being SQ), and whether it lists t at all.
func dictionarySequence(t Tag) (sq, known bool) {
	if t.Element() == 0 {
		return false, true // a group length
	}
	info, ok := lookup(t)
	if !ok {
		return false, false
	}
	for _, vr := range info.VRs {
		if vr == "SQ" {
			return true, true
		}
	}
	return false, true
}

// maxShortLength is the longest value written with a 2-byte length field.
const maxShortLength = 0xFFFE

// transcodeBufSize is the size of the output buffer and of the copy buffer
// (a multiple of 8, so that swapped words never straddle two chunks).
const transcodeBufSize = 64 << 10

// NativeLength returns the number of bytes WriteNative writes for f in ts,
// computed from the parsed structure without reading the object. It
// reports false when f cannot be re-encoded in ts (see CanWriteNative).
func NativeLength(f *File, ts string) (int64, bool) {
	if CanWriteNative(f, ts) != nil {
		return 0, false
	}
	enc, _ := outputEncoding(ts)
	meta := metaFor(f.Meta, ts)
	n := int64(132)
	for _, el := range meta {
		l, err := encodedLen(el, explicitLE)
		if err != nil {
			return 0, false
		}
		n += l
	}
	l, err := dataSetLen(f.DataSet.Elements, enc)
	if err != nil {
		return 0, false
	}
	return n + l, true
}

// ExplicitLELength is NativeLength(f, ExplicitVRLittleEndian).
func ExplicitLELength(f *File) (int64, bool) { return NativeLength(f, ExplicitVRLittleEndian) }

// WriteNative writes f, a parsed native object, to w as a Part-10 file in
// ts, ExplicitVRLittleEndian or ImplicitVRLittleEndian (see above). Values
// kept in memory by Parse are written from f; bulk values are copied from
// the stored object read with open in a single forward pass: one ranged
// read spanning every bulk value, or for Deflated objects one read from
// Layout.DeflatedAt to the end, inflated once. Memory use is bounded by two
// 64 KiB buffers.
func WriteNative(ctx context.Context, w io.Writer, f *File, open OpenFunc, ts string) error {
	if err := CanWriteNative(f, ts); err != nil {
		name := ts
		if enc, err := outputEncoding(ts); err == nil {
			name = syntaxName(enc)
		}
		return fmt.Errorf("part10: write %s: %w", name, err)
	}
	return writeNative(ctx, w, f, open, ts, nil)
}

// WriteExplicitLE is WriteNative(ctx, w, f, open, ExplicitVRLittleEndian).
func WriteExplicitLE(ctx context.Context, w io.Writer, f *File, open OpenFunc) error {
	return WriteNative(ctx, w, f, open, ExplicitVRLittleEndian)
}

// DecodedPixels replaces the encapsulated pixel data of an object by decoded
// frames for WriteDecoded.
type DecodedPixels struct {
	// VR of the native pixel data: "OB" (BitsAllocated ≤ 8) or "OW".
	VR string
	// Frames is the number of frames and FrameSize the size of each decoded
	// frame in bytes; WriteFrame must write exactly FrameSize bytes.
	Frames    int
	FrameSize int64
	// WriteFrame writes decoded frame i (0-based) to w.
	WriteFrame func(ctx context.Context, w io.Writer, i int) error
	// Set replaces (or inserts, in tag order) top-level elements, e.g.
	// PhotometricInterpretation and PlanarConfiguration after a colour
	// conversion. Values are little endian, of even length.
	Set []*Element
}

// tags of the encapsulated pixel data's offset tables, dropped on decoding.
const (
	tagExtendedOffsetTable        Tag = 0x7FE00001
	tagExtendedOffsetTableLengths Tag = 0x7FE00002
)

// WriteDecoded writes f, an encapsulated object, in ts
// (ExplicitVRLittleEndian or ImplicitVRLittleEndian) with its pixel data
// replaced by the decoded frames px writes, one frame at a time: memory
// use is bounded by the buffers of WriteNative and whatever WriteFrame
// holds (one frame).
func WriteDecoded(ctx context.Context, w io.Writer, f *File, open OpenFunc, ts string, px *DecodedPixels) error {
	if err := CanWriteDecoded(f, ts); err != nil {
		return fmt.Errorf("part10: write decoded: %w", err)
	}
	enc, _ := outputEncoding(ts)
	n := int64(px.Frames) * px.FrameSize
	if px.Frames <= 0 || px.FrameSize <= 0 || n+n&1 > maxPixelLength {
		return fmt.Errorf("part10: write decoded: %d frames of %d bytes: %w", px.Frames, px.FrameSize, ErrNotReencodable)
	}
	el := &Element{Tag: TagPixelData, VR: px.VR, Length: uint32(n + n&1), Bulk: true, Offset: -1}
	var els []*Element
	replaced := false
	for _, e := range f.DataSet.Elements {
		switch {
		case e.Tag == tagExtendedOffsetTable || e.Tag == tagExtendedOffsetTableLengths:
			continue
		case e.Tag == TagPixelData && len(e.Fragments) > 0:
			e, replaced = el, true
		}
		els = append(els, e)
	}
	if !replaced {
		return fmt.Errorf("part10: write decoded: no encapsulated pixel data: %w", ErrNotReencodable)
	}
	for _, s := range px.Set {
		els = setElement(els, s)
	}
	if !enc.explicit {
		if err := checkImplicit(els); err != nil {
			return fmt.Errorf("part10: write decoded: %w", err)
		}
	}
	g := *f
	g.DataSet = &DataSet{Elements: els}
	return writeNative(ctx, w, &g, open, ts, &decodedPixels{el: el, px: px})
}

// CanWriteDecoded reports, with the reason, whether WriteDecoded can write
// f in ts, as far as f is concerned (the decoded pixels are checked when
// written).
func CanWriteDecoded(f *File, ts string) error {
	enc, err := outputEncoding(ts)
	switch {
	case err != nil:
		return err
	case f == nil || f.Meta == nil || f.DataSet == nil || !f.TransferSyntax.Encapsulated:
		return fmt.Errorf("not an encapsulated object: %w", ErrNotReencodable)
	case f.Meta.String(0x00020002) == MediaStorageDirectoryStorage:
		return fmt.Errorf("a DICOMDIR: %w", ErrNotReencodable)
	case !enc.explicit:
		return checkImplicit(f.DataSet.Elements)
	}
	return nil
}

// WriteExplicitLEDecoded is WriteDecoded(ctx, w, f, open,
// ExplicitVRLittleEndian, px).
func WriteExplicitLEDecoded(ctx context.Context, w io.Writer, f *File, open OpenFunc, px *DecodedPixels) error {
	return WriteDecoded(ctx, w, f, open, ExplicitVRLittleEndian, px)
}

// maxPixelLength is the longest native pixel data value (an even 32-bit length).
const maxPixelLength = 0xFFFFFFFE

// setElement replaces the element with s's tag in els, or inserts s in tag order.
func setElement(els []*Element, s *Element) []*Element {
	for i, e := range els {
		if e.Tag == s.Tag {
			els[i] = s
			return els
		}
		if e.Tag > s.Tag {
			return append(els[:i], append([]*Element{s}, els[i:]...)...)
		}
	}
	return append(els, s)
}

type decodedPixels struct {
	el *Element
	px *DecodedPixels
}

// writeDecoded writes the decoded frames as the value of the pixel data.
func (t *transcoder) writeDecoded(ctx context.Context) error {
	t.header(TagPixelData, t.dec.px.VR, true, t.dec.el.Length)
	if err := t.bw.Flush(); err != nil && t.err == nil {
		t.err = err
	}
	if t.err != nil {
		return t.err
	}
	for i := 0; i < t.dec.px.Frames; i++ {
		cw := &countWriter{w: t.bw}
		if err := t.dec.px.WriteFrame(ctx, cw, i); err != nil {
			return fmt.Errorf("frame %d: %w", i+1, err)
		}
		if cw.n != t.dec.px.FrameSize {
			return fmt.Errorf("frame %d: decoded %d bytes, want %d: %w", i+1, cw.n, t.dec.px.FrameSize, ErrMalformed)
		}
	}
	if int64(t.dec.px.Frames)*t.dec.px.FrameSize&1 == 1 {
		t.write([]byte{0})
	}
	return t.err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeNative writes f in ts, which outputEncoding accepts.
func writeNative(ctx context.Context, w io.Writer, f *File, open OpenFunc, ts string, dec *decodedPixels) error {
	enc, err := outputEncoding(ts)
	if err != nil {
		return fmt.Errorf("part10: %w", err)
	}
	t := &transcoder{
		dec:  dec,
		bw:   bufio.NewWriterSize(w, transcodeBufSize),
		buf:  make([]byte, transcodeBufSize),
		lay:  &f.Layout,
		src:  bulkSource{open: open, lay: &f.Layout},
		meta: metaFor(f.Meta, ts),
		enc:  explicitLE, // the file meta group
	}
	defer t.src.close()
	if fr := f.Layout.Frames; len(fr) > 0 && len(fr[0].Ranges) > 0 {
		t.pixelAt = fr[0].Ranges[0].Offset
	}
	if !f.Layout.Deflated {
		t.src.start, t.src.end = -1, -1
		spanBulk(t.meta, &t.src.start, &t.src.end)
		spanBulk(f.DataSet.Elements, &t.src.start, &t.src.end)
	}
	var head [132]byte
	copy(head[128:], "DICM")
	t.write(head[:])
	if err := t.dataSet(ctx, t.meta, 0); err != nil {
		return fmt.Errorf("part10: write %s: file meta information: %w", syntaxName(enc), err)
	}
	t.enc = enc
	if err := t.dataSet(ctx, f.DataSet.Elements, 0); err != nil {
		return fmt.Errorf("part10: write %s: %w", syntaxName(enc), err)
	}
	if t.err == nil {
		t.err = t.bw.Flush()
	}
	if t.err != nil {
		return fmt.Errorf("part10: write %s: %w", syntaxName(enc), t.err)
	}
	return nil
}

// metaFor returns the meta elements to write for output in ts: (0002,0000)
// first, with its value recomputed, then the others in order,
// TransferSyntaxUID replaced by ts (padded to an even length with a NUL,
// PS3.5 9.1).
func metaFor(meta *DataSet, ts string) []*Element {
	if len(ts)%2 == 1 {
		ts += "\x00"
	}
	out := make([]*Element, 1, len(meta.Elements)+1)
	var length int64
	for _, el := range meta.Elements {
		switch el.Tag {
		case 0x00020000:
			continue
		case TagTransferSyntaxUID:
			el = &Element{Tag: el.Tag, VR: "UI", Length: uint32(len(ts)), Value: []byte(ts)}
		}
		out = append(out, el)
		l, _ := encodedLen(el, explicitLE) // an error reappears when el is written
		length += l
	}
	gl := make([]byte, 4)
	binary.LittleEndian.PutUint32(gl, uint32(length))
	out[0] = &Element{Tag: 0x00020000, VR: "UL", Length: 4, Value: gl}
	return out
}

// outVR returns the VR written for el in explicit VR and whether it has a
// 4-byte length.
func outVR(el *Element) (string, bool) {
	var vr string
	var long bool
	if len(el.VR) == 2 {
		vr, long = lookupVR(el.VR[0], el.VR[1])
	}
	if vr == "" || vr == "SQ" || !long && int64(el.Length) > maxShortLength {
		return "UN", true
	}
	return vr, long
}

// isSequence reports whether el is written as a sequence of items.
func isSequence(el *Element) bool { return el.VR == "SQ" }

// checkNative rejects what cannot be written as a native value.
func checkNative(el *Element) error {
	if len(el.Fragments) > 0 || el.Length == UndefinedLength {
		return fmt.Errorf("element %s: encapsulated or undefined length %s value: %w", el.Tag, el.VR, ErrMalformed)
	}
	if !el.Bulk && int64(len(el.Value)) != int64(el.Length) {
		return fmt.Errorf("element %s: %d value bytes for length %d: %w", el.Tag, len(el.Value), el.Length, ErrMalformed)
	}
	return nil
}

// headerLen is the size of the header of el (a native value) in enc.
func headerLen(el *Element, enc encoding) int64 {
	if !enc.explicit {
		return 8
	}
	if _, long := outVR(el); long {
		return 12
	}
	return 8
}

// encodedLen is the number of bytes el takes in the output, encoded with
// enc: a sequence with undefined lengths (its header is 12 bytes in
// explicit VR, 8 in implicit VR; items and delimiters are 8), a value with
// its header.
func encodedLen(el *Element, enc encoding) (int64, error) {
	if isSequence(el) {
		n := int64(12 + 8) // header, sequence delimitation item
		if !enc.explicit {
			n = 8 + 8
		}
		for _, item := range el.Items {
			l, err := dataSetLen(item.Elements, enc)
			if err != nil {
				return 0, err
			}
			n += 8 + l + 8 // item, its delimitation item
		}
		return n, nil
	}
	if err := checkNative(el); err != nil {
		return 0, err
	}
	return headerLen(el, enc) + int64(el.Length), nil
}

func dataSetLen(els []*Element, enc encoding) (int64, error) {
	var n int64
	for _, el := range els {
		l, err := encodedLen(el, enc)
		if err != nil {
			return 0, err
		}
		n += l
	}
	return n, nil
}

// groupLength is the recomputed value of the group length element els[i]:
// the encoded size, in enc, of the elements of its group that follow it.
func groupLength(els []*Element, i int, enc encoding) (uint32, error) {
	g := els[i].Tag.Group()
	var n int64
	for _, el := range els[i+1:] {
		if el.Tag.Group() != g {
			break
		}
		l, err := encodedLen(el, enc)
		if err != nil {
			return 0, err
		}
		n += l
	}
	if n > 0xFFFFFFFF {
		return 0, fmt.Errorf("group %04X longer than 4 GiB", g)
	}
	return uint32(n), nil
}

// spanBulk widens [start, end) to cover every bulk value in els.
func spanBulk(els []*Element, start, end *int64) {
	for _, el := range els {
		for _, item := range el.Items {
			spanBulk(item.Elements, start, end)
		}
		if !el.Bulk || len(el.Fragments) > 0 || el.Length == UndefinedLength || el.Offset < 0 {
			continue
		}
		if *start < 0 || el.Offset < *start {
			*start = el.Offset
		}
		if e := el.Offset + int64(el.Length); e > *end {
			*end = e
		}
	}
}

// WordSize is the size of the words a big endian value of vr is made of
// (the numbers, AT and the O* VRs; 0 for the others): the unit in which
// it is byte swapped to little endian.
func WordSize(vr string) int {
	switch vr {
	case "US", "SS", "OW", "AT":
		return 2
	case "UL", "SL", "FL", "OF", "OL":
		return 4
	case "FD", "OD", "SV", "UV", "OV":
		return 8
	}
	return 0
}

// swapWords reverses each whole size-byte word of b in place; a trailing
// partial word is left alone.
func swapWords(b []byte, size int) {
	if size < 2 {
		return
	}
	for i := 0; i+size <= len(b); i += size {
		w := b[i : i+size]
		for j, k := 0, size-1; j < k; j, k = j+1, k-1 {
			w[j], w[k] = w[k], w[j]
		}
	}
}

type transcoder struct {
	bw      *bufio.Writer
	err     error // first write error
	buf     []byte
	lay     *Layout
	src     bulkSource
	meta    []*Element
	enc     encoding // of the elements being written: little endian, explicit VR or not
	pixelAt int64    // offset of the top level pixel data's value (frame 1), or 0
	count   int
	dec     *decodedPixels // replaced pixel data, or nil
}

func (t *transcoder) write(b []byte) {
	if t.err == nil {
		_, t.err = t.bw.Write(b)
	}
}

// header writes a tag and a length, with the VR vr (and a 4-byte length
// when long) in explicit VR; items and delimiters (vr "") and every
// element in implicit VR get a tag and a 4-byte length.
func (t *transcoder) header(tag Tag, vr string, long bool, length uint32) {
	var h [12]byte
	binary.LittleEndian.PutUint16(h[0:], tag.Group())
	binary.LittleEndian.PutUint16(h[2:], tag.Element())
	if vr == "" || !t.enc.explicit {
		binary.LittleEndian.PutUint32(h[4:], length)
		t.write(h[:8])
		return
	}
	h[4], h[5] = vr[0], vr[1]
	if !long {
		binary.LittleEndian.PutUint16(h[6:], uint16(length))
		t.write(h[:8])
		return
	}
	binary.LittleEndian.PutUint32(h[8:], length)
	t.write(h[:12])
}

func (t *transcoder) dataSet(ctx context.Context, els []*Element, depth int) error {
	for i, el := range els {
		if t.count++; t.count%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if t.err != nil {
			return t.err
		}
		if t.dec != nil && el == t.dec.el {
			if err := t.writeDecoded(ctx); err != nil {
				return err
			}
			continue
		}
		if isSequence(el) {
			t.header(el.Tag, "SQ", true, UndefinedLength)
			for _, item := range el.Items {
				t.header(TagItem, "", false, UndefinedLength)
				if err := t.dataSet(ctx, item.Elements, depth+1); err != nil {
					return err
				}
				t.header(TagItemDelimitation, "", false, 0)
			}
			t.header(TagSequenceDelimitation, "", false, 0)
			continue
		}
		if err := checkNative(el); err != nil {
			return err
		}
		vr, long := outVR(el)
		t.header(el.Tag, vr, long, el.Length)
		swap := 0
		if el.BigEndian {
			swap = WordSize(el.VR)
			if depth == 0 && isPixelTag(el.Tag) && el.Offset == t.pixelAt && t.lay.Swap != 0 {
				swap = t.lay.Swap
			}
		}
		switch {
		case el.Bulk:
			if err := t.copyValue(ctx, el, swap); err != nil {
				return err
			}
		case el.Tag.Element() == 0 && el.VR == "UL" && el.Length == 4 && (depth > 0 || el.Tag.Group() != 0x0002):
			gl, err := groupLength(els, i, t.enc)
			if err != nil {
				return err
			}
			var v [4]byte
			binary.LittleEndian.PutUint32(v[:], gl)
			t.write(v[:])
		case swap > 0:
			b := append(t.buf[:0], el.Value...)
			swapWords(b, swap)
			t.write(b)
		default:
			t.write(el.Value)
		}
	}
	return t.err
}

// copyValue copies the bulk value of el from the object, swapped.
func (t *transcoder) copyValue(ctx context.Context, el *Element, swap int) error {
	n := int64(el.Length)
	r, done, err := t.src.at(ctx, el.Offset, n)
	if err != nil {
		return fmt.Errorf("element %s: %w", el.Tag, err)
	}
	defer done()
	for n > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := int(min(n, int64(len(t.buf))))
		got, err := io.ReadFull(r, t.buf[:k])
		t.src.advance(r, int64(got))
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("element %s: read value at %d: %w", el.Tag, el.Offset, err)
		}
		swapWords(t.buf[:got], swap)
		t.write(t.buf[:got])
		if t.err != nil {
			return t.err
		}
		n -= int64(got)
	}
	return nil
}

// bulkSource reads the stored object forward only: one ranged read of
// [start, end) for plain objects, or the inflated stream from DeflatedAt
// for Deflated ones. Values before DeflatedAt (bulk values in the file
// meta group) get a ranged read of their own.
type bulkSource struct {
	open       OpenFunc
	lay        *Layout
	start, end int64         // span of the bulk values (not Deflated)
	rc         io.ReadCloser // the ranged read
	fr         io.ReadCloser // its inflater (Deflated)
	r          io.Reader     // rc or fr
	pos        int64         // logical offset of the next byte of r
}

func (s *bulkSource) close() {
	if s.fr != nil {
		s.fr.Close()
	}
	if s.rc != nil {
		s.rc.Close()
	}
	s.rc, s.fr, s.r = nil, nil, nil
}

// at returns a reader positioned at off for n bytes, and a function to
// call when done with it.
func (s *bulkSource) at(ctx context.Context, off, n int64) (io.Reader, func(), error) {
	if s.open == nil {
		return nil, nil, fmt.Errorf("bulk value at %d: no object to read from", off)
	}
	if s.lay.Deflated && off < s.lay.DeflatedAt {
		rc, err := s.open(ctx, off, n)
		if err != nil {
			return nil, nil, fmt.Errorf("open range %d+%d: %w", off, n, err)
		}
		return rc, func() { rc.Close() }, nil
	}
	if s.r == nil {
		var err error
		if s.lay.Deflated {
			s.rc, err = s.open(ctx, s.lay.DeflatedAt, -1)
			if err == nil {
				s.fr = flate.NewReader(bufio.NewReaderSize(s.rc, transcodeBufSize))
				s.r, s.pos = s.fr, s.lay.DeflatedAt
			}
		} else {
			if off < s.start || s.end < off+n {
				return nil, nil, fmt.Errorf("bulk value %d+%d outside the span %d-%d", off, n, s.start, s.end)
			}
			s.rc, err = s.open(ctx, s.start, s.end-s.start)
			s.r, s.pos = s.rc, s.start
		}
		if err != nil {
			return nil, nil, fmt.Errorf("open object: %w", err)
		}
	}
	if off < s.pos {
		return nil, nil, fmt.Errorf("bulk value at %d behind the read position %d", off, s.pos)
	}
	if off > s.pos {
		got, err := copyCtx(ctx, io.Discard, io.LimitReader(s.r, off-s.pos))
		s.pos += got
		if err != nil {
			return nil, nil, fmt.Errorf("skip to %d: %w", off, err)
		}
		if s.pos != off {
			return nil, nil, fmt.Errorf("skip to %d: object ends at %d: %w", off, s.pos, io.ErrUnexpectedEOF)
		}
	}
	return s.r, func() {}, nil
}

// advance records that got bytes were read from r.
func (s *bulkSource) advance(r io.Reader, got int64) {
	if r == s.r {
		s.pos += got
	}
}
