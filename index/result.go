package index

import (
	"encoding/binary"
	"unsafe"
)

// Encoded reports whether r carries its attributes in encoded form (see
// Query.Encoded) rather than in Study, Series and Instance.
func (r *Result) Encoded() bool { return r.encoded }

// Attrs returns the attributes of level l: the Study, Series or Instance
// field, or for an encoded result a decoded copy (allocated per call).
func (r *Result) Attrs(l Level) []Attr {
	if l < LevelStudy || l > LevelInstance {
		return nil
	}
	if !r.encoded {
		switch l {
		case LevelStudy:
			return r.Study
		case LevelSeries:
			return r.Series
		}
		return r.Instance
	}
	var out []Attr
	rd := r.Reader(l)
	for {
		a, ok := rd.Next()
		if !ok {
			return out
		}
		out = append(out, Attr{Tag: a.Tag, VR: a.VR, Values: a.Values(), JSON: a.JSON})
	}
}

// Reader returns a reader of the attributes of level l, in the order the
// result holds them (tag order for every result Search returns).
func (r *Result) Reader(l Level) AttrReader {
	if l < LevelStudy || l > LevelInstance {
		return AttrReader{}
	}
	if r.encoded {
		return AttrReader{enc: r.enc[l], encoded: true}
	}
	return AttrReader{attrs: r.Attrs(l)}
}

// AttrReader reads the attributes of one level of a Result without
// decoding their values or allocating. The zero value reads nothing.
type AttrReader struct {
	attrs   []Attr
	i       int
	enc     []byte // entries not read yet
	encoded bool
}

// AttrView is one attribute as an AttrReader sees it. Its JSON and value
// bytes belong to the Result: read-only.
type AttrView struct {
	Tag uint32
	VR  string
	// JSON is the attribute's DICOM JSON value object.
	JSON []byte
	// attr is the decoded attribute, or vals/n its encoded values.
	attr *Attr
	vals []byte
	n    int
}

// peek returns the tag of the next encoded entry and the entry's length;
// ok is false at the end or on a malformed entry (which ends the reader).
func (rd *AttrReader) peek() (tag uint32, size int, ok bool) {
	b := rd.enc
	if len(b) < 7 {
		rd.enc = nil
		return 0, 0, false
	}
	var body uint64
	var n int
	if b[6] < 0x80 {
		body, n = uint64(b[6]), 1
	} else if body, n = binary.Uvarint(b[6:]); n <= 0 {
		rd.enc = nil
		return 0, 0, false
	}
	if body > uint64(len(b)-6-n) {
		rd.enc = nil
		return 0, 0, false
	}
	return binary.BigEndian.Uint32(b), 6 + n + int(body), true
}

// decode decodes the entry of size bytes at the reader's position and
// moves past it.
func (rd *AttrReader) decode(size int) (AttrView, bool) {
	e := rd.enc[:size]
	rd.enc = rd.enc[size:]
	v := AttrView{Tag: binary.BigEndian.Uint32(e), VR: vrString(e[4:6])}
	_, n := uvarint(e[6:])
	b := e[6+n:]
	nv, n := uvarint(b)
	if n <= 0 || nv > uint64(len(b)) {
		rd.enc = nil
		return AttrView{}, false
	}
	b = b[n:]
	start := b
	for i := uint64(0); i < nv; i++ {
		l, n := uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			rd.enc = nil
			return AttrView{}, false
		}
		b = b[n+int(l):]
	}
	v.n = int(nv)
	v.vals = start[:len(start)-len(b)]
	l, n := uvarint(b)
	if n <= 0 || l > uint64(len(b)-n) {
		rd.enc = nil
		return AttrView{}, false
	}
	v.JSON = b[n : n+int(l) : n+int(l)]
	return v, true
}

// uvarint is binary.Uvarint with a fast path for one-byte values.
func uvarint(b []byte) (uint64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	return binary.Uvarint(b)
}

// Next returns the next attribute; false at the end.
func (rd *AttrReader) Next() (AttrView, bool) {
	if !rd.encoded {
		if rd.i >= len(rd.attrs) {
			return AttrView{}, false
		}
		a := &rd.attrs[rd.i]
		rd.i++
		return AttrView{Tag: a.Tag, VR: a.VR, JSON: a.JSON, attr: a}, true
	}
	_, size, ok := rd.peek()
	if !ok {
		return AttrView{}, false
	}
	return rd.decode(size)
}

// Seek skips to the attribute with the tag, if the level has it: it
// consumes the attributes before it (without decoding them) and leaves
// later ones for the next Seek or Next. The attributes must be in tag
// order and the tags sought in ascending order.
func (rd *AttrReader) Seek(tag uint32) (AttrView, bool) {
	if !rd.encoded {
		for rd.i < len(rd.attrs) && rd.attrs[rd.i].Tag < tag {
			rd.i++
		}
		if rd.i < len(rd.attrs) && rd.attrs[rd.i].Tag == tag {
			return rd.Next()
		}
		return AttrView{}, false
	}
	for {
		t, size, ok := rd.peek()
		if !ok || t > tag {
			return AttrView{}, false
		}
		if t == tag {
			return rd.decode(size)
		}
		rd.enc = rd.enc[size:]
	}
}

// First returns the first value ("" when there is none) without
// allocating.
func (a AttrView) First() string {
	if a.attr != nil {
		if len(a.attr.Values) == 0 {
			return ""
		}
		return a.attr.Values[0]
	}
	if a.n == 0 {
		return ""
	}
	d := dec{b: a.vals}
	v := d.bytes()
	if len(v) == 0 {
		return ""
	}
	// The bytes belong to the search's arena, never written again.
	return unsafe.String(&v[0], len(v))
}

// Values returns the values; for an encoded result a new slice of strings
// sharing the result's memory.
func (a AttrView) Values() []string {
	if a.attr != nil {
		return a.attr.Values
	}
	if a.n == 0 {
		return nil
	}
	out := make([]string, 0, a.n)
	d := dec{b: a.vals}
	for i := 0; i < a.n; i++ {
		v := d.bytes()
		if d.err != nil {
			break
		}
		if len(v) == 0 {
			out = append(out, "")
		} else {
			out = append(out, unsafe.String(&v[0], len(v)))
		}
	}
	return out
}
