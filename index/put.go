package index

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/minipacs/minipacs/dicomweb/kind"

	bolt "go.etcd.io/bbolt"
)

// Tags the index interprets.
const (
	tagAccessionNumber    = 0x00080050
	tagStudyDescription   = 0x00081030
	tagStudyDate          = 0x00080020
	tagStudyTime          = 0x00080030
	tagModality           = 0x00080060
	tagModalitiesInStudy  = 0x00080061
	tagSOPClassesInStudy  = 0x00080062
	tagPatientName        = 0x00100010
	tagPatientID          = 0x00100020
	tagIssuerOfPatientID  = 0x00100021
	tagPatientBirthDate   = 0x00100030
	tagPatientSex         = 0x00100040
	tagStudyInstanceUID   = 0x0020000D
	tagSeriesInstanceUID  = 0x0020000E
	tagSOPInstanceUID     = 0x00080018
	tagSeriesNumber       = 0x00200011
	tagInstanceNumber     = 0x00200013
	tagNumStudySeries     = 0x00201206
	tagNumStudyInstances  = 0x00201208
	tagNumSeriesInstances = 0x00201209
	maxUIDLen             = 64
	maxObjectKeyLen       = 1024
	maxIndexValueLen      = 1024
)

// putReq is one queued Put.
type putReq struct {
	p     *prepared
	state atomic.Int32 // reqPending, reqTaken, reqCanceled
	sent  bool         // handed to the committer (PutMany's goroutine only)
	res   PutResult
	err   error
	done  chan struct{}
}

const (
	reqPending int32 = iota
	reqTaken
	reqCanceled
)

// prepared is an Instance encoded for the committer.
type prepared struct {
	in                 *Instance
	sop, study, series string
	instVal            []byte
	hierKey            []byte
	seriesKey          []byte
	patientKey         []byte
	// the attr lists of the records, packed (packed.go) by the committer
	// only when it creates the record: the later instances of a study or
	// series do not need theirs
	studyList, seriesList, patientList []byte
	demo                               []byte
	sortKey                            [sortKeyLen]byte
	seriesHasNum, instHasNum           bool
	seriesNum, instNum                 int64
	instList                           []byte
	modality                           string
	studyIdx                           []idxEntry
	size                               int
	// mdEnc is Metadata encoded with mdDict (see metadata.go), when its
	// series dictionary was cached at prepare time.
	mdDict *seriesDict
	mdEnc  []byte
}

// idxEntry is one secondary index key.
type idxEntry struct {
	bucket []byte
	key    []byte
}

// Put indexes one instance and returns after the group commit that
// contains it is durable. An instance whose SOPInstanceUID is already
// indexed with the same SHA-256 gives PutResult{Existed: true} and changes
// nothing; with another SHA-256 it fails with ErrConflict, or, with
// Options.Replace, replaces the old instance (PutResult.ReplacedObjectKey).
// A SOPInstanceUID or SeriesInstanceUID known under another study/series,
// or an ObjectKey indexed for another instance, fails with ErrConflict.
//
// If ctx ends while the request is still queued, Put withdraws it and
// returns the context error; once the committer has taken it, Put waits
// for the outcome, so a nil error always means committed.
func (ix *Index) Put(ctx context.Context, inst *Instance) (PutResult, error) {
	res, errs := ix.PutMany(ctx, []*Instance{inst})
	return res[0], errs[0]
}

// PutMany is Put for several instances, with a result and an error for
// each. They reach the committer together, so that they share one group
// commit (up to Options.MaxGroup instances and MaxGroupBytes): a STOW
// request's instances cost one transaction instead of several.
func (ix *Index) PutMany(ctx context.Context, insts []*Instance) ([]PutResult, []error) {
	results := make([]PutResult, len(insts))
	errs := make([]error, len(insts))
	if err := ctx.Err(); err != nil {
		for i := range errs {
			errs[i] = fmt.Errorf("index: put: %w", err)
		}
		return results, errs
	}
	reqs := make([]*putReq, len(insts))
	var queued []*putReq
	for i, in := range insts {
		p, err := prepare(in)
		if err != nil {
			errs[i] = fmt.Errorf("index: put: %w", err)
			continue
		}
		ix.prepareMetadata(p)
		reqs[i] = &putReq{p: p, done: make(chan struct{})}
		queued = append(queued, reqs[i])
	}
	sent := 0
	ix.mu.RLock()
	if ix.closed {
		ix.mu.RUnlock()
		for i, r := range reqs {
			if r != nil {
				errs[i] = fmt.Errorf("index: put: %w", ErrClosed)
			}
		}
		return results, errs
	}
send:
	for sent < len(queued) {
		unit := queued[sent:min(len(queued), sent+ix.opt.MaxGroup)]
		select {
		case ix.reqs <- unit:
			for _, r := range unit {
				r.sent = true
			}
			sent += len(unit)
		case <-ctx.Done():
			break send
		}
	}
	ix.mu.RUnlock()
	for i, r := range reqs {
		switch {
		case r == nil:
			continue
		case !r.sent:
			errs[i] = fmt.Errorf("index: put: %w", ctx.Err())
			continue
		}
		select {
		case <-r.done:
		case <-ctx.Done():
			if r.state.CompareAndSwap(reqPending, reqCanceled) {
				errs[i] = fmt.Errorf("index: put: %w", ctx.Err())
				continue
			}
			<-r.done
		}
		if r.err != nil {
			errs[i] = fmt.Errorf("index: put %s: %w", r.p.sop, r.err)
			continue
		}
		results[i] = r.res
	}
	return results, errs
}

