package index

import (
	"encoding/binary"
	"strconv"
	"unsafe"
)

// arena allocates what one Search copies out of its read transaction
// (results, their attribute slices, value strings and bytes) in chunks, so
// that a search with many results makes a few larger allocations instead of
// a dozen small ones per result. Chunks start small (a search with three
// results stays cheap) and double up to a cap.
//
// Memory handed out is never written again, until reset (Query.Reuse):
// value strings are made with unsafe.String over arena bytes, and callers
// treat Result attributes as read-only (see Search). A full chunk is
// replaced, never grown in place.
type arena struct {
	bytes   []byte
	attrs   []Attr
	strs    []string
	results []Result
	// scratch builds computed JSON and out encoded lists before they are
	// copied in; both are reused and never handed out.
	scratch, out []byte
}

// Chunk sizes: first and largest, per kind.
const (
	arenaBytesMin, arenaBytesMax     = 2 << 10, 256 << 10
	arenaAttrsMin, arenaAttrsMax     = 32, 4096
	arenaStrsMin, arenaStrsMax       = 32, 4096
	arenaResultsMin, arenaResultsMax = 4, 512
)

// reset makes the arena hand out its current chunks again, from their
// start: everything handed out before is overwritten (Query.Reuse). The
// chunks it already outgrew are left to the GC; so after a few batches its
// chunks are as large as a batch needs (up to the caps) and stay.
func (a *arena) reset() {
	a.bytes, a.attrs, a.strs, a.results = a.bytes[:0], a.attrs[:0], a.strs[:0], a.results[:0]
}

// nextCap is the capacity of the chunk after one of capacity c, at least n.
func nextCap(c, lo, hi, n int) int {
	c = max(2*c, lo)
	c = min(c, hi)
	return max(c, n)
}

// copyBytes returns a copy of b in the arena (nil for nil).
func (a *arena) copyBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	if len(b) > cap(a.bytes)-len(a.bytes) {
		a.bytes = make([]byte, 0, nextCap(cap(a.bytes), arenaBytesMin, arenaBytesMax, len(b)))
	}
	n := len(a.bytes)
	a.bytes = append(a.bytes, b...)
	return a.bytes[n:len(a.bytes):len(a.bytes)]
}

// attrSlice returns an empty slice with room for exactly n attributes.
func (a *arena) attrSlice(n int) []Attr {
	if n > cap(a.attrs)-len(a.attrs) {
		a.attrs = make([]Attr, 0, nextCap(cap(a.attrs), arenaAttrsMin, arenaAttrsMax, n))
	}
	l := len(a.attrs)
	a.attrs = a.attrs[:l+n]
	return a.attrs[l : l : l+n]
}

// strSlice returns a slice of n empty strings.
func (a *arena) strSlice(n int) []string {
	if n == 0 {
		return nil
	}
	if n > cap(a.strs)-len(a.strs) {
		a.strs = make([]string, 0, nextCap(cap(a.strs), arenaStrsMin, arenaStrsMax, n))
	}
	l := len(a.strs)
	a.strs = a.strs[:l+n]
	ss := a.strs[l : l+n : l+n]
	clear(ss) // reused after reset
	return ss
}

// result returns a new zero Result.
func (a *arena) result() *Result {
	if len(a.results) == cap(a.results) {
		a.results = make([]Result, 0, nextCap(cap(a.results), arenaResultsMin, arenaResultsMax, 1))
	}
	a.results = a.results[:len(a.results)+1]
	r := &a.results[len(a.results)-1]
	*r = Result{} // reused after reset
	return r
}

// str returns b as an arena string.
func (a *arena) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	c := a.copyBytes(b)
	return unsafe.String(&c[0], len(c))
}

