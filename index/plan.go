package index

import (
	"bytes"
	"fmt"
	"unicode/utf8"
	"unsafe"

	bolt "go.etcd.io/bbolt"
)

// cand is a candidate study with its sort key; both may alias the
// transaction's memory. sure is set when the index entry that produced it
// proves that the planned matcher matches the study (see probe).
type cand struct {
	uid  []byte
	sk   []byte
	sure bool
	pre  uint64 // sk[:8] big-endian, for sorting
}

// plan picks the candidate studies (sorted) or asks for a full scan.
func (s *searcher) plan() ([]cand, bool, error) {
	var cs []cand
	switch {
	case s.q.StudyUID != "":
		cs = []cand{{uid: []byte(s.q.StudyUID)}}
	case s.uidList(tagStudyInstanceUID) != nil:
		for _, v := range s.uidList(tagStudyInstanceUID).vals {
			cs = append(cs, cand{uid: []byte(v)})
		}
	case s.sopSet != nil:
		for sop := range s.sopSet {
			if r, err := getInst(s.tx, sop); err == nil {
				cs = append(cs, cand{uid: []byte(r.StudyUID)})
			}
		}
	case s.seriesSet != nil:
		b := s.tx.Bucket(bSeriesUID)
		for series := range s.seriesSet {
			if st := b.Get([]byte(series)); st != nil {
				cs = append(cs, cand{uid: st})
			}
		}
	default:
		m, class := s.bestIndex()
		if m == nil {
			return nil, true, nil
		}
		if class == classDate && m.kind == MatchRange {
			// One date range: walk the date index newest first and stop
			// at the limit, instead of collecting every study in the
			// range to sort it (its keys are already in result order).
			s.planned = m
			s.dateSpan = &[2]string{m.low, m.high}
			return nil, false, nil
		}
		// The candidates come from an index in key order: probeRounds
		// reads them through a bounded top-K set (see candSet).
		s.planned, s.probeClass = m, class
		return nil, false, nil
	}
	return s.order(cs)
}

// Index classes, most selective first.
const (
	classNone = iota
	classPIDExact
	classAccExact
	classNamePrefix // PN exact, fuzzy, 'ABC*'; PatientID/Accession 'ABC*'
	classDate
	classKeyScan // other wildcards: scan index keys only
	classModality
)

// indexClass tells how a matcher can use a secondary index.
func indexClass(m *matcher) int {
	switch m.tag {
	case tagPatientID, tagAccessionNumber:
		switch m.kind {
		case MatchSingle, MatchList:
			if m.tag == tagPatientID {
				return classPIDExact
			}
			return classAccExact
		case MatchWildcard:
			if _, ok := literalPrefix(m.vals[0]); ok {
				return classNamePrefix
			}
			return classKeyScan
		}
	case tagPatientName:
		if m.vr != "PN" || m.pnGroups != nil {
			return classNone
		}
		switch m.kind {
		case MatchSingle, MatchList:
			return classNamePrefix
		case MatchWildcard:
			if _, ok := literalPrefix(m.vals[0]); ok {
				return classNamePrefix
			}
			return classKeyScan
		}
	case tagStudyDate:
		if m.kind == MatchSingle || m.kind == MatchList || m.kind == MatchRange {
			return classDate
		}
	case tagModality, tagModalitiesInStudy:
		if m.kind == MatchSingle || m.kind == MatchList {
			return classModality
		}
	}
	return classNone
}

func (s *searcher) bestIndex() (*matcher, int) {
	var best *matcher
	bestClass := classNone
	for i := range s.ms {
		c := indexClass(&s.ms[i])
		if c != classNone && (best == nil || c < bestClass) {
			best, bestClass = &s.ms[i], c
		}
	}
	return best, bestClass
}

