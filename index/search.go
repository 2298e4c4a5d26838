package index

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	bolt "go.etcd.io/bbolt"
)

// errStop ends a search early once Limit results are collected; errBatch
// ends one read transaction of a search once a batch is collected.
var (
	errStop  = errors.New("index: search limit reached")
	errBatch = errors.New("index: search batch collected")
)

// searchBatch is the number of results a search collects in one read
// transaction before it hands them to its callback (more when the last
// study evaluated gives several, at most Limit).
const searchBatch = 64

// Search runs a QIDO-RS query (see doc.go for the plan and the result
// order) and calls fn for each match after Offset, at most Limit times
// (Limit 0: no limit). Results are collected, copied, in batches of about
// searchBatch, each in one read transaction, and fn is called between
// them, outside any transaction; so a search's memory is bounded by its
// batch, not by its limit or the size of the index. A batch resumes after
// the last study evaluated by the one before (in result order): a study
// added or removed meanwhile may or may not be seen, but none is given
// twice. Queries by UID lists (bounded by the query) run in one
// transaction. Results may share their upper-level attribute slices and
// their memory, which stays valid after fn returns unless q.Reuse (treat
// them as read-only). With q.Encoded the attributes stay in encoded form (see
// Result). An error from fn stops the walk and is returned as is. A query
// whose path study or series does not exist simply has no results.
func (ix *Index) Search(ctx context.Context, q Query, fn func(*Result) error) error {
	if q.Limit < 0 || q.Offset < 0 {
		return fmt.Errorf("index: search: negative limit or offset")
	}
	if q.Level < LevelStudy || q.Level > LevelInstance {
		return fmt.Errorf("index: search: bad level %d", q.Level)
	}
	s := newSearcher(ctx, q)
	for {
		var results []*Result
		more := false
		err := ix.view(ctx, "search", func(tx *bolt.Tx) error {
			s.begin(tx)
			defer s.end()
			err := s.run()
			results = s.out
			switch {
			case errors.Is(err, errStop):
				return nil
			case errors.Is(err, errBatch):
				more = true
				return nil
			}
			return err
		})
		if err != nil {
			return err
		}
		for _, r := range results {
			if err := fn(r); err != nil {
				return err
			}
		}
		if !more {
			return nil
		}
	}
}

// cand is a candidate study with its sort key; both may alias the
// transaction's memory. sure is set when the index entry that produced it
// proves that the planned matcher matches the study (see probe).
type cand struct {
	uid  []byte
	sk   []byte
	sure bool
	pre  uint64 // sk[:8] big-endian, for sorting
}

type searcher struct {
	ctx context.Context
	// tx and what comes from it are those of the current batch.
	tx *bolt.Tx
	// buckets opened once per search
	studies, insts *bolt.Bucket
	q              Query
	ms             []matcher // non-universal matchers
	never          bool      // some matcher can never match
	// seriesSet and sopSet restrict series and instances (nil: all).
	seriesSet map[string]bool
	sopSet    map[string]bool
	matched   int       // matches so far, all batches
	emitted   int       // results so far, all batches
	out       []*Result // this batch's results
	ticks     int
	// arena holds the copied-out results; comp and names are scratch
	// space for building computed attributes.
	arena arena
	comp  [4]Attr
	names [][]byte
	// The rest is scratch space for the encoded form (see addComputed).
	ebuf, jbuf []byte
	entries    [4]entry
	etags      [4]uint32
	eoffs      [5]int
	nentries   int
	strs       []string
	sets       [2][]string
	num        [20]byte
	one        [1]string
	// planned is the matcher whose index gave the candidates; skip is
	// planned while evaluating a candidate whose index entry proves the
	// match (study-level searches only), so matches need not re-check it.
	planned, skip *matcher
	// studyCur looks study records up (one cursor for the whole search);
	// st is the study being evaluated.
	studyCur *bolt.Cursor
	st       studyCtx
	// studyBuf, seriesBuf and instBuf hold unpacked attr lists (see
	// packedAttrs.list) of the study being evaluated, its series and the
	// instance being evaluated.
	studyBuf, seriesBuf, instBuf []byte
	// dateSpan, when set, is the one StudyDate range [lo, hi] (either may
	// be empty: open) whose date index entries give the candidates, read
	// newest first by streamDates.
	dateSpan *[2]string
	// probeClass, when not classNone, is the index class of planned,
	// whose index gives the candidates (see probeRounds).
	probeClass int
	// Where the next batch resumes (copies, outliving the transaction):
	// after the date index key resumeKey (scans of the date index) or
	// after the candidate resumeCand (index probes).
	resumeKey  []byte
	resumeCand *cand
}

