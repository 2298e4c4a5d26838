package index

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"time"
)

// recordVersion is the first byte of every record; instance, study,
// series and patient records written since schema 3 have recordPacked
// (their attrs field is packed, see packed.go) and are read in both.
const (
	recordVersion = 1
	recordPacked  = 2
)

// errCorrupt reports a record that cannot be decoded.
var errCorrupt = errors.New("index: corrupt record")

// enc appends the record encoding to buf.
type enc struct{ buf []byte }

func (e *enc) byte(b byte)          { e.buf = append(e.buf, b) }
func (e *enc) uv(v uint64)          { e.buf = binary.AppendUvarint(e.buf, v) }
func (e *enc) sv(v int64)           { e.buf = binary.AppendVarint(e.buf, v) }
func (e *enc) raw(b []byte)         { e.buf = append(e.buf, b...) }
func (e *enc) bytes(b []byte)       { e.uv(uint64(len(b))); e.buf = append(e.buf, b...) }
func (e *enc) str(s string)         { e.uv(uint64(len(s))); e.buf = append(e.buf, s...) }
func (e *enc) bool(b bool)          { e.byte(boolByte(b)) }
func (e *enc) time(t time.Time)     { e.sv(unixNano(t)) }
func (e *enc) opt(ok bool, v int64) { e.bool(ok); e.sv(v) }

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// dec reads a record. The first error sticks; later reads return zero
// values. Byte slices it returns alias the input.
type dec struct {
	b   []byte
	err error
}

func (d *dec) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.b = nil
}