// copyAttrs decodes an encoded attr list (which may alias the
// transaction) into arena attributes, merging computed in: a computed
// attribute replaces a stored one with the same tag. computed must be
// sorted by tag and already live in the arena (or the heap).
func (a *arena) copyAttrs(list []byte, computed []Attr) ([]Attr, error) {
	buf := a.copyBytes(list)
	it := newAttrIter(buf)
	if it.left > uint64(len(buf)) {
		return nil, errCorrupt
	}
	out := a.attrSlice(int(it.left) + len(computed))
	ci := 0
	for {
		ra, ok := it.next()
		if !ok {
			break
		}
		for ci < len(computed) && computed[ci].Tag < ra.Tag {
			out = append(out, computed[ci])
			ci++
		}
		if ci < len(computed) && computed[ci].Tag == ra.Tag {
			out = append(out, computed[ci])
			ci++
			continue
		}
		vals := a.strSlice(ra.n)
		i := 0
		ra.each(func(v []byte) bool {
			if len(v) > 0 {
				vals[i] = unsafe.String(&v[0], len(v))
			}
			i++
			return false
		})
		out = append(out, Attr{Tag: ra.Tag, VR: ra.VR, Values: vals, JSON: ra.JSON[:len(ra.JSON):len(ra.JSON)]})
	}
	if it.d.err != nil {
		return nil, it.d.err
	}
	return append(out, computed[ci:]...), nil
}

// computed builds a computed attribute in the arena: its values are
// copies of vals, its JSON as valuesJSON gives it.
func (a *arena) computed(tag uint32, vr string, vals [][]byte) Attr {
	ss := a.strSlice(len(vals))
	for i, v := range vals {
		ss[i] = a.str(v)
	}
	a.scratch = appendValuesJSON(a.scratch[:0], vr, ss)
	return Attr{Tag: tag, VR: vr, Values: ss, JSON: a.copyBytes(a.scratch)}
}

// count builds a computed IS attribute holding n.
func (a *arena) count(tag uint32, n uint64) Attr {
	var b [20]byte
	return a.computed(tag, "IS", [][]byte{strconv.AppendUint(b[:0], n, 10)})
}

// entry is one encoded attr list entry (tag | VR | uv length | body) and
// its tag.
type entry struct {
	tag uint32
	b   []byte
}

// encodedAttrs copies an encoded attr list (which may alias the
// transaction) into the arena as a run of entries without the leading
// count, merging computed entries in: one replaces a stored attribute with
// the same tag. comp must be sorted by tag. Every entry is checked as
// copyAttrs checks it.
func (a *arena) encodedAttrs(list []byte, comp []entry) ([]byte, error) {
	it := newAttrIter(list)
	if it.left > uint64(len(list)) {
		return nil, errCorrupt
	}
	out := a.out[:0]
	ci := 0
	for {
		before := it.d.b
		ra, ok := it.next()
		if !ok {
			break
		}
		for ci < len(comp) && comp[ci].tag < ra.Tag {
			out = append(out, comp[ci].b...)
			ci++
		}
		if ci < len(comp) && comp[ci].tag == ra.Tag {
			out = append(out, comp[ci].b...)
			ci++
			continue
		}
		out = append(out, before[:len(before)-len(it.d.b)]...)
	}
	if it.d.err != nil {
		return nil, it.d.err
	}
	for ; ci < len(comp); ci++ {
		out = append(out, comp[ci].b...)
	}
	a.out = out
	if len(out) == 0 {
		return nil, nil
	}
	return a.copyBytes(out), nil
}

// appendEntry appends one attr list entry.
func appendEntry(b []byte, tag uint32, vr string, vals []string, json []byte) []byte {
	n := uvarintLen(uint64(len(vals))) + uvarintLen(uint64(len(json))) + len(json)
	for _, v := range vals {
		n += uvarintLen(uint64(len(v))) + len(v)
	}
	b = binary.BigEndian.AppendUint32(b, tag)
	b = append(b, vr...)
	b = binary.AppendUvarint(b, uint64(n))
	b = binary.AppendUvarint(b, uint64(len(vals)))
	for _, v := range vals {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	b = binary.AppendUvarint(b, uint64(len(json)))
	return append(b, json...)
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
