package index

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"
)

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