// commitLoop is the committer goroutine. Each receive is a unit of
// requests (one Put, or a PutMany) that stays whole in one group.
func (ix *Index) commitLoop() {
	defer close(ix.done)
	batch := make([]*putReq, 0, ix.opt.MaxGroup)
	for {
		unit, ok := <-ix.reqs
		if !ok {
			return
		}
		batch = batch[:0]
		size := 0
		add := func(unit []*putReq) {
			for _, r := range unit {
				if r.state.CompareAndSwap(reqPending, reqTaken) {
					batch = append(batch, r)
					size += r.p.size
				}
			}
		}
		add(unit)
	drain:
		for len(batch) < ix.opt.MaxGroup && size < ix.opt.MaxGroupBytes {
			select {
			case unit, ok := <-ix.reqs:
				if !ok {
					break drain
				}
				add(unit)
			default:
				break drain
			}
		}
		if len(batch) > 0 {
			ix.commit(batch)
		}
		for _, r := range batch {
			close(r.done)
		}
		clear(batch)
	}
}

// commit applies a group in one transaction; on a transaction failure it
// retries each member alone.
func (ix *Index) commit(batch []*putReq) {
	start := time.Now()
	err := ix.db.Update(func(tx *bolt.Tx) error {
		for _, r := range batch {
			ix.order.observePut(tx, r.p)
			var txErr error
			r.res, r.err, txErr = ix.apply(tx, r.p)
			if txErr != nil {
				return txErr
			}
		}
		ix.order.setFill(tx)
		return nil
	})
	if err == nil {
		ix.commits.Add(1)
		ix.puts.Add(uint64(len(batch)))
		if f := ix.onCommit.Load(); f != nil {
			(*f)(time.Since(start))
		}
		return
	}
	if len(batch) == 1 {
		batch[0].res, batch[0].err = PutResult{}, mapBoltErr(err)
		return
	}
	for _, r := range batch {
		ix.commit([]*putReq{r})
	}
}

// apply indexes one instance inside tx. memberErr rejects this instance
// only and is returned before any write; txErr means the transaction is
// no longer consistent and must be rolled back.
func (ix *Index) apply(tx *bolt.Tx, p *prepared) (res PutResult, memberErr, txErr error) {
	in := p.in
	var replaced *instRec
	if old := tx.Bucket(bInstances).Get([]byte(p.sop)); old != nil {
		r, err := decodeInst([]byte(p.sop), old)
		if err != nil {
			return res, fmt.Errorf("existing instance record: %w", err), nil
		}
		if r.StudyUID != p.study || r.SeriesUID != p.series {
			return res, fmt.Errorf("%w: SOP instance already stored in another study or series", ErrConflict), nil
		}
		if r.SHA256 == in.SHA256 {
			return PutResult{Existed: true, ExistingObjectKey: r.ObjectKey}, nil, nil
		}
		if !ix.opt.Replace {
			return res, ErrConflict, nil
		}
		replaced = &r
	}
	if owner := tx.Bucket(bSeriesUID).Get([]byte(p.series)); owner != nil && string(owner) != p.study {
		return res, fmt.Errorf("%w: series already stored in another study", ErrConflict), nil
	}
	if sop := tx.Bucket(bObjects).Get([]byte(in.ObjectKey)); sop != nil && string(sop) != p.sop {
		return res, fmt.Errorf("%w: object key already indexed for another instance", ErrConflict), nil
	}

	// Writes from here on: any error is a transaction error.
	if replaced != nil {
		if _, err := removeInstance(tx, p.sop); err != nil {
			return res, nil, fmt.Errorf("replace: %w", err)
		}
		if replaced.ObjectKey != in.ObjectKey {
			res.ReplacedObjectKey = replaced.ObjectKey
		}
	}
	mismatch, err := ix.insert(tx, p)
	if err != nil {
		return PutResult{}, nil, err
	}
	if ix.failHook != nil {
		if err := ix.failHook(p.sop); err != nil {
			return PutResult{}, nil, err
		}
	}
	res.PatientMismatch = mismatch
	return res, nil, nil
}

