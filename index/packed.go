package index

import (
	_ "embed"
	"fmt"
	"slices"

	"github.com/klauspost/compress/s2"
)

// Packed attr lists and the built-in dictionaries (see doc.go, "Packed
// attrs"). Most of an attr list is the same few hundred tags, VRs,
// JSON framings and common values in every archive; an S2 block encoded
// against a fixed dictionary of them stores little more than what is
// particular to the study, series or instance.

// The built-in dictionaries. They are part of the file format: a stored
// value encoded with one can only be decoded with the same bytes, so they
// never change (TestBuiltinDicts pins their SHA-256). A better dictionary
// would be a new kind byte beside the old one. dicts/README.md says how
// they were made.
var (
	//go:embed dicts/attrs.v1
	attrDictBytes []byte
	//go:embed dicts/json.v1
	jsonDictBytes []byte

	attrDict = mustDict(attrDictBytes)
	jsonDict = mustDict(jsonDictBytes)
)

func mustDict(b []byte) *s2.Dict {
	d := s2.MakeDict(b, nil)
	if d == nil {
		panic(fmt.Sprintf("index: built-in dictionary of %d bytes is not usable", len(b)))
	}
	return d
}

// Kinds of packed attr lists (first byte of the attrs field of a record
// of version recordPacked).
const (
	attrsRaw = 0 // the attr list as is
	attrsS2  = 1 // an S2 block encoded with attrDict
)

// minPack is the shortest attr list worth an S2 block; maxAttrList the
// longest attr list Put accepts (decoding refuses longer ones, so a
// damaged length cannot make it allocate gigabytes).
const (
	minPack     = 16
	maxAttrList = 64 << 20
)

// packAttrs returns the stored form of an attr list: an S2 block with the
// built-in dictionary, or the list itself when that is not shorter.
func packAttrs(list []byte) []byte {
	return s2Pack(attrDict, attrsS2, attrsRaw, minPack, list)
}

// s2Pack returns the byte kind and b encoded with d, or the byte raw and b
// when that is not shorter or b is shorter than minLen.
func s2Pack(d *s2.Dict, kind, raw byte, minLen int, b []byte) []byte {
	if len(b) >= minLen {
		out := make([]byte, 1, 1+s2.MaxEncodedLen(len(b)))
		out[0] = kind
		out = append(out, d.Encode(out[1:cap(out)], b)...)
		if len(out) < 1+len(b) {
			return out
		}
	}
	out := make([]byte, 0, 1+len(b))
	return append(append(out, raw), b...)
}

// s2Unpack appends the decoding of the S2 block with dictionary d to buf;
// a block that says it decodes to more than max bytes is corrupt.
func s2Unpack(buf []byte, d *s2.Dict, block []byte, max int) ([]byte, error) {
	n, err := s2.DecodedLen(block)
	if err != nil {
		return buf, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	if n > max {
		return buf, fmt.Errorf("%w: block of %d bytes decoded, at most %d", errCorrupt, n, max)
	}
	buf = slices.Grow(buf, n)
	out, err := d.Decode(buf[len(buf):len(buf)+n], block)
	if err != nil || len(out) != n {
		return buf, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	return buf[:len(buf)+n], nil
}

// packedAttrs is the attrs field of a record: packed (kind byte first)
// or plain, the attr list itself (in records of version 1, and in records
// being created: the list is packed when the record is encoded). b
// aliases the record.
type packedAttrs struct {
	b     []byte
	plain bool
}

// stored returns the packed form to write back in a record.
func (p packedAttrs) stored() []byte {
	if p.plain {
		return packAttrs(p.b)
	}
	return p.b
}

// list returns the attr list. A raw list aliases the record; an S2 block
// is decoded and appended to *buf (buf nil: a new slice). Lists returned
// earlier from the same *buf stay valid: appending never overwrites them,
// it only moves later data to a new array when *buf is full.
func (p packedAttrs) list(buf *[]byte) ([]byte, error) {
	if p.plain {
		return p.b, nil
	}
	if len(p.b) == 0 {
		return nil, fmt.Errorf("attr list: %w: empty", errCorrupt)
	}
	switch p.b[0] {
	case attrsRaw:
		return p.b[1:], nil
	case attrsS2:
		var b []byte
		if buf != nil {
			b = *buf
		}
		start := len(b)
		b, err := s2Unpack(b, attrDict, p.b[1:], maxAttrList)
		if err != nil {
			return nil, fmt.Errorf("attr list: %w", err)
		}
		if buf != nil {
			*buf = b
		}
		return b[start:len(b):len(b)], nil // appending to it must not overwrite what follows
	}
	return nil, fmt.Errorf("attr list: %w: kind %d", errCorrupt, p.b[0])
}
