package retrieve

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/index"
)

// PatientRecords is the optional capability of an Index that knows patient
// records (*index.Index): the patient attributes (group 0010) a record
// gives a study, nil when the study's objects speak for themselves. With
// it, retrieved objects carry the record's values in place of theirs (the
// stored object is not changed).
type PatientRecords interface {
	PatientAttrs(ctx context.Context, study string) ([]index.Attr, error)
}

// patientAttrs returns the patient record's attributes for ref's study,
// nil when none.
func (s *Service) patientAttrs(ctx context.Context, ref *index.Ref) ([]index.Attr, error) {
	pr, ok := s.idx.(PatientRecords)
	if !ok {
		return nil, nil
	}
	attrs, err := pr.PatientAttrs(ctx, ref.StudyUID)
	if err != nil {
		return nil, fmt.Errorf("patient record: %w", err)
	}
	return attrs, nil
}

// patientValue encodes the values of a patient attribute for an object in
// character set cs: ASCII always; Latin-1 under ISO_IR 100; UTF-8 under
// ISO_IR 192. ok is false when the value cannot be written in the
// object's character set (the stored value is then kept) or the VR is not
// a string.
func patientValue(a index.Attr, cs []string) ([]byte, bool) {
	switch a.VR {
	case "PN", "LO", "SH", "CS", "DA", "TM", "DT", "AS", "LT", "ST", "UT", "UC", "DS", "IS":
	default:
		return nil, false
	}
	v := strings.Join(a.Values, `\`)
	var out []byte
	set := ""
	if len(cs) > 0 {
		set = strings.TrimSpace(cs[0])
	}
	for _, r := range v {
		switch {
		case r < 0x80:
			out = append(out, byte(r))
		case set == "ISO_IR 100" && r < 0x100:
			out = append(out, byte(r))
		case set == "ISO_IR 192" && len(cs) == 1:
			out = utf8.AppendRune(out, r)
		default:
			return nil, false
		}
	}
	if len(out)%2 == 1 {
		out = append(out, ' ')
	}
	return out, len(out) <= 0xFFFE
}

// patchDataSet puts the record's patient attributes into a parsed data
// set (for the re-encoding writers): each replaces the element of its tag
// or is added in tag order; an unencodable one is skipped, and a group
// length of group 0010 dropped.
func patchDataSet(f *part10.File, attrs []index.Attr) {
	ds := f.DataSet
	ds.Elements = slices.DeleteFunc(ds.Elements, func(e *part10.Element) bool { return e.Tag == 0x00100000 })
	for _, a := range attrs {
		if a.Tag == 0x00100000 {
			continue
		}
		val, ok := patientValue(a, f.CharacterSet)
		if !ok {
			continue
		}
		el := &part10.Element{Tag: part10.Tag(a.Tag), VR: a.VR, Length: uint32(len(val)), Value: val, BigEndian: f.TransferSyntax.BigEndian}
		i, found := slices.BinarySearchFunc(ds.Elements, el.Tag, func(e *part10.Element, t part10.Tag) int {
			switch {
			case e.Tag < t:
				return -1
			case e.Tag > t:
				return 1
			}
			return 0
		})
		if found {
			ds.Elements[i] = el
		} else {
			ds.Elements = slices.Insert(ds.Elements, i, el)
		}
	}
}

// edit is one change of the stored bytes: [off, off+n) replaced by b.
type edit struct {
	off, n int64
	b      []byte
}

// patientSplice plans the stored object f (size bytes) with the record's
// patient attributes: the edits to its bytes, in offset order. The object
// keeps its transfer syntax and every other byte.
func patientSplice(f *part10.File, size int64, attrs []index.Attr) ([]edit, bool) {
	ts := f.TransferSyntax
	if ts.Deflated {
		return nil, false // the data set is one deflated stream
	}
	var order binary.AppendByteOrder = binary.LittleEndian
	if ts.BigEndian {
		order = binary.BigEndian
	}
	els := f.DataSet.Elements
	start := func(e *part10.Element) int64 {
		switch {
		case !ts.ExplicitVR:
			return e.Offset - 8
		case longVR(e.VR):
			return e.Offset - 12
		}
		return e.Offset - 8
	}
	end := func(e *part10.Element) int64 {
		if e.Length == part10.UndefinedLength {
			return -1
		}
		return e.Offset + int64(e.Length)
	}
	header := func(tag uint32, vr string, n int) []byte {
		b := order.AppendUint16(nil, uint16(tag>>16))
		b = order.AppendUint16(b, uint16(tag))
		if !ts.ExplicitVR {
			return order.AppendUint32(b, uint32(n))
		}
		b = append(b, vr...)
		return order.AppendUint16(b, uint16(n))
	}
	var edits []edit
	for _, e := range els {
		if e.Tag == 0x00100000 {
			if end(e) < 0 {
				return nil, false
			}
			edits = append(edits, edit{off: start(e), n: end(e) - start(e)})
		}
	}
	for _, a := range attrs {
		val, ok := patientValue(a, f.CharacterSet)
		if !ok || a.Tag == 0x00100000 {
			continue
		}
		b := append(header(a.Tag, a.VR, len(val)), val...)
		i := slices.IndexFunc(els, func(e *part10.Element) bool { return uint32(e.Tag) >= a.Tag })
		switch {
		case i < 0: // after the last element
			edits = append(edits, edit{off: size, b: b})
		case uint32(els[i].Tag) == a.Tag:
			if end(els[i]) < 0 {
				continue
			}
			edits = append(edits, edit{off: start(els[i]), n: end(els[i]) - start(els[i]), b: b})
		default:
			edits = append(edits, edit{off: start(els[i]), b: b})
		}
	}
	slices.SortStableFunc(edits, func(x, y edit) int {
		switch {
		case x.off < y.off:
			return -1
		case x.off > y.off:
			return 1
		}
		return 0
	})
	return edits, len(edits) > 0
}

func longVR(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
		return true
	}
	return false
}

// splicedBody is the stored object with edits applied, streamed from
// ranged reads of the store.
func splicedBody(open part10.OpenFunc, size int64, edits []edit) *Body {
	total := size
	for _, e := range edits {
		total += int64(len(e.b)) - e.n
	}
	return &Body{Size: total, write: func(ctx context.Context, w io.Writer) error {
		pos := int64(0)
		copyRange := func(to int64) error {
			if to <= pos {
				return nil
			}
			rc, err := open(ctx, pos, to-pos)
			if err != nil {
				return fmt.Errorf("open range %d+%d: %w", pos, to-pos, err)
			}
			err = copyStored(w, rc, to-pos)
			rc.Close()
			pos = to
			return err
		}
		for _, e := range edits {
			if err := copyRange(e.off); err != nil {
				return err
			}
			if _, err := w.Write(e.b); err != nil {
				return err
			}
			pos = max(pos, e.off+e.n)
		}
		return copyRange(size)
	}}
}