func newSearcher(ctx context.Context, q Query) *searcher {
	s := &searcher{ctx: ctx, q: q}
	for _, f := range q.Filters {
		if q.Level == LevelStudy && f.Tag == tagModality {
			f.Tag = tagModalitiesInStudy
		}
		m := compile(f, q.Fuzzy)
		if m.universal {
			continue
		}
		if m.never {
			s.never = true
		}
		s.ms = append(s.ms, m)
	}
	if q.Level >= LevelSeries {
		if q.SeriesUID != "" {
			s.seriesSet = map[string]bool{q.SeriesUID: true}
		} else if m := s.uidList(tagSeriesInstanceUID); m != nil {
			s.seriesSet = setOf(m.vals)
		}
	}
	if q.Level == LevelInstance {
		if m := s.uidList(tagSOPInstanceUID); m != nil {
			s.sopSet = setOf(m.vals)
		}
	}
	return s
}

// begin starts a batch in tx, with no results yet: in a new arena (the
// last batch's results stay with the caller) or, with Query.Reuse, in the
// last batch's memory.
func (s *searcher) begin(tx *bolt.Tx) {
	s.tx, s.studies, s.insts = tx, tx.Bucket(bStudies), tx.Bucket(bInstances)
	s.studyCur, s.st = nil, studyCtx{}
	if s.q.Reuse {
		clear(s.out)
		s.out = s.out[:0]
		s.arena.reset()
	} else {
		s.out, s.arena = nil, arena{}
	}
	s.planned, s.skip, s.dateSpan, s.probeClass = nil, nil, nil, classNone
}

// end drops the references into the batch's transaction.
func (s *searcher) end() {
	s.tx, s.studies, s.insts, s.studyCur = nil, nil, nil, nil
	s.st, s.planned, s.skip, s.dateSpan = studyCtx{}, nil, nil, nil
	s.strs, s.names = s.strs[:0], s.names[:0]
}

// batchFull reports whether this batch has its results.
func (s *searcher) batchFull() bool { return len(s.out) >= searchBatch }

// resumeAt returns the first date index key to evaluate, walking newest
// first: the last one (no resume point) or the one before resumeKey.
func (s *searcher) resumeAt(c *bolt.Cursor) []byte {
	if s.resumeKey == nil {
		k, _ := c.Last()
		return k
	}
	// Seek finds resumeKey or, removed meanwhile, the key after it: the
	// key before either is the next to evaluate.
	if k, _ := c.Seek(s.resumeKey); k == nil {
		k, _ = c.Last()
		return k
	}
	k, _ := c.Prev()
	return k
}

func setOf(vals []string) map[string]bool {
	set := make(map[string]bool, len(vals))
	for _, v := range vals {
		set[v] = true
	}
	return set
}

// uidList returns the single-value or list matcher of a UI tag.
func (s *searcher) uidList(tag uint32) *matcher {
	for i := range s.ms {
		m := &s.ms[i]
		if m.tag == tag && (m.kind == MatchSingle || m.kind == MatchList) && m.vr == "UI" {
			return m
		}
	}
	return nil
}

// tick checks the context now and then.
func (s *searcher) tick() error {
	s.ticks++
	if s.ticks%128 == 0 {
		return s.ctx.Err()
	}
	return nil
}