// insert writes a validated new instance.
func (ix *Index) insert(tx *bolt.Tx, p *prepared) (mismatch bool, err error) {
	in := p.in
	studyKey := []byte(p.study)
	sb := tx.Bucket(bStudies)
	var st studyRec
	if v := sb.Get(studyKey); v == nil {
		st = studyRec{
			PatientID: []byte(in.PatientID), Issuer: []byte(in.IssuerOfPatientID), Demo: p.demo, decoded: true,
			SortKey: p.sortKey, Created: unixNano(in.Stored), Attrs: packedAttrs{b: p.studyList, plain: true},
		}
		for _, e := range p.studyIdx {
			if err := tx.Bucket(e.bucket).Put(e.key, p.sortKey[:]); err != nil {
				return false, fmt.Errorf("index %s: %w", e.bucket, err)
			}
		}
		if err := addPatient(tx, p.patientKey, p.patientList); err != nil {
			return false, err
		}
		if err := addCount(tx, keyStudies, 1); err != nil {
			return false, err
		}
	} else {
		if st, err = decodeStudy(v, true); err != nil {
			return false, fmt.Errorf("study record: %w", err)
		}
		mismatch = !bytes.Equal(st.Demo, p.demo)
	}

	rb := tx.Bucket(bSeries)
	var sr seriesRec
	v := rb.Get(p.seriesKey)
	newSeries := v == nil
	if newSeries {
		sr = seriesRec{HasNumber: p.seriesHasNum, Number: p.seriesNum, Modality: p.modality, Attrs: packedAttrs{b: p.seriesList, plain: true}}
		if err := tx.Bucket(bSeriesUID).Put([]byte(p.series), []byte(p.study)); err != nil {
			return false, err
		}
		st.NSeries++
		if p.modality != "" {
			var added bool
			if st.Modalities, added = addCounted(st.Modalities, p.modality); added {
				if err := tx.Bucket(bxMod).Put(indexKey(p.modality, p.study), p.sortKey[:]); err != nil {
					return false, err
				}
			}
		}
		if err := addCount(tx, keySeries, 1); err != nil {
			return false, err
		}
	} else if sr, err = decodeSeries(v); err != nil {
		return false, fmt.Errorf("series record: %w", err)
	}
	sr.NInst++
	st.NInst++
	st.SOPClasses, _ = addCounted(st.SOPClasses, in.SOPClassUID)

	puts := []struct {
		b    []byte
		k, v []byte
	}{
		{bSeries, p.seriesKey, sr.encode()},
		{bStudies, studyKey, st.encode()},
		{bInstances, []byte(p.sop), p.instVal},
		{bHier, p.hierKey, nil},
		{bObjects, []byte(in.ObjectKey), []byte(p.sop)},
	}
	for _, w := range puts {
		v := w.v
		if v == nil {
			v = []byte{}
		}
		if err := tx.Bucket(w.b).Put(w.k, v); err != nil {
			return false, fmt.Errorf("put %s: %w", w.b, err)
		}
	}
	if err := ix.putMetadata(tx, p, newSeries); err != nil {
		return false, err
	}
	if in.PatientFromRecord && tx.Bucket(bPatAdt).Get(studyKey) == nil {
		if err := markPatientFromRecord(tx, p.study); err != nil {
			return false, err
		}
	}
	return mismatch, addCount(tx, keyInstances, 1)
}

func addPatient(tx *bolt.Tx, key, list []byte) error {
	b := tx.Bucket(bPatients)
	pr := patientRec{Attrs: packedAttrs{b: list, plain: true}}
	if v := b.Get(key); v != nil {
		var err error
		if pr, err = decodePatient(v); err != nil {
			return fmt.Errorf("patient record: %w", err)
		}
	}
	pr.NStudies++
	return b.Put(key, pr.encode())
}

// ErrInvalid is returned by Put for an Instance that cannot be indexed
// (missing or over-long UIDs, NUL bytes, no object key or metadata, bad
// VRs, repeated tags).
var ErrInvalid = kind.New(kind.Invalid, "index: invalid instance")

