package index

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Candidate rounds (see probeRounds): a search whose candidates come from a
// secondary index (PatientName, PatientID, Modality, ...) reads them in key
// order, not result order. Rather than collect and sort every candidate
// (memory that grows with the index), each round keeps the first k in
// result order in a bounded heap; when that was not enough to fill the
// page, the next round rescans the index for the candidates after the last
// one evaluated, with twice the room, up to maxRound.
const (
	minRound = 64
	maxRound = 8192
)

// candSet collects candidates. With k > 0 it keeps only the k that come
// first in result order, among those after the bound `after` (when set);
// dropped tells that some were left out. With k == 0 it keeps every one
// (candidates from UID lists, bounded by the query).
type candSet struct {
	k       int
	after   *cand
	studies *bolt.Bucket // looks up missing sort keys
	cs      []cand       // k > 0: a heap, the candidate that comes last on top
	dropped bool
	err     error // a study record that does not decode
}

// add offers one candidate (uid and sk may alias the transaction).
func (cs *candSet) add(c cand) {
	if len(c.sk) != sortKeyLen {
		v := cs.studies.Get(c.uid)
		if v == nil {
			return // no such study: not a candidate
		}
		st, err := decodeStudy(v, false)
		if err != nil {
			if cs.err == nil {
				cs.err = fmt.Errorf("study record: %w", err)
			}
			return
		}
		c.sk = st.SortKey[:]
	}
	c.pre = binary.BigEndian.Uint64(c.sk)
	if cs.after != nil && candOrder(c, *cs.after) <= 0 {
		return // evaluated in an earlier round
	}
	if cs.k <= 0 {
		cs.cs = append(cs.cs, c)
		return
	}
	h := cs.cs
	if len(h) < cs.k {
		if h == nil {
			h = make([]cand, 0, min(cs.k, minRound))
		}
		h = append(h, c)
		// sift up: parents come later in result order than children.
		for i := len(h) - 1; i > 0; {
			p := (i - 1) / 2
			if candOrder(h[i], h[p]) <= 0 {
				break
			}
			h[i], h[p] = h[p], h[i]
			i = p
		}
		cs.cs = h
		return
	}
	cs.dropped = true
	if candOrder(c, h[0]) >= 0 {
		return // comes after every kept candidate
	}
	h[0] = c
	for i := 0; ; {
		l, r, last := 2*i+1, 2*i+2, i
		if l < len(h) && candOrder(h[l], h[last]) > 0 {
			last = l
		}
		if r < len(h) && candOrder(h[r], h[last]) > 0 {
			last = r
		}
		if last == i {
			break
		}
		h[i], h[last] = h[last], h[i]
		i = last
	}
}

// sorted returns the kept candidates in result order without duplicates
// (a study has one sort key, so copies end up adjacent); a study is sure
// when any of its entries proves the match. The set is consumed.
func (cs *candSet) sorted() []cand {
	out := cs.cs
	slices.SortFunc(out, candOrder)
	w := 0
	for i := range out {
		if w > 0 && bytes.Equal(out[w-1].uid, out[i].uid) {
			out[w-1].sure = out[w-1].sure || out[i].sure
			continue
		}
		out[w] = out[i]
		w++
	}
	cs.cs = nil
	return out[:w]
}

// candOrder compares candidates in result order: newest sort key first,
// then UID descending. Negative: a comes first.
func candOrder(a, b cand) int {
	// Sort keys have one length: comparing their first 8 bytes as an
	// integer, then the rest, is comparing them bytewise.
	if a.pre != b.pre {
		return cmp.Compare(b.pre, a.pre)
	}
	if c := bytes.Compare(b.sk[8:], a.sk[8:]); c != 0 {
		return c
	}
	return bytes.Compare(b.uid, a.uid)
}

// probeRounds evaluates the candidates of the planned matcher's index in
// result order, in rounds of at most maxRound candidates (see candSet), so
// that a search's memory does not grow with the index. The first round
// keeps room for the matches still to skip (Offset) and a batch of
// results; the next ones, needed when candidates fail other filters, twice
// as much each. A full batch ends the walk with errBatch and resumeCand,
// where the next batch's first round starts.
func (s *searcher) probeRounds() error {
	need := searchBatch
	if s.q.Limit > 0 {
		need = min(need, s.q.Limit-s.emitted)
	}
	k := min(max(max(s.q.Offset-s.matched, 0)+need, minRound), maxRound)
	after := s.resumeCand
	for {
		set := candSet{k: k, studies: s.studies, after: after}
		if err := s.probe(s.planned, s.probeClass, &set); err != nil {
			return err
		}
		if set.err != nil {
			return set.err
		}
		dropped := set.dropped
		cs := set.sorted()
		for _, c := range cs {
			s.skip = nil
			if c.sure && s.q.Level == LevelStudy {
				s.skip = s.planned
			}
			err := s.study(c.uid)
			s.skip = nil
			if err != nil {
				return err
			}
			if s.batchFull() {
				// A copy: the next batch has another transaction.
				s.resumeCand = &cand{uid: bytes.Clone(c.uid), sk: bytes.Clone(c.sk), pre: c.pre}
				return errBatch
			}
		}
		if !dropped || len(cs) == 0 {
			return nil
		}
		if err := s.ctx.Err(); err != nil {
			return err
		}
		after = &cs[len(cs)-1]
		k = min(2*k, maxRound)
	}
}