func (d *dec) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *dec) uv() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) sv() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) fixed(n int) []byte {
	if len(d.b) < n {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) bytes() []byte {
	n := d.uv()
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	return d.fixed(int(n))
}

func (d *dec) str() string { return string(d.bytes()) }

func (d *dec) bool() bool { return d.byte() != 0 }

func (d *dec) version() {
	if d.byte() != recordVersion {
		d.fail()
	}
}

// versionAttrs reads the version byte of a record that has an attrs
// field; its result is the plain flag of that field (see packedAttrs).
func (d *dec) versionAttrs() (plain bool) {
	v := d.byte()
	if v != recordVersion && v != recordPacked {
		d.fail()
	}
	return v == recordVersion
}

// attrs reads an attrs field.
func (d *dec) attrs(plain bool) packedAttrs { return packedAttrs{b: d.bytes(), plain: plain} }

// appendAttrs encodes an attribute list (see doc.go). attrs must be sorted
// by tag.
func appendAttrs(buf []byte, attrs []Attr) []byte {
	e := enc{buf: buf}
	e.uv(uint64(len(attrs)))
	var body enc
	for i := range attrs {
		a := &attrs[i]
		var t [4]byte
		binary.BigEndian.PutUint32(t[:], a.Tag)
		e.raw(t[:])
		e.raw([]byte(a.VR))
		body.buf = body.buf[:0]
		body.uv(uint64(len(a.Values)))
		for _, v := range a.Values {
			body.str(v)
		}
		body.bytes(a.JSON)
		e.bytes(body.buf)
	}
	return e.buf
}

// objectKey encodes an object key that usually contains the hex SHA-256 of
// the object: uv position of the hash + 1 (0: not contained) | str the key
// without the hash.
func (e *enc) objectKey(key string, sum [32]byte) {
	x := hex.EncodeToString(sum[:])
	if i := strings.Index(key, x); i >= 0 {
		e.uv(uint64(i) + 1)
		e.str(key[:i] + key[i+len(x):])
		return
	}
	e.uv(0)
	e.str(key)
}

// objectKey decodes what enc.objectKey wrote.
func (d *dec) objectKey(sum [32]byte) string {
	pos := d.uv()
	rest := d.bytes()
	if pos == 0 || d.err != nil {
		return string(rest)
	}
	if pos-1 > uint64(len(rest)) {
		d.fail()
		return ""
	}
	i := int(pos - 1)
	var x [64]byte
	hex.Encode(x[:], sum[:])
	out := make([]byte, 0, len(rest)+len(x))
	out = append(append(append(out, rest[:i]...), x[:]...), rest[i:]...)
	return string(out)
}

// rawAttr is one attribute of an encoded attr list, aliasing the list.
type rawAttr struct {
	Tag  uint32
	VR   string
	n    int
	vals []byte // n length-prefixed values
	JSON []byte
}

// attrIter walks an encoded attr list without allocating.
type attrIter struct {
	d    dec
	left uint64
}

func newAttrIter(list []byte) attrIter {
	it := attrIter{d: dec{b: list}}
	if len(list) > 0 {
		it.left = it.d.uv()
	}
	return it
}

// next returns the next attribute; ok is false at the end or on corrupt
// input (it.d.err tells which).
func (it *attrIter) next() (a rawAttr, ok bool) {
	if it.left == 0 || it.d.err != nil {
		return a, false
	}
	it.left--
	hdr := it.d.fixed(6)
	body := it.d.bytes()
	if it.d.err != nil {
		return a, false
	}
	a.Tag = binary.BigEndian.Uint32(hdr)
	a.VR = vrString(hdr[4:6])
	bd := dec{b: body}
	a.n = int(bd.uv())
	start := bd.b
	for i := 0; i < a.n; i++ {
		bd.bytes()
	}
	if bd.err != nil {
		it.d.fail()
		return a, false
	}
	a.vals = start[:len(start)-len(bd.b)]
	a.JSON = bd.bytes()
	if bd.err != nil {
		it.d.fail()
		return a, false
	}
	return a, true
}

// findAttr returns the attribute with the tag from an encoded attr list.
func findAttr(list []byte, tag uint32) (rawAttr, bool) {
	it := newAttrIter(list)
	for {
		a, ok := it.next()
		if !ok || a.Tag > tag {
			return rawAttr{}, false
		}
		if a.Tag == tag {
			return a, true
		}
	}
}

// each calls fn with every value (aliasing the record) until fn returns
// true; it reports whether fn did.
func (a rawAttr) each(fn func(v []byte) bool) bool {
	d := dec{b: a.vals}
	for i := 0; i < a.n; i++ {
		v := d.bytes()
		if d.err != nil {
			return false
		}
		if fn(v) {
			return true
		}
	}
	return false
}

// vrString returns the VR as a string without allocating for known VRs.
func vrString(b []byte) string {
	switch string(b) {
	case "AE":
		return "AE"
	case "AS":
		return "AS"
	case "AT":
		return "AT"
	case "CS":
		return "CS"
	case "DA":
		return "DA"
	case "DS":
		return "DS"
	case "DT":
		return "DT"
	case "FD":
		return "FD"
	case "FL":
		return "FL"
	case "IS":
		return "IS"
	case "LO":
		return "LO"
	case "LT":
		return "LT"
	case "PN":
		return "PN"
	case "SH":
		return "SH"
	case "SL":
		return "SL"
	case "SQ":
		return "SQ"
	case "SS":
		return "SS"
	case "ST":
		return "ST"
	case "SV":
		return "SV"
	case "TM":
		return "TM"
	case "UC":
		return "UC"
	case "UI":
		return "UI"
	case "UL":
		return "UL"
	case "UN":
		return "UN"
	case "UR":
		return "UR"
	case "US":
		return "US"
	case "UT":
		return "UT"
	case "UV":
		return "UV"
	}
	return string(b)
}

// sortKeyLen is the length of a study sort key: YYYYMMDD + HHMMSS.ffffff.
const sortKeyLen = 21

// instRec is a decoded instance record. Byte slices alias the input.
type instRec struct {
	Ref
	Stored     int64
	HasNumber  bool
	Number     int64
	attrs      packedAttrs
	layoutView []byte
}

// encodeInst encodes an instance record; list is the attr list of
// in.Instance.
func encodeInst(in *Instance, hasNum bool, num int64, list []byte) []byte {
	e := enc{buf: make([]byte, 0, 256+len(in.Layout))}
	e.byte(recordPacked)
	e.str(in.StudyUID)
	e.str(in.SeriesUID)
	e.str(in.SOPClassUID)
	e.str(in.TransferSyntaxUID)
	e.raw(in.SHA256[:])
	e.objectKey(in.ObjectKey, in.SHA256)
	e.uv(uint64(in.Size))
	e.time(in.Stored)
	e.opt(hasNum, num)
	e.bytes(in.Layout)
	e.bytes(packAttrs(list))
	return e.buf
}

// decodeInst decodes the instance record v stored under the SOP Instance
// UID sop.
func decodeInst(sop, b []byte) (instRec, error) {
	d := dec{b: b}
	var r instRec
	plain := d.versionAttrs()
	r.SOPInstanceUID = string(sop)
	r.StudyUID = d.str()
	r.SeriesUID = d.str()
	r.SOPClassUID = d.str()
	r.TransferSyntaxUID = d.str()
	copy(r.SHA256[:], d.fixed(32))
	r.ObjectKey = d.objectKey(r.SHA256)
	r.Size = int64(d.uv())
	r.Stored = d.sv()
	r.HasNumber = d.bool()
	r.Number = d.sv()
	r.layoutView = d.bytes()
	r.attrs = d.attrs(plain)
	if d.err != nil {
		return instRec{}, d.err
	}
	return r, nil
}

// ref copies the Ref out, including the layout.
func (r *instRec) ref() *Ref {
	ref := r.Ref
	if len(r.layoutView) > 0 {
		ref.Layout = append([]byte(nil), r.layoutView...)
	}
	return &ref
}

// counted is a multiset entry (modality or SOP class with its count).
type counted struct {
	Name string
	N    uint64
}

// studyRec is a decoded study record. Byte slices alias the input.
type studyRec struct {
	PatientID, Issuer []byte
	Demo              []byte
	SortKey           [sortKeyLen]byte
	NSeries, NInst    uint64
	Modalities        []counted // sorted by name; see sets
	SOPClasses        []counted // sorted by name; see sets
	Created           int64
	Attrs             packedAttrs
	// sets is the encoded Modalities and SOPClasses, decoded into them by
	// decodeSets (searching decodes them only when needed).
	sets    []byte
	decoded bool
}

func (s *studyRec) encode() []byte {
	attrs := s.Attrs.stored()
	e := enc{buf: make([]byte, 0, 96+len(s.Demo)+len(attrs)+len(s.Modalities)*8+len(s.SOPClasses)*32)}
	e.byte(recordPacked)
	e.bytes(s.PatientID)
	e.bytes(s.Issuer)
	e.bytes(s.Demo)
	e.raw(s.SortKey[:])
	e.uv(s.NSeries)
	e.uv(s.NInst)
	if !s.decoded {
		e.raw(s.sets) // same encoding, not decoded
	} else {
		for _, set := range [][]counted{s.Modalities, s.SOPClasses} {
			e.uv(uint64(len(set)))
			for _, c := range set {
				e.str(c.Name)
				e.uv(c.N)
			}
		}
	}
	e.sv(s.Created)
	e.bytes(attrs)
	return e.buf
}

// decodeStudy decodes a study record; with full unset the modality and
// SOP class sets are left for decodeSets.
func decodeStudy(b []byte, full bool) (studyRec, error) {
	d := dec{b: b}
	var s studyRec
	plain := d.versionAttrs()
	s.PatientID = d.bytes()
	s.Issuer = d.bytes()
	s.Demo = d.bytes()
	copy(s.SortKey[:], d.fixed(sortKeyLen))
	s.NSeries = d.uv()
	s.NInst = d.uv()
	start := d.b
	for range 2 {
		n := d.uv()
		for i := uint64(0); i < n && d.err == nil; i++ {
			d.bytes()
			d.uv()
		}
	}
	if d.err == nil {
		s.sets = start[:len(start)-len(d.b)]
	}
	s.Created = d.sv()
	s.Attrs = d.attrs(plain)
	if d.err != nil {
		return studyRec{}, d.err
	}
	if full {
		if err := s.decodeSets(); err != nil {
			return studyRec{}, err
		}
	}
	return s, nil
}

// decodeSets fills Modalities and SOPClasses from the record.
func (s *studyRec) decodeSets() error {
	if s.decoded {
		return nil
	}
	d := dec{b: s.sets}
	for _, set := range []*[]counted{&s.Modalities, &s.SOPClasses} {
		n := d.uv()
		if n > uint64(len(d.b)) {
			d.fail()
			break
		}
		*set = make([]counted, 0, n)
		for i := uint64(0); i < n && d.err == nil; i++ {
			*set = append(*set, counted{Name: d.str(), N: d.uv()})
		}
	}
	if d.err != nil {
		return d.err
	}
	s.decoded = true
	return nil
}

// addCounted increments name in a sorted multiset and reports whether it
// is new.
func addCounted(set []counted, name string) ([]counted, bool) {
	for i := range set {
		if set[i].Name == name {
			set[i].N++
			return set, false
		}
		if set[i].Name > name {
			set = append(set, counted{})
			copy(set[i+1:], set[i:])
			set[i] = counted{Name: name, N: 1}
			return set, true
		}
	}
	return append(set, counted{Name: name, N: 1}), true
}

// subCounted decrements name and reports whether it dropped out.
func subCounted(set []counted, name string) ([]counted, bool) {
	for i := range set {
		if set[i].Name == name {
			if set[i].N > 1 {
				set[i].N--
				return set, false
			}
			return append(set[:i], set[i+1:]...), true
		}
	}
	return set, false
}

// seriesRec is a decoded series record. Attrs aliases the input.
type seriesRec struct {
	HasNumber bool
	Number    int64
	Modality  string
	NInst     uint64
	Attrs     packedAttrs
}

func (s *seriesRec) encode() []byte {
	attrs := s.Attrs.stored()
	e := enc{buf: make([]byte, 0, 32+len(s.Modality)+len(attrs))}
	e.byte(recordPacked)
	e.opt(s.HasNumber, s.Number)
	e.str(s.Modality)
	e.uv(s.NInst)
	e.bytes(attrs)
	return e.buf
}

func decodeSeries(b []byte) (seriesRec, error) {
	d := dec{b: b}
	var s seriesRec
	plain := d.versionAttrs()
	s.HasNumber = d.bool()
	s.Number = d.sv()
	s.Modality = d.str()
	s.NInst = d.uv()
	s.Attrs = d.attrs(plain)
	if d.err != nil {
		return seriesRec{}, d.err
	}
	return s, nil
}

// patientRec is a decoded patient record.
type patientRec struct {
	NStudies uint64
	Attrs    packedAttrs
}

func (p *patientRec) encode() []byte {
	attrs := p.Attrs.stored()
	e := enc{buf: make([]byte, 0, 16+len(attrs))}
	e.byte(recordPacked)
	e.uv(p.NStudies)
	e.bytes(attrs)
	return e.buf
}

func decodePatient(b []byte) (patientRec, error) {
	d := dec{b: b}
	var p patientRec
	plain := d.versionAttrs()
	p.NStudies = d.uv()
	p.Attrs = d.attrs(plain)
	if d.err != nil {
		return patientRec{}, d.err
	}
	return p, nil
}

// orderBytes encodes an optional number so that byte order is numeric
// order, missing numbers last.
func orderBytes(has bool, n int64) [8]byte {
	var b [8]byte
	if !has {
		for i := range b {
			b[i] = 0xFF
		}
		return b
	}
	binary.BigEndian.PutUint64(b[:], uint64(n)^(1<<63))
	return b
}