func checkUID(name, uid string) error {
	if uid == "" || len(uid) > maxUIDLen || strings.IndexByte(uid, 0) >= 0 {
		return fmt.Errorf("%w: bad %s", ErrInvalid, name)
	}
	return nil
}

// prepare validates and encodes an Instance outside the transaction.
func prepare(in *Instance) (*prepared, error) {
	if in == nil {
		return nil, fmt.Errorf("%w: nil", ErrInvalid)
	}
	for _, c := range []struct{ name, v string }{
		{"StudyInstanceUID", in.StudyUID}, {"SeriesInstanceUID", in.SeriesUID},
		{"SOPInstanceUID", in.SOPInstanceUID}, {"SOPClassUID", in.SOPClassUID},
	} {
		if err := checkUID(c.name, c.v); err != nil {
			return nil, err
		}
	}
	if in.ObjectKey == "" || len(in.ObjectKey) > maxObjectKeyLen || strings.IndexByte(in.ObjectKey, 0) >= 0 {
		return nil, fmt.Errorf("%w: bad object key", ErrInvalid)
	}
	if len(in.Metadata) == 0 || len(in.Metadata) > maxMetadata {
		return nil, fmt.Errorf("%w: no metadata, or more than %d bytes", ErrInvalid, maxMetadata)
	}
	if in.Size < 0 {
		return nil, fmt.Errorf("%w: negative size", ErrInvalid)
	}
	if len(in.PatientID)+len(in.IssuerOfPatientID) > maxIndexValueLen {
		return nil, fmt.Errorf("%w: patient ID too long", ErrInvalid)
	}
	studyA, err := sortedAttrs(in.Study)
	if err != nil {
		return nil, err
	}
	seriesA, err := sortedAttrs(in.Series)
	if err != nil {
		return nil, err
	}
	instA, err := sortedAttrs(in.Instance)
	if err != nil {
		return nil, err
	}
	cp := *in
	cp.Study, cp.Series, cp.Instance = studyA, seriesA, instA
	in = &cp

	p := &prepared{in: in, sop: in.SOPInstanceUID, study: in.StudyUID, series: in.SeriesUID}
	instHas, instNum := intAttr(instA, tagInstanceNumber)
	p.instHasNum, p.instNum = instHas, instNum
	p.seriesHasNum, p.seriesNum = intAttr(seriesA, tagSeriesNumber)
	if a := attrByTag(seriesA, tagModality); a != nil && len(a.Values) > 0 {
		p.modality = truncate(cleanValue("CS", a.Values[0]))
	}
	order := orderBytes(instHas, instNum)
	p.hierKey = slices.Concat([]byte(p.study), []byte{0}, []byte(p.series), []byte{0}, order[:], []byte(p.sop))
	p.seriesKey = seriesKey(p.study, p.series)
	studyList := appendAttrs(nil, studyA)
	var patientA []Attr
	for _, a := range studyA {
		if a.Tag>>16 == 0x0010 {
			patientA = append(patientA, a)
		}
	}
	p.patientList = appendAttrs(nil, patientA)
	p.patientKey = []byte(in.PatientID + "\x00" + in.IssuerOfPatientID)
	p.demo = demographics(in.PatientID, in.IssuerOfPatientID, studyA)
	p.sortKey = studySortKey(studyA)
	seriesList, instList := appendAttrs(nil, seriesA), appendAttrs(nil, instA)
	if max(len(studyList), len(seriesList), len(instList)) > maxAttrList {
		return nil, fmt.Errorf("%w: attributes of more than %d bytes", ErrInvalid, maxAttrList)
	}
	p.instVal = encodeInst(in, instHas, instNum, instList)
	p.studyList, p.seriesList, p.instList = studyList, seriesList, instList
	p.studyIdx = studyIndexEntries(p.study, studyList, p.sortKey)
	p.size = len(in.Metadata) + len(p.instVal) + len(studyList) + len(seriesList)
	return p, nil
}