// probe reads the candidates of one matcher from its index. A candidate
// is marked sure when its index entry alone proves that the matcher
// matches the study: the entry holds the whole value (not truncated) and
// the matcher compares exactly what the index stores (same cleaning or PN
// normalisation, see indexEntries in put.go), so re-checking would give
// the same answer. When in doubt, sure stays false and the filter is
// applied as usual.
func (s *searcher) probe(m *matcher, class int, out *candSet) error {
	var bucket []byte
	indexVR := "" // the VR whose cleaning the index applied
	switch m.tag {
	case tagPatientID:
		bucket, indexVR = bxPID, "LO"
	case tagAccessionNumber:
		bucket, indexVR = bxAcc, "SH"
	case tagPatientName:
		bucket, indexVR = bxPN, "PN"
	case tagModality, tagModalitiesInStudy:
		bucket = bxMod
	case tagStudyDate:
		return s.probeDates(m, out)
	}
	// exact reports whether the matcher compares values the way the
	// index stored them: PN single/list/wildcard matching compares the
	// normalised groups the index holds; the other VRs compare values
	// cleaned as the index cleaned them.
	exact := indexVR != "" && m.vr == indexVR && m.pnGroups == nil && m.fuzzy == nil
	b := s.tx.Bucket(bucket)
	switch {
	case m.fuzzy != nil:
		s.probeFuzzy(m.fuzzy, out)
	case m.kind == MatchSingle || m.kind == MatchList:
		for _, v := range m.vals {
			var sure func(kv []byte) bool
			if exact {
				// The key's value is v itself (it contains no NUL of
				// its own) and was not truncated.
				sure = func(kv []byte) bool { return len(kv) == len(v) && len(kv) < maxIndexValueLen }
			}
			scanPrefix(b, []byte(truncate(v)+"\x00"), out, sure)
		}
	case class == classNamePrefix:
		pre, _ := literalPrefix(m.vals[0])
		var sure func(kv []byte) bool
		if exact && utf8.ValidString(pre) {
			// The pattern is pre followed by '*'s, so it matches a value
			// exactly when the value starts with pre; kv, even
			// truncated, is a prefix of the stored value. (glob compares
			// runes: pre must be valid UTF-8 for a byte prefix to be the
			// same test.)
			sure = func(kv []byte) bool { return bytes.HasPrefix(kv, []byte(pre)) }
		}
		scanPrefix(b, []byte(truncate(pre)), out, sure)
	default:
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			i := bytes.LastIndexByte(k, 0)
			if i < 0 {
				continue
			}
			if i >= maxIndexValueLen {
				out.add(cand{uid: k[i+1:], sk: v})
				continue
			}
			// The key bytes outlive the glob call, which keeps no reference.
			if i > 0 && glob(m.vals[0], unsafe.String(&k[0], i)) {
				// glob matched the whole stored value, as matching would.
				out.add(cand{uid: k[i+1:], sk: v, sure: exact})
			}
		}
	}
	return nil
}

// scanPrefix adds the studies of index keys starting with prefix; sure
// (if not nil) tells from the key's value part whether the entry proves
// the match.
func scanPrefix(b *bolt.Bucket, prefix []byte, out *candSet, sure func(kv []byte) bool) {
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		i := bytes.LastIndexByte(k, 0)
		if i < 0 {
			continue
		}
		out.add(cand{uid: k[i+1:], sk: v, sure: sure != nil && sure(k[:i])})
	}
}

// probeFuzzy intersects the studies of every key component's prefix scan.
// The first component's scan goes through a set that keeps everything; the
// intersection, once known, goes through out.
func (s *searcher) probeFuzzy(comps []string, out *candSet) {
	b := s.tx.Bucket(bxPNC)
	var acc map[string][]byte
	for _, comp := range comps {
		found := candSet{studies: s.studies}
		scanPrefix(b, []byte(truncate(comp)), &found, nil)
		next := make(map[string][]byte, len(found.cs))
		for _, c := range found.cs {
			if acc == nil || acc[string(c.uid)] != nil {
				next[string(c.uid)] = c.sk
			}
		}
		acc = next
		if len(acc) == 0 {
			break
		}
	}
	for uid, sk := range acc {
		out.add(cand{uid: []byte(uid), sk: sk})
	}
}

// probeDates reads the date index for single dates, lists and ranges.
func (s *searcher) probeDates(m *matcher, out *candSet) error {
	type span struct{ lo, hi string }
	var spans []span
	switch m.kind {
	case MatchRange:
		spans = append(spans, span{m.low, m.high})
	default:
		for _, v := range m.vals {
			if d, ok := normDA(v); ok {
				spans = append(spans, span{d, d})
			}
		}
	}
	c := s.tx.Bucket(bxDate).Cursor()
	for _, sp := range spans {
		var k []byte
		if sp.lo == "" {
			k, _ = c.First()
		} else {
			k, _ = c.Seek([]byte(sp.lo))
		}
		for ; k != nil; k, _ = c.Next() {
			if len(k) <= sortKeyLen {
				return fmt.Errorf("date index key: %w", errCorrupt)
			}
			if sp.hi != "" && string(k[:8]) > sp.hi {
				break
			}
			// The key's date is the normalised first StudyDate value
			// ("00000000": none, or not a date), within [lo, hi]: a
			// range, single date or list matcher of a DA key matches it.
			sure := m.vr == "DA" && string(k[:8]) != "00000000"
			out.add(cand{uid: k[sortKeyLen:], sk: k[:sortKeyLen], sure: sure})
		}
	}
	return nil
}

// order fills missing sort keys, sorts candidates newest first and
// drops duplicates and studies that do not exist.
func (s *searcher) order(cs []cand) ([]cand, bool, error) {
	set := candSet{studies: s.studies}
	for _, c := range cs {
		set.add(c)
	}
	if set.err != nil {
		return nil, false, set.err
	}
	return set.sorted(), false, nil
}