func (s *searcher) run() error {
	if s.never {
		return nil
	}
	cands, scan, err := s.plan()
	if err != nil {
		return err
	}
	if s.dateSpan != nil {
		return s.streamDates(*s.dateSpan)
	}
	if s.probeClass != classNone {
		return s.probeRounds()
	}
	if scan {
		c := s.tx.Bucket(bxDate).Cursor()
		for k := s.resumeAt(c); k != nil; k, _ = c.Prev() {
			if len(k) <= sortKeyLen {
				return fmt.Errorf("date index key: %w", errCorrupt)
			}
			if err := s.study(k[sortKeyLen:]); err != nil {
				return err
			}
			if s.batchFull() {
				s.resumeKey = bytes.Clone(k)
				return errBatch
			}
		}
		return nil
	}
	for _, c := range cands {
		s.skip = nil
		if c.sure && s.q.Level == LevelStudy {
			s.skip = s.planned
		}
		if err := s.study(c.uid); err != nil {
			return err
		}
	}
	s.skip = nil
	return nil
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

// streamDates evaluates the studies of the date index whose date is within
// [lo, hi], newest first: the order order() gives (sort key, then UID,
// both descending), without holding the candidates. The walk ends when
// emit reaches the limit.
func (s *searcher) streamDates(span [2]string) error {
	lo, hi := span[0], span[1]
	m := s.planned
	c := s.tx.Bucket(bxDate).Cursor()
	var k []byte
	switch {
	case hi == "" || s.resumeKey != nil:
		k = s.resumeAt(c)
	default:
		if k, _ = c.Seek([]byte(hi + "\xff")); k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
	}
	for ; k != nil; k, _ = c.Prev() {
		if len(k) <= sortKeyLen {
			return fmt.Errorf("date index key: %w", errCorrupt)
		}
		if hi != "" && string(k[:8]) > hi {
			continue
		}
		if lo != "" && string(k[:8]) < lo {
			break
		}
		sure := m.vr == "DA" && string(k[:8]) != "00000000"
		s.skip = nil
		if sure && s.q.Level == LevelStudy {
			s.skip = m
		}
		if err := s.study(k[sortKeyLen:]); err != nil {
			return err
		}
		if s.batchFull() {
			s.skip = nil
			s.resumeKey = bytes.Clone(k)
			return errBatch
		}
	}
	s.skip = nil
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

// studyCtx is a candidate study being evaluated.
type studyCtx struct {
	uid      string
	err      error // from decoding the computed attributes
	rec      studyRec
	attrs    []byte // the record's attr list
	computed []Attr // ModalitiesInStudy, SOPClassesInStudy, counts
	result   []Attr // built once, shared by lower-level results
	encoded  []byte // the same, encoded form
}

// study evaluates one candidate study (and its series/instances).
func (s *searcher) study(uidb []byte) error {
	if err := s.tick(); err != nil {
		return err
	}
	if s.q.Level == LevelStudy && len(s.ms) == 0 && s.matched < s.q.Offset {
		s.matched++ // every candidate exists and matches: skip it cheaply
		return nil
	}
	if s.studyCur == nil {
		s.studyCur = s.studies.Cursor()
	}
	// Seek with one cursor is Get without a new cursor per study.
	k, v := s.studyCur.Seek(uidb)
	if v == nil || !bytes.Equal(k, uidb) {
		return nil
	}
	rec, err := decodeStudy(v, false)
	if err != nil {
		return fmt.Errorf("study record: %w", err)
	}
	// The studyCtx and the unpacking buffers are reused: nothing keeps
	// them past this call (results are copied to the arena).
	s.studyBuf, s.seriesBuf = s.studyBuf[:0], s.seriesBuf[:0]
	attrs, err := rec.Attrs.list(&s.studyBuf)
	if err != nil {
		return fmt.Errorf("study record: %w", err)
	}
	s.st = studyCtx{rec: rec, attrs: attrs}
	st := &s.st
	if s.q.Level == LevelStudy {
		ok, err := s.matches(st, nil, nil)
		if !ok || err != nil {
			return err
		}
		return s.emit(st, nil, nil)
	}
	st.uid = string(uidb)
	series, err := studySeries(s.tx, st.uid, &s.seriesBuf)
	if err != nil {
		return err
	}
	for i := range series {
		se := &series[i]
		if s.seriesSet != nil && !s.seriesSet[se.uid] {
			continue
		}
		if s.q.Level == LevelSeries {
			if err := s.tick(); err != nil {
				return err
			}
			ok, err := s.matches(st, se, nil)
			if err != nil {
				return err
			}
			if ok {
				if err := s.emit(st, se, nil); err != nil {
					return err
				}
			}
			continue
		}
		if err := s.instances(st, se); err != nil {
			return err
		}
	}
	return nil
}

// instances evaluates the instances of one series.
func (s *searcher) instances(st *studyCtx, se *seriesEntry) error {
	var sops []string
	if s.sopSet != nil {
		type ord struct {
			key [8]byte
			sop string
		}
		var os []ord
		for sop := range s.sopSet {
			r, err := getInst(s.tx, sop)
			if err != nil || r.StudyUID != st.uid || r.SeriesUID != se.uid {
				continue
			}
			os = append(os, ord{orderBytes(r.HasNumber, r.Number), sop})
		}
		slices.SortFunc(os, func(a, b ord) int {
			if c := bytes.Compare(a.key[:], b.key[:]); c != 0 {
				return c
			}
			return strings.Compare(a.sop, b.sop)
		})
		for _, o := range os {
			sops = append(sops, o.sop)
		}
	} else {
		var err error
		if sops, err = seriesSOPs(s.tx, st.uid, se.uid); err != nil {
			return err
		}
	}
	ib := s.insts
	for _, sop := range sops {
		if err := s.tick(); err != nil {
			return err
		}
		v := ib.Get([]byte(sop))
		if v == nil {
			continue
		}
		packed, err := instAttrs(v)
		if err != nil {
			return fmt.Errorf("instance record: %w", err)
		}
		s.instBuf = s.instBuf[:0]
		attrs, err := packed.list(&s.instBuf)
		if err != nil {
			return fmt.Errorf("instance record: %w", err)
		}
		ok, err := s.matches(st, se, attrs)
		if err != nil {
			return err
		}
		if ok {
			if err := s.emit(st, se, attrs); err != nil {
				return err
			}
		}
	}
	return nil
}

// instAttrs returns the attrs field of an instance record without decoding
// the rest.
func instAttrs(b []byte) (packedAttrs, error) {
	d := dec{b: b}
	plain := d.versionAttrs()
	for i := 0; i < 4; i++ {
		d.bytes()
	}
	d.fixed(32)
	d.uv()
	d.bytes()
	d.uv()
	d.sv()
	d.bool()
	d.sv()
	d.bytes()
	a := d.attrs(plain)
	return a, d.err
}

// matches applies every filter; each looks its tag up at the query level
// first, then the levels above.
func (s *searcher) matches(st *studyCtx, se *seriesEntry, inst []byte) (bool, error) {
	for i := range s.ms {
		m := &s.ms[i]
		if m == s.skip {
			continue
		}
		a, ok := s.lookup(m.tag, st, se, inst)
		if st.err != nil {
			return false, st.err
		}
		if !m.match(a, ok) {
			return false, nil
		}
	}
	return true, nil
}

func (s *searcher) lookup(tag uint32, st *studyCtx, se *seriesEntry, inst []byte) (rawAttr, bool) {
	if inst != nil {
		if a, ok := findAttr(inst, tag); ok {
			return a, true
		}
	}
	if se != nil {
		if tag == tagNumSeriesInstances {
			return rawValues(tag, "IS", []string{strconv.FormatUint(se.rec.NInst, 10)}), true
		}
		if a, ok := findAttr(se.attrs, tag); ok {
			return a, true
		}
	}
	switch tag {
	case tagModalitiesInStudy, tagSOPClassesInStudy, tagNumStudySeries, tagNumStudyInstances:
		for _, a := range st.computedAttrs() {
			if a.Tag == tag {
				return rawValues(a.Tag, a.VR, a.Values), true
			}
		}
		return rawAttr{}, false
	}
	return findAttr(st.attrs, tag)
}

// computedAttrs are the study's computed attributes, in tag order. A
// corrupt record gives none and sets st.err.
func (st *studyCtx) computedAttrs() []Attr {
	if st.computed != nil || st.err != nil {
		return st.computed
	}
	if err := st.rec.decodeSets(); err != nil {
		st.err = fmt.Errorf("study record: %w", err)
		return nil
	}
	names := func(set []counted) []string {
		out := make([]string, len(set))
		for i, c := range set {
			out[i] = c.Name
		}
		return out
	}
	st.computed = []Attr{
		computedAttr(tagModalitiesInStudy, "CS", names(st.rec.Modalities)...),
		computedAttr(tagSOPClassesInStudy, "UI", names(st.rec.SOPClasses)...),
		computedAttr(tagNumStudySeries, "IS", strconv.FormatUint(st.rec.NSeries, 10)),
		computedAttr(tagNumStudyInstances, "IS", strconv.FormatUint(st.rec.NInst, 10)),
	}
	return st.computed
}

// computedAttr builds a computed attribute with its DICOM JSON.
func computedAttr(tag uint32, vr string, vals ...string) Attr {
	return Attr{Tag: tag, VR: vr, Values: vals, JSON: valuesJSON(vr, vals)}
}

// rawValues builds a rawAttr (for matching; no JSON) from values.
func rawValues(tag uint32, vr string, vals []string) rawAttr {
	e := enc{}
	for _, v := range vals {
		e.str(v)
	}
	return rawAttr{Tag: tag, VR: vr, n: len(vals), vals: e.buf}
}

// valuesJSON is the DICOM JSON of a computed attribute: IS values as
// numbers, others as strings.
func valuesJSON(vr string, vals []string) []byte {
	return appendValuesJSON(make([]byte, 0, 32+len(vals)*24), vr, vals)
}

// appendValuesJSON appends valuesJSON(vr, vals) to b.
func appendValuesJSON(b []byte, vr string, vals []string) []byte {
	b = append(b, `{"vr":`...)
	b = appendJSONString(b, vr)
	if len(vals) > 0 {
		b = append(b, `,"Value":[`...)
		for i, v := range vals {
			if i > 0 {
				b = append(b, ',')
			}
			if vr == "IS" && v != "" && allDigits(v) && len(v) <= 15 {
				b = append(b, v...)
			} else {
				b = appendJSONString(b, v)
			}
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// emit counts a match and, past the offset, records its result (copied
// into the search's arena).
func (s *searcher) emit(st *studyCtx, se *seriesEntry, inst []byte) error {
	s.matched++
	if s.matched <= s.q.Offset {
		return nil
	}
	r := s.arena.result()
	if s.q.Encoded {
		if err := s.emitEncoded(r, st, se, inst); err != nil {
			return err
		}
		s.out = append(s.out, r)
		s.emitted++
		if s.q.Limit > 0 && s.emitted >= s.q.Limit {
			return errStop
		}
		return nil
	}
	var err error
	if r.Study, err = s.studyAttrs(st); err != nil {
		return err
	}
	if se != nil {
		s.comp[0] = s.arena.count(tagNumSeriesInstances, se.rec.NInst)
		if r.Series, err = s.arena.copyAttrs(se.attrs, s.comp[:1]); err != nil {
			return fmt.Errorf("series attributes: %w", err)
		}
	}
	if inst != nil {
		if r.Instance, err = s.arena.copyAttrs(inst, nil); err != nil {
			return fmt.Errorf("instance attributes: %w", err)
		}
	}
	s.out = append(s.out, r)
	s.emitted++
	if s.q.Limit > 0 && s.emitted >= s.q.Limit {
		return errStop
	}
	return nil
}

// emitEncoded fills r with the encoded form of its attributes.
func (s *searcher) emitEncoded(r *Result, st *studyCtx, se *seriesEntry, inst []byte) error {
	r.encoded = true
	var err error
	if r.enc[LevelStudy], err = s.studyEncoded(st); err != nil {
		return err
	}
	if se != nil {
		s.nentries = 0
		s.addCount(tagNumSeriesInstances, se.rec.NInst)
		if r.enc[LevelSeries], err = s.arena.encodedAttrs(se.attrs, s.computedEntries()); err != nil {
			return fmt.Errorf("series attributes: %w", err)
		}
	}
	if inst != nil {
		if r.enc[LevelInstance], err = s.arena.encodedAttrs(inst, nil); err != nil {
			return fmt.Errorf("instance attributes: %w", err)
		}
	}
	return nil
}

// addComputed encodes a computed attribute (added in tag order) as an
// entry in the searcher's scratch space; computedEntries returns those
// added since nentries was reset.
func (s *searcher) addComputed(tag uint32, vr string, vals []string) {
	if s.nentries == 0 {
		s.ebuf = s.ebuf[:0]
	}
	s.jbuf = appendValuesJSON(s.jbuf[:0], vr, vals)
	s.ebuf = appendEntry(s.ebuf, tag, vr, vals, s.jbuf)
	s.etags[s.nentries] = tag
	s.nentries++
	s.eoffs[s.nentries] = len(s.ebuf)
}

// addCount adds a computed IS attribute holding n.
func (s *searcher) addCount(tag uint32, n uint64) {
	b := strconv.AppendUint(s.num[:0], n, 10)
	s.one[0] = unsafe.String(&b[0], len(b))
	s.addComputed(tag, "IS", s.one[:])
}

// computedEntries returns the entries added (valid until the next reset).
func (s *searcher) computedEntries() []entry {
	for i := 0; i < s.nentries; i++ {
		s.entries[i] = entry{tag: s.etags[i], b: s.ebuf[s.eoffs[i]:s.eoffs[i+1]]}
	}
	return s.entries[:s.nentries]
}

// studyEncoded returns (once per study) the encoded form of the study's
// result attributes, computed included.
func (s *searcher) studyEncoded(st *studyCtx) ([]byte, error) {
	if st.encoded != nil {
		return st.encoded, nil
	}
	if st.err != nil {
		return nil, st.err
	}
	// The modality and SOP class names, as strings over the record.
	sets := &s.sets
	d := dec{b: st.rec.sets}
	strs := s.strs[:0]
	for i := range sets {
		n := d.uv()
		if n > uint64(len(d.b)) {
			d.fail()
		}
		start := len(strs)
		for j := uint64(0); j < n && d.err == nil; j++ {
			if v := d.bytes(); len(v) > 0 {
				strs = append(strs, unsafe.String(&v[0], len(v)))
			} else {
				strs = append(strs, "")
			}
			d.uv()
		}
		sets[i] = strs[start:len(strs):len(strs)]
	}
	s.strs = strs
	if d.err != nil {
		st.err = fmt.Errorf("study record: %w", d.err)
		return nil, st.err
	}
	s.nentries = 0
	s.addComputed(tagModalitiesInStudy, "CS", sets[0])
	s.addComputed(tagSOPClassesInStudy, "UI", sets[1])
	s.addCount(tagNumStudySeries, st.rec.NSeries)
	s.addCount(tagNumStudyInstances, st.rec.NInst)
	b, err := s.arena.encodedAttrs(st.attrs, s.computedEntries())
	if err != nil {
		return nil, fmt.Errorf("study attributes: %w", err)
	}
	if b == nil {
		b = []byte{}
	}
	st.encoded = b
	return b, nil
}

// studyAttrs returns (once per study) the study's result attributes,
// computed included.
func (s *searcher) studyAttrs(st *studyCtx) ([]Attr, error) {
	if st.result != nil {
		return st.result, nil
	}
	if st.err != nil {
		return nil, st.err
	}
	a := &s.arena
	d := dec{b: st.rec.sets}
	for i, tag := range [2]uint32{tagModalitiesInStudy, tagSOPClassesInStudy} {
		n := d.uv()
		if n > uint64(len(d.b)) {
			d.fail()
		}
		names := s.names[:0]
		for j := uint64(0); j < n && d.err == nil; j++ {
			names = append(names, d.bytes())
			d.uv()
		}
		s.names = names
		if d.err != nil {
			st.err = fmt.Errorf("study record: %w", d.err)
			return nil, st.err
		}
		vr := "CS"
		if i == 1 {
			vr = "UI"
		}
		s.comp[i] = a.computed(tag, vr, names)
	}
	s.comp[2] = a.count(tagNumStudySeries, st.rec.NSeries)
	s.comp[3] = a.count(tagNumStudyInstances, st.rec.NInst)
	as, err := a.copyAttrs(st.attrs, s.comp[:4])
	if err != nil {
		return nil, fmt.Errorf("study attributes: %w", err)
	}
	st.result = as
	return as, nil
}