// sortedAttrs checks attributes and returns them sorted by tag (a copy
// when they were not).
func sortedAttrs(attrs []Attr) ([]Attr, error) {
	for i := range attrs {
		if len(attrs[i].VR) != 2 {
			return nil, fmt.Errorf("%w: attribute %08X has VR %q", ErrInvalid, attrs[i].Tag, attrs[i].VR)
		}
		if i > 0 && attrs[i].Tag == attrs[i-1].Tag {
			return nil, fmt.Errorf("%w: attribute %08X repeated", ErrInvalid, attrs[i].Tag)
		}
	}
	if slices.IsSortedFunc(attrs, cmpAttr) {
		return attrs, nil
	}
	out := slices.Clone(attrs)
	slices.SortStableFunc(out, cmpAttr)
	for i := 1; i < len(out); i++ {
		if out[i].Tag == out[i-1].Tag {
			return nil, fmt.Errorf("%w: attribute %08X repeated", ErrInvalid, out[i].Tag)
		}
	}
	return out, nil
}

func cmpAttr(a, b Attr) int { return cmp.Compare(a.Tag, b.Tag) }

func attrByTag(attrs []Attr, tag uint32) *Attr {
	i, ok := slices.BinarySearchFunc(attrs, tag, func(a Attr, t uint32) int {
		return cmpAttr(a, Attr{Tag: t})
	})
	if !ok {
		return nil
	}
	return &attrs[i]
}

// intAttr parses the first value of an IS attribute.
func intAttr(attrs []Attr, tag uint32) (bool, int64) {
	a := attrByTag(attrs, tag)
	if a == nil || len(a.Values) == 0 {
		return false, 0
	}
	n, err := strconv.ParseInt(cleanValue("IS", a.Values[0]), 10, 64)
	if err != nil {
		return false, 0
	}
	return true, n
}

// demographics encodes what must agree between instances of one study.
func demographics(pid, issuer string, studyA []Attr) []byte {
	e := enc{}
	e.str(pid)
	e.str(issuer)
	for _, tag := range []uint32{tagPatientName, tagPatientBirthDate, tagPatientSex} {
		a := attrByTag(studyA, tag)
		if a == nil {
			e.uv(0)
			continue
		}
		e.uv(uint64(len(a.Values)) + 1)
		for _, v := range a.Values {
			if tag == tagPatientName {
				v = strings.Join(pnGroups(v), "=")
			} else {
				v = cleanValue(a.VR, v)
			}
			e.str(v)
		}
	}
	return e.buf
}

// studySortKey is YYYYMMDD + HHMMSS.ffffff of StudyDate/StudyTime.
func studySortKey(studyA []Attr) [sortKeyLen]byte {
	date, tm := "00000000", "000000.000000"
	if a := attrByTag(studyA, tagStudyDate); a != nil && len(a.Values) > 0 {
		if d, ok := normDA(a.Values[0]); ok {
			date = d
		}
	}
	if a := attrByTag(studyA, tagStudyTime); a != nil && len(a.Values) > 0 {
		if t, ok := normTM(a.Values[0], false); ok {
			tm = t
		}
	}
	var k [sortKeyLen]byte
	copy(k[:], date+tm)
	return k
}

// studyIndexEntries lists the secondary index keys of a study, except
// x_mod (which follows its series).
func studyIndexEntries(uid string, attrs []byte, sk [sortKeyLen]byte) []idxEntry {
	out := []idxEntry{{bxDate, slices.Concat(sk[:], []byte(uid))}}
	seen := map[string]bool{}
	add := func(b []byte, v string) {
		if v == "" {
			return
		}
		k := indexKey(v, uid)
		if seen[string(b)+"\x01"+string(k)] {
			return
		}
		seen[string(b)+"\x01"+string(k)] = true
		out = append(out, idxEntry{b, k})
	}
	if a, ok := findAttr(attrs, tagPatientID); ok {
		a.each(func(v []byte) bool { add(bxPID, cleanValue("LO", string(v))); return false })
	}
	if a, ok := findAttr(attrs, tagAccessionNumber); ok {
		a.each(func(v []byte) bool { add(bxAcc, cleanValue("SH", string(v))); return false })
	}
	if a, ok := findAttr(attrs, tagPatientName); ok && a.VR == "PN" {
		a.each(func(v []byte) bool {
			for _, g := range pnGroups(string(v)) {
				add(bxPN, g)
				for _, c := range nameComponents(g) {
					add(bxPNC, c)
				}
			}
			return false
		})
	}
	return out
}

// truncate bounds an index value.
func truncate(v string) string {
	if len(v) > maxIndexValueLen {
		return v[:maxIndexValueLen]
	}
	return v
}

// indexKey is value \x00 studyUID.
func indexKey(v, uid string) []byte {
	v = truncate(v)
	k := make([]byte, 0, len(v)+1+len(uid))
	k = append(k, v...)
	k = append(k, 0)
	return append(k, uid...)
}

func seriesKey(study, series string) []byte {
	return []byte(study + "\x00" + series)
}
