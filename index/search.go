package index

import (
	"bytes"
	"context"
	"errors"
	"fmt"

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

// compileQuery compiles the filters of q that are not universal, and
// says whether one can never match. At study level, Modality means
// ModalitiesInStudy.
func compileQuery(q Query) (ms []matcher, never bool) {
	for _, f := range q.Filters {
		if q.Level == LevelStudy && f.Tag == tagModality {
			f.Tag = tagModalitiesInStudy
		}
		m := compile(f, q.Fuzzy)
		if m.universal {
			continue
		}
		if m.never {
			never = true
		}
		ms = append(ms, m)
	}
	return ms, never
}

func newSearcher(ctx context.Context, q Query) *searcher {
	s := &searcher{ctx: ctx, q: q}
	s.ms, s.never = compileQuery(q)
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
