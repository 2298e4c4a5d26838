package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"slices"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/storage"
)

// sameDataSet reports whether a new part holds the same instance as the
// stored object of ref although their bytes differ. Senders re-encode: each
// front door writes its own file meta group (DIMSE builds one, a STOW
// client sends the file's own), and a DIMSE sender such as DCMTK storescu
// writes the data set again in the transfer syntax it negotiated. So the
// two data sets are compared in a normal form (see sameElements) that
// ignores
//   - the file meta group (0002) and every group length (gggg,0000);
//   - trailing spaces and NULs of string values;
//   - defined or undefined lengths of sequences and items;
//   - the native transfer syntax: Implicit VR Little Endian, Explicit VR
//     Little Endian, Deflated and Explicit VR Big Endian are compared
//     value by value, little endian, the VR taken from the side that
//     states it (an implicit VR is the dictionary's guess, UN is unknown);
//     a private sequence that one side holds as UN of defined length is
//     read as the Implicit VR Little Endian items it is.
//
// Encapsulated (compressed) data sets must have the same transfer syntax,
// and then compare the same way with every pixel data fragment (offset
// table included) byte for byte. Anything else (a value, an element more
// or less, a VR both sides state differently) is other content.
//
// The stored object is read back by ranged reads and parsed like the new
// part; bulk values (pixel data, large OB/OW/UN) are streamed through
// SHA-256 on both sides, never held in memory. Any doubt (the stored
// object does not parse, a read error) answers false: the caller then
// refuses the part as a duplicate, as it would without this check.
func (g *Ingester) sameDataSet(ctx context.Context, ref *index.Ref, f *part10.File, p *Part) (bool, error) {
	storedTS, ok := part10.LookupTransferSyntax(ref.TransferSyntaxUID)
	if !ok {
		return false, nil
	}
	if (storedTS.Encapsulated || f.TransferSyntax.Encapsulated) && storedTS.UID != f.TransferSyntax.UID {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	open := func(ctx context.Context, off, n int64) (io.ReadCloser, error) {
		if n < 0 {
			n = ref.Size - off
		}
		return storage.GetRange(ctx, g.store, ref.ObjectKey, off, n)
	}
	ra := part10.NewObjectReader(ctx, open, ref.Size)
	sf, err := part10.Parse(ctx, ra, ref.Size, g.limits)
	ra.Close()
	switch {
	case ra.Err() != nil:
		return false, fmt.Errorf("read the stored object: %w", ra.Err())
	case err != nil:
		return false, fmt.Errorf("parse the stored object: %w", err)
	}
	if sf.TransferSyntax.UID != storedTS.UID {
		return false, nil
	}
	stored := &side{lay: &sf.Layout, open: open, implicit: !sf.TransferSyntax.ExplicitVR}
	part := &side{lay: &f.Layout, open: readerAtOpener(p.f, p.Size), implicit: !f.TransferSyntax.ExplicitVR}
	return sameElements(ctx, stored, sf.DataSet.Elements, part, f.DataSet.Elements, true)
}

// side is one of the two data sets compared: how to read its bulk values
// and whether its VRs are the dictionary's (Implicit VR).
type side struct {
	lay      *part10.Layout
	open     part10.OpenFunc
	implicit bool
}

// tagTrailingPadding is Data Set Trailing Padding (FFFC,FFFC), which has
// no significance (PS3.10 7.2).
const tagTrailingPadding part10.Tag = 0xFFFCFFFC

// normalElements returns els without group lengths and trailing padding,
// in tag order.
func normalElements(els []*part10.Element) []*part10.Element {
	out := make([]*part10.Element, 0, len(els))
	for _, el := range els {
		if el.Tag.Element() != 0x0000 && el.Tag != tagTrailingPadding {
			out = append(out, el)
		}
	}
	slices.SortStableFunc(out, func(x, y *part10.Element) int {
		switch {
		case x.Tag < y.Tag:
			return -1
		case x.Tag > y.Tag:
			return 1
		}
		return 0
	})
	return out
}

// sameElements compares two lists of elements (a data set or an item) in
// the normal form described at sameDataSet.
func sameElements(ctx context.Context, a *side, as []*part10.Element, b *side, bs []*part10.Element, top bool) (bool, error) {
	as, bs = normalElements(as), normalElements(bs)
	if len(as) != len(bs) {
		return false, nil
	}
	for i := range as {
		if as[i].Tag != bs[i].Tag {
			return false, nil
		}
		if err := ctx.Err(); err != nil {
			return false, err
		}
		same, err := sameElement(ctx, a, as[i], b, bs[i], top)
		if !same || err != nil {
			return false, err
		}
	}
	return true, nil
}

// valueVR is the VR that a value of x is compared as, given its
// counterpart y: a VR read from the file wins over a dictionary guess and
// over UN. ok is false when both sides state different VRs.
func valueVR(a *side, x *part10.Element, b *side, y *part10.Element) (vr string, ok bool) {
	switch {
	case x.VR == y.VR:
		return x.VR, true
	case a.implicit && b.implicit:
		return x.VR, false // cannot happen for the same data set
	case a.implicit || x.VR == "UN":
		return y.VR, true
	case b.implicit || y.VR == "UN":
		return x.VR, true
	}
	return "", false
}

// sameElement compares two elements of the same tag; top is true at the
// top level of the data set (where native pixel data has the Layout's
// word size).
func sameElement(ctx context.Context, a *side, x *part10.Element, b *side, y *part10.Element, top bool) (bool, error) {
	sqX, sqY := x.VR == "SQ", y.VR == "SQ"
	switch {
	case sqX && sqY:
		if len(x.Items) != len(y.Items) {
			return false, nil
		}
		for i := range x.Items {
			same, err := sameElements(ctx, a, x.Items[i].Elements, b, y.Items[i].Elements, false)
			if !same || err != nil {
				return false, err
			}
		}
		return true, nil
	case sqX || sqY:
		// A sequence against a value: a private sequence of defined length
		// read as UN (Implicit VR, or sent as UN) holds its items encoded
		// in Implicit VR Little Endian.
		if sqY {
			a, x, b, y = b, y, a, x
		}
		if y.VR != "UN" && !b.implicit {
			return false, nil
		}
		seq, sub := asSequence(ctx, y)
		if seq == nil {
			return false, nil
		}
		return sameElement(ctx, a, x, sub, seq, false)
	}
	vr, ok := valueVR(a, x, b, y)
	if !ok {
		return false, nil
	}
	if x.Tag == part10.TagPixelData && (x.Length == part10.UndefinedLength || y.Length == part10.UndefinedLength) {
		return sameFragments(ctx, a, x, b, y)
	}
	if !part10.IsStringVR(vr) && x.Length != y.Length {
		return false, nil
	}
	if !x.Bulk && !y.Bulk {
		return bytes.Equal(normalValue(x, vr), normalValue(y, vr)), nil
	}
	hx, err := valueHash(ctx, a, x, vr, top)
	if err != nil {
		return false, err
	}
	hy, err := valueHash(ctx, b, y, vr, top)
	if err != nil {
		return false, err
	}
	return hx == hy, nil
}

// normalValue is an inline value in the normal form: a string without its
// trailing padding, a binary value in little endian.
func normalValue(el *part10.Element, vr string) []byte {
	if part10.IsStringVR(vr) {
		return bytes.TrimRight(el.Value, " \x00")
	}
	if n := swapSize(el, nil); n > 1 {
		v := bytes.Clone(el.Value)
		for i := 0; i+n <= len(v); i += n {
			slices.Reverse(v[i : i+n])
		}
		return v
	}
	return el.Value
}

// swapSize is the word size by which el's value is swapped to little
// endian (0: none): that of its VR, or for the pixel data of the top level
// data set lay.Swap (which follows BitsAllocated) when lay is not nil.
func swapSize(el *part10.Element, lay *part10.Layout) int {
	if !el.BigEndian {
		return 0
	}
	if lay != nil && lay.Swap > 0 && (el.Tag == part10.TagPixelData || el.Tag == part10.TagFloatPixelData || el.Tag == part10.TagDoubleFloatPixelData) {
		return lay.Swap
	}
	return part10.WordSize(el.VR)
}

// valueHash is the SHA-256 of el's value in the normal form, streamed from
// the object for a bulk value.
func valueHash(ctx context.Context, s *side, el *part10.Element, vr string, top bool) ([32]byte, error) {
	if !el.Bulk {
		return sha256.Sum256(normalValue(el, vr)), nil
	}
	var lay *part10.Layout
	if top {
		lay = s.lay
	}
	return rangesHash(ctx, s, []part10.Range{{Offset: el.Offset, Length: int64(el.Length)}}, swapSize(el, lay))
}

func rangesHash(ctx context.Context, s *side, ranges []part10.Range, swap int) ([32]byte, error) {
	h := sha256.New()
	bv := part10.BulkValue{Ranges: ranges, Swap: swap}
	if err := part10.WriteBulk(ctx, h, s.open, s.lay, bv); err != nil {
		return [32]byte{}, fmt.Errorf("read a bulk value: %w", err)
	}
	return [32]byte(h.Sum(nil)), nil
}

// sameFragments compares encapsulated pixel data fragment by fragment.
func sameFragments(ctx context.Context, a *side, x *part10.Element, b *side, y *part10.Element) (bool, error) {
	if x.Length != y.Length || len(x.Fragments) != len(y.Fragments) {
		return false, nil
	}
	for i, fx := range x.Fragments {
		fy := y.Fragments[i]
		if fx.Length != fy.Length {
			return false, nil
		}
		hx, err := rangesHash(ctx, a, []part10.Range{part10.Range(fx)}, 0)
		if err != nil {
			return false, err
		}
		hy, err := rangesHash(ctx, b, []part10.Range{part10.Range(fy)}, 0)
		if err != nil || hx != hy {
			return false, err
		}
	}
	return true, nil
}

// asSequence reads the inline value of el as the items of a sequence in
// Implicit VR Little Endian, by part10.Parse on a small object made of a
// file meta group and one element holding the value under a tag whose
// dictionary VR is SQ. It returns nil when the value is not such items (or
// is a bulk value, which is not tried).
func asSequence(ctx context.Context, el *part10.Element) (*part10.Element, *side) {
	if el.Bulk || el.Value == nil {
		return nil, nil
	}
	const carrier = part10.Tag(0x00081115) // ReferencedSeriesSequence, SQ
	obj := part10.FileMeta("1.2", "1.2", part10.ImplicitVRLittleEndian, "1.2", "")
	obj = binary.LittleEndian.AppendUint16(obj, carrier.Group())
	obj = binary.LittleEndian.AppendUint16(obj, carrier.Element())
	obj = binary.LittleEndian.AppendUint32(obj, uint32(len(el.Value)))
	obj = append(obj, el.Value...)
	f, err := part10.Parse(ctx, bytes.NewReader(obj), int64(len(obj)), part10.Limits{})
	if err != nil || len(f.DataSet.Elements) != 1 || f.DataSet.Elements[0].VR != "SQ" {
		return nil, nil
	}
	return f.DataSet.Elements[0], &side{lay: &f.Layout, implicit: true, open: readerAtOpener(bytes.NewReader(obj), int64(len(obj)))}
}

// readerAtOpener opens ranged reads of the object of the given size in r.
func readerAtOpener(r io.ReaderAt, size int64) part10.OpenFunc {
	return func(_ context.Context, off, n int64) (io.ReadCloser, error) {
		if n < 0 {
			n = size - off
		}
		return io.NopCloser(io.NewSectionReader(r, off, n)), nil
	}
}
