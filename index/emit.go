package index

import (
	"fmt"
	"strconv"
	"unsafe"

	"github.com/minipacs/minipacs/dicomweb/dicom/jsonstr"
)

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
	b = jsonstr.Append(b, vr)
	if len(vals) > 0 {
		b = append(b, `,"Value":[`...)
		for i, v := range vals {
			if i > 0 {
				b = append(b, ',')
			}
			if vr == "IS" && v != "" && allDigits(v) && len(v) <= 15 {
				b = append(b, v...)
			} else {
				b = jsonstr.Append(b, v)
			}
		}
		b = append(b, ']')
	}
	return append(b, '}')
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
