package dimse

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/minipacs/minipacs/dicomweb/archive/query"
	"github.com/minipacs/minipacs/dicomweb/archive/retrieve"
	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/index"
)

// Query/Retrieve statuses (PS3.4 C.4.1.1.4, C.4.2.1.5, C.4.3.1.4).
const (
	StatusPending            uint16 = 0xFF00
	StatusCancel             uint16 = 0xFE00
	StatusIdentifierMismatch uint16 = 0xA900
	StatusUnableToProcess    uint16 = 0xC000
	StatusOutOfResourcesQR   uint16 = 0xA700
	StatusMatchesUnknown     uint16 = 0xA701 // out of resources: unable to calculate the number of matches
	StatusSubOpsFailed       uint16 = 0xA702 // out of resources: unable to perform sub-operations
	StatusUnknownDestination uint16 = 0xA801
	StatusSubOpsWarning      uint16 = 0xB000 // sub-operations complete, one or more failures or warnings
)

// tagFailedSOPInstanceUIDList is (0008,0058), the identifier of a C-MOVE
// or C-GET response with failures.
const tagFailedSOPInstanceUIDList = 0x00080058

// operation is a C-FIND, C-MOVE or C-GET in progress: it runs in its own
// goroutine while the association's reader goes on reading, so that a
// C-CANCEL-RQ, or the C-STORE-RSPs of C-GET sub-operations, reach it.
type operation struct {
	msgID  uint16
	cancel context.CancelFunc
	done   chan struct{}
	// rsp receives the responses the peer sends during the operation (the
	// C-STORE-RSPs of C-GET sub-operations).
	rsp chan *Command
	// peerCancel is set by the peer's C-CANCEL-RQ.
	peerCancel atomic.Bool
}

// active reports whether an operation runs.
func (a *assoc) opActive() bool {
	if a.op == nil {
		return false
	}
	select {
	case <-a.op.done:
		a.op = nil
		return false
	default:
		return true
	}
}

// endOp cancels the operation in progress, if any, and waits for it.
func (a *assoc) endOp() {
	if a.op != nil {
		a.op.cancel()
		<-a.op.done
		a.op = nil
	}
}

// startOp runs a Query/Retrieve request in its own goroutine. The request's
// identifier is whole in data. run returns the final response (and its
// identifier, nil for none); the operation counts as ended before that
// response is sent, so that the peer's next request waits for nothing.
func (a *assoc) startOp(ctx context.Context, cmd *Command, id byte, pc *acceptedContext, data []byte,
	run func(ctx context.Context, op *operation, cmd *Command, id byte, pc *acceptedContext, data []byte) (*Command, []byte)) {
	octx, cancel := context.WithCancel(ctx)
	op := &operation{msgID: cmd.MessageID, cancel: cancel, done: make(chan struct{}), rsp: make(chan *Command, 1)}
	a.op = op
	go func() {
		final, ds := run(octx, op, cmd, id, pc, data)
		cancel()
		// The reader may be blocked with the long deadline of an
		// operation in progress: back to the idle timeout.
		a.nc.SetReadDeadline(a.s.deadline(a.s.lim.IdleTimeout))
		close(op.done)
		if final != nil {
			a.respond(id, cmd, final, ds)
		}
	}()
}

// respond sends a response to cmd with an optional identifier.
func (a *assoc) respond(id byte, cmd *Command, rsp *Command, ds []byte) error {
	rsp.Field = cmd.Field | 0x8000
	rsp.RespondedTo = cmd.MessageID
	if rsp.AffectedSOPClass == "" {
		rsp.AffectedSOPClass = cmd.AffectedSOPClass
	}
	var data io.Reader
	if ds != nil {
		data = bytes.NewReader(ds)
	}
	return a.w.message(id, rsp, data)
}

// pendingFlushEvery bounds how long C-FIND answers wait in the write
// buffer: they go out when it fills, at the final response, or when the
// oldest has waited this long.
const pendingFlushEvery = 20 * time.Millisecond

// sendPending sends one pending C-FIND answer, buffered (see
// pendingFlushEvery); last is when the buffer was last flushed.
func (a *assoc) sendPending(id byte, cmd *Command, ds []byte, last *time.Time) error {
	rsp := &Command{Field: cmd.Field | 0x8000, RespondedTo: cmd.MessageID, AffectedSOPClass: cmd.AffectedSOPClass, Status: StatusPending}
	if err := a.w.buffered(id, rsp, bytes.NewReader(ds)); err != nil {
		return err
	}
	if time.Since(*last) >= pendingFlushEvery {
		*last = time.Now()
		return a.w.flush()
	}
	return nil
}

// identifierSink collects an identifier up to maxIdentifierBytes.
type identifierSink struct {
	b    []byte
	over bool
}

func (s *identifierSink) Write(p []byte) (int, error) {
	if len(s.b)+len(p) > maxIdentifierBytes {
		s.over = true
	} else if !s.over {
		s.b = append(s.b, p...)
	}
	return len(p), nil
}

// startQR receives the identifier of a C-FIND, C-MOVE or C-GET, then
// starts the operation.
func (a *assoc) startQR(ctx context.Context, cmd *Command, id byte, pc *acceptedContext) *message {
	sink := &identifierSink{}
	m := &message{cmd: cmd, ctx: id, sink: sink, abort: func(error) {}}
	m.finish = func() error {
		if sink.over {
			return a.respond(id, cmd, &Command{Status: StatusOutOfResourcesQR, ErrorComment: "identifier too large"}, nil)
		}
		switch pc.service {
		case serviceFind:
			if pc.abstractSyntax == ModalityWorklistFind {
				a.startOp(ctx, cmd, id, pc, sink.b, a.worklistFind)
			} else {
				a.startOp(ctx, cmd, id, pc, sink.b, a.find)
			}
		case serviceMove:
			a.startOp(ctx, cmd, id, pc, sink.b, a.move)
		case serviceGet:
			a.startOp(ctx, cmd, id, pc, sink.b, a.get)
		}
		return nil
	}
	return m
}

// qrServiceOf is the service of a Query/Retrieve request.
func qrServiceOf(field uint16) service {
	switch field {
	case CFindRQ:
		return serviceFind
	case CMoveRQ:
		return serviceMove
	case CGetRQ:
		return serviceGet
	}
	return 0
}

// qrLevel maps a QueryRetrieveLevel to an index level; patient is true for
// PATIENT (searched at study level). ok is false for a level the
// information model lacks.
func qrLevel(level, sopClass string) (l index.Level, patient, ok bool) {
	patientRoot := sopClass == PatientRootFind || sopClass == PatientRootMove || sopClass == PatientRootGet
	switch level {
	case "PATIENT":
		return index.LevelStudy, true, patientRoot
	case "STUDY":
		return index.LevelStudy, false, true
	case "SERIES":
		return index.LevelSeries, false, true
	case "IMAGE":
		return index.LevelInstance, false, true
	}
	return 0, false, false
}

// failure returns a final response with status and comment.
func failure(status uint16, comment string) *Command {
	return &Command{Status: status, ErrorComment: comment}
}

// queryError is the comment of a refused query: the query service's texts
// name at most a keyword, never a value.
func queryError(err error) string {
	var qe *query.Error
	if errors.As(err, &qe) {
		return clip(qe.Msg)
	}
	return "identifier not understood"
}

// clip cuts an Error Comment to the 64 characters of its LO.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}

// find runs a C-FIND (PS3.4 C.4.1.3.1): one pending response per match,
// streamed as the index finds them, then the final one.
func (a *assoc) find(ctx context.Context, op *operation, cmd *Command, id byte, pc *acceptedContext, data []byte) (*Command, []byte) {
	if a.s.cfg.Index == nil {
		return failure(StatusUnableToProcess, "query not available"), nil
	}
	idf, err := decodeIdentifier(data, pc.transferSyntax)
	if err != nil {
		return failure(StatusIdentifierMismatch, "identifier cannot be parsed"), nil
	}
	level, patient, ok := qrLevel(idf.level, pc.abstractSyntax)
	if !ok {
		return failure(StatusIdentifierMismatch, "invalid QueryRetrieveLevel"), nil
	}
	keys := idf.keys
	if patient {
		keys = slices.DeleteFunc(slices.Clone(keys), func(k query.Key) bool { return !patientLevel(k.Tag) && k.Value == "" })
	}
	req, err := query.FromKeys(level, keys, query.Options{})
	if err != nil {
		return failure(StatusIdentifierMismatch, queryError(err)), nil
	}
	fields := req.Include.Fields
	if patient {
		fields = slices.DeleteFunc(slices.Clone(fields), func(f query.Field) bool { return !patientLevel(f.Tag) })
	}
	q := req.Query
	q.Encoded, q.Reuse = false, true
	seen := map[string]bool{}
	matches := 0
	lastFlush := time.Now()
	err = a.s.cfg.Index.Search(ctx, q, func(res *index.Result) error {
		if patient {
			pid := attrValue(res, index.LevelStudy, uint32(part10.TagPatientID)) + "\x00" + attrValue(res, index.LevelStudy, uint32(part10.TagIssuerOfPatientID))
			if seen[pid] {
				return nil
			}
			seen[pid] = true
		}
		ds, err := encodeMatch(res, level, idf.level, fields, idf.charset, pc.transferSyntax, a.s.cfg.AETitle)
		if err != nil {
			return err
		}
		matches++
		return a.sendPending(id, cmd, ds, &lastFlush)
	})
	a.s.auditQuery(ctx, QueryEvent{CallingAE: a.callingAE, Remote: a.remote, SOPClassUID: pc.abstractSyntax, Level: idf.level, Matches: matches, Identifier: data, Failed: err != nil && ctx.Err() == nil})
	switch {
	case ctx.Err() != nil && a.opCancelled(op):
		return &Command{Status: StatusCancel}, nil
	case err != nil:
		a.log.Warn("C-FIND failed", "err", err)
		if isNetErr(err) {
			return nil, nil
		}
		return failure(StatusUnableToProcess, "search failed"), nil
	}
	return &Command{Status: StatusSuccess}, nil
}

// opCancelled reports whether op ended by the peer's C-CANCEL (rather
// than the association's end).
func (a *assoc) opCancelled(op *operation) bool { return op.peerCancel.Load() }

// patientLevel reports whether tag is a patient-level attribute of the
// Patient Root information model (PS3.4 C.6.1.1.2).
func patientLevel(tag uint32) bool {
	switch {
	case tag>>16 == 0x0010:
		return true
	case tag >= 0x00201200 && tag <= 0x00201204:
		return true
	}
	return false
}

// attrValue returns the first value of attribute tag at level l of res.
func attrValue(res *index.Result, l index.Level, tag uint32) string {
	for _, at := range res.Attrs(l) {
		if at.Tag == tag {
			if len(at.Values) > 0 {
				return at.Values[0]
			}
			return ""
		}
	}
	return ""
}

// refsOf finds the instances a C-MOVE or C-GET identifier names (PS3.4
// C.4.2.2.1): the unique keys of its level and of the levels above (a
// list of UIDs at the level itself), PatientID at PATIENT level.
func (s *Server) refsOf(ctx context.Context, idf *identifier, sopClass string) ([]index.Ref, error) {
	level, patient, ok := qrLevel(idf.level, sopClass)
	if !ok {
		return nil, errorComment("invalid QueryRetrieveLevel")
	}
	want := map[uint32]bool{uint32(part10.TagPatientID): true, uint32(part10.TagStudyInstanceUID): true}
	need := uint32(part10.TagStudyInstanceUID)
	switch {
	case patient:
		need = uint32(part10.TagPatientID)
	case level >= index.LevelSeries:
		want[uint32(part10.TagSeriesInstanceUID)] = true
		need = uint32(part10.TagSeriesInstanceUID)
	}
	if level == index.LevelInstance {
		want[uint32(part10.TagSOPInstanceUID)] = true
		need = uint32(part10.TagSOPInstanceUID)
	}
	var keys []query.Key
	found := false
	for _, k := range idf.keys {
		if want[k.Tag] && strings.TrimSpace(k.Value) != "" {
			if strings.ContainsAny(k.Value, "*?") {
				return nil, errorComment("wildcard in a unique key")
			}
			keys = append(keys, k)
			found = found || k.Tag == need
		}
	}
	if !found {
		return nil, errorComment("no unique key of the QueryRetrieveLevel")
	}
	req, err := query.FromKeys(index.LevelInstance, keys, query.Options{})
	if err != nil {
		return nil, errorComment(queryError(err))
	}
	q := req.Query
	q.Encoded, q.Reuse = false, false // the UIDs are kept beyond the callback
	type uids struct{ study, series, sop string }
	var list []uids
	err = s.cfg.Index.Search(ctx, q, func(res *index.Result) error {
		list = append(list, uids{
			attrValue(res, index.LevelStudy, uint32(part10.TagStudyInstanceUID)),
			attrValue(res, index.LevelSeries, uint32(part10.TagSeriesInstanceUID)),
			attrValue(res, index.LevelInstance, uint32(part10.TagSOPInstanceUID)),
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	refs := make([]index.Ref, 0, len(list))
	for _, u := range list {
		ref, err := s.cfg.Retriever.Ref(ctx, u.study, u.series, u.sop)
		if err != nil {
			if errors.Is(err, index.ErrNotFound) {
				continue // deleted since the search
			}
			return nil, err
		}
		refs = append(refs, *ref)
	}
	return refs, nil
}

// errorComment is a refusal of an identifier: the text is the response's
// Error Comment.
type errorComment string

func (e errorComment) Error() string { return string(e) }

// subStorer sends the C-STORE sub-operations of a C-MOVE (on a new
// association) or a C-GET (on the requestor's own).
type subStorer interface {
	// pick returns the presentation context on which ref can be sent, and
	// the transfer syntax to send it in; ok is false when none fits.
	pick(ref *index.Ref) (id byte, ts string, ok bool)
	// store sends one C-STORE-RQ with its data set and returns the
	// status of the C-STORE-RSP. An error means the association is lost.
	store(ctx context.Context, id byte, cmd *Command, data io.Reader) (uint16, error)
}

// counts are the sub-operation counters of a C-MOVE or C-GET.
type counts struct {
	remaining, completed, failed, warning int
	failedUIDs                            []string
}

func (c *counts) set(cmd *Command, final bool) *Command {
	if cmd.Raw == nil {
		cmd.Raw = map[uint32][]byte{}
	}
	clamp := func(n int) []byte { return usValue(uint16(min(n, 0xFFFF))) }
	if !final || cmd.Status == StatusCancel {
		cmd.Raw[tagRemaining] = clamp(c.remaining)
	}
	cmd.Raw[tagCompleted] = clamp(c.completed)
	cmd.Raw[tagFailed] = clamp(c.failed)
	cmd.Raw[tagWarning] = clamp(c.warning)
	return cmd
}

// transfer runs the sub-operations of a C-MOVE or C-GET: one C-STORE per
// instance, a pending response after each, and returns the final response
// (PS3.4 C.4.2.3.1, C.4.3.3.1).
func (a *assoc) transfer(ctx context.Context, op *operation, cmd *Command, id byte, pc *acceptedContext, refs []index.Ref, dst subStorer, origin bool) (*Command, []byte) {
	c := &counts{remaining: len(refs)}
	var lost error
	for i := range refs {
		if ctx.Err() != nil {
			break
		}
		ref := &refs[i]
		c.remaining--
		status, err := a.subStore(ctx, ref, cmd, dst, origin)
		switch {
		case err != nil && !errors.Is(err, errSubOpFailed):
			lost = err
		case statusClass(status) == "success":
			c.completed++
		case statusClass(status) == "warning":
			c.warning++
		default:
			c.failed++
			c.failedUIDs = append(c.failedUIDs, ref.SOPInstanceUID)
		}
		if lost != nil {
			c.remaining++
			break
		}
		if c.remaining > 0 {
			if err := a.respond(id, cmd, c.set(&Command{Status: StatusPending}, false), nil); err != nil {
				return nil, nil
			}
		}
	}
	a.s.auditRetrieve(ctx, RetrieveEvent{CallingAE: a.callingAE, Remote: a.remote, SOPClassUID: pc.abstractSyntax,
		Destination: cmd.MoveDestination, Completed: c.completed, Failed: c.failed, Warning: c.warning, Studies: studiesOf(refs)})
	if lost != nil {
		a.log.Warn("sub-operations stopped", "err", lost)
		c.failed += c.remaining
		for _, r := range refs[len(refs)-c.remaining:] {
			c.failedUIDs = append(c.failedUIDs, r.SOPInstanceUID)
		}
		c.remaining = 0
	}
	final := &Command{Status: StatusSuccess}
	switch {
	case ctx.Err() != nil && a.opCancelled(op):
		final.Status = StatusCancel
		for _, r := range refs[len(refs)-c.remaining:] {
			c.failedUIDs = append(c.failedUIDs, r.SOPInstanceUID)
		}
	case ctx.Err() != nil:
		return nil, nil // the association ended
	case c.failed > 0 && c.completed == 0 && c.warning == 0:
		final.Status, final.ErrorComment = StatusSubOpsFailed, "every sub-operation failed"
	case c.failed > 0 || c.warning > 0:
		final.Status = StatusSubOpsWarning
	}
	c.set(final, true)
	if len(c.failedUIDs) == 0 {
		return final, nil
	}
	return final, encodeUIDList(pc.transferSyntax, tagFailedSOPInstanceUIDList, c.failedUIDs)
}

// errSubOpFailed: one sub-operation failed locally (the object could not
// be read or converted); the association goes on.
var errSubOpFailed = errors.New("dimse: sub-operation failed")

// subStore sends one instance; origin adds the Move Originator elements.
func (a *assoc) subStore(ctx context.Context, ref *index.Ref, req *Command, dst subStorer, origin bool) (uint16, error) {
	id, ts, ok := dst.pick(ref)
	if !ok {
		a.log.Info("sub-operation: no presentation context", "sop_class", ref.SOPClassUID, "stored_ts", ref.TransferSyntaxUID)
		return StatusSOPClassUnsupported, errSubOpFailed
	}
	body, err := a.s.cfg.Retriever.Instance(ctx, ref, ts)
	if err != nil {
		a.log.Warn("sub-operation: read instance", "sop", ref.SOPInstanceUID, "err", err)
		return StatusProcessingFailure, errSubOpFailed
	}
	defer body.Close()
	pr, pw := io.Pipe()
	written := make(chan error, 1)
	go func() {
		err := body.WriteTo(ctx, pw)
		pw.CloseWithError(err)
		written <- err
	}()
	defer func() {
		pr.CloseWithError(io.ErrClosedPipe)
		<-written
	}()
	br := bufio.NewReaderSize(pr, 64<<10)
	if _, err := part10.MetaEnd(br); err != nil {
		a.log.Warn("sub-operation: stored object", "sop", ref.SOPInstanceUID, "err", err)
		return StatusProcessingFailure, errSubOpFailed
	}
	cmd := &Command{Field: CStoreRQ, AffectedSOPClass: ref.SOPClassUID, AffectedSOPInstance: ref.SOPInstanceUID, Priority: req.Priority}
	if origin {
		cmd.Raw = map[uint32][]byte{tagMoveOriginatorAE: aeValue(a.callingAE), tagMoveOriginatorID: usValue(req.MessageID)}
	}
	var data io.Reader = br
	if ts == part10.DeflatedExplicitVRLittleEndian {
		// PS3.5 A.5: a deflated stream of odd length is sent padded with
		// one NUL, and peers refuse odd fragments.
		data = &evenReader{r: br}
	}
	return dst.store(ctx, id, cmd, data)
}

// evenReader passes r through and appends one NUL when r had an odd
// number of bytes.
type evenReader struct {
	r           io.Reader
	odd, padded bool
}

func (e *evenReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if n%2 == 1 {
		e.odd = !e.odd
	}
	if err == io.EOF && e.odd && !e.padded {
		e.padded, e.odd = true, false
		e.r = bytes.NewReader([]byte{0})
		if n > 0 {
			return n, nil
		}
		return e.r.Read(p)
	}
	return n, err
}

// studiesOf lists the distinct studies of refs, for the audit record.
func studiesOf(refs []index.Ref) []string {
	var out []string
	for _, r := range refs {
		if len(out) == 0 || out[len(out)-1] != r.StudyUID {
			if !slices.Contains(out, r.StudyUID) {
				out = append(out, r.StudyUID)
			}
		}
	}
	return out
}

// storageProposals are the presentation contexts proposed to a C-MOVE
// destination for refs: per SOP class one context of the native syntaxes
// (Explicit then Implicit VR Little Endian), and one per other stored
// syntax, so that objects go as stored when the destination accepts that
// (compressed ones, Implicit VR ones), and re-encoded or decoded when it
// accepts only the native syntaxes it prefers. At most 128:
// beyond, stored syntaxes are left out (those objects go native).
func storageProposals(refs []index.Ref) []proposal {
	var native, stored []proposal
	seen := map[string]bool{}
	for i := range refs {
		r := &refs[i]
		if !seen[r.SOPClassUID] {
			seen[r.SOPClassUID] = true
			native = append(native, proposal{r.SOPClassUID, []string{part10.ExplicitVRLittleEndian, part10.ImplicitVRLittleEndian}})
		}
		k := r.SOPClassUID + "\x00" + r.TransferSyntaxUID
		if r.TransferSyntaxUID != part10.ExplicitVRLittleEndian && !seen[k] {
			seen[k] = true
			stored = append(stored, proposal{r.SOPClassUID, []string{r.TransferSyntaxUID}})
		}
	}
	if len(native) > 128 {
		native = native[:128]
	}
	return append(native, stored[:min(len(stored), 128-len(native))]...)
}

// pickStored chooses among the accepted contexts for ref: its stored
// syntax when accepted, else a native one the retrieve service can
// produce.
func pickStored(ref *index.Ref, find func(as, ts string) (byte, string)) (byte, string, bool) {
	if id, ts := find(ref.SOPClassUID, ref.TransferSyntaxUID); id != 0 {
		return id, ts, true
	}
	for _, ts := range []string{part10.ExplicitVRLittleEndian, part10.ImplicitVRLittleEndian} {
		if id, _ := find(ref.SOPClassUID, ts); id != 0 && retrieve.CanSend(ref, ts) {
			return id, ts, true
		}
	}
	return 0, "", false
}

// moveDestination is a C-MOVE destination from the peers file.
type moveDestination struct {
	requestor *requestor
}

func (d *moveDestination) pick(ref *index.Ref) (byte, string, bool) {
	return pickStored(ref, d.requestor.context)
}

func (d *moveDestination) store(ctx context.Context, id byte, cmd *Command, data io.Reader) (uint16, error) {
	rsp, _, err := d.requestor.request(ctx, id, cmd, data)
	if err != nil {
		return 0, err
	}
	return rsp.Status, nil
}

// destinationAddr is where a C-MOVE destination listens: its peers file
// line needs a port and a single host address.
func destinationAddr(p Peer) (string, bool) {
	if p.Port == 0 || p.Any || !p.Hosts.IsValid() || !p.Hosts.IsSingleIP() {
		return "", false
	}
	return netip.AddrPortFrom(p.Hosts.Addr(), uint16(p.Port)).String(), true
}

// move runs a C-MOVE (PS3.4 C.4.2.3.1): the instances the identifier names
// are sent by C-STORE on a new association to the destination AE, which
// must be in the peers file with its address and port.
func (a *assoc) move(ctx context.Context, op *operation, cmd *Command, id byte, pc *acceptedContext, data []byte) (*Command, []byte) {
	peer, known := a.s.Policy().Peer(cmd.MoveDestination)
	addr, ok := destinationAddr(peer)
	if !known || !ok {
		a.log.Info("C-MOVE to an unknown destination", "destination", cmd.MoveDestination)
		return failure(StatusUnknownDestination, "move destination unknown"), nil
	}
	refs, final := a.retrieveRefs(ctx, pc, data)
	if final != nil {
		return final, nil
	}
	if len(refs) == 0 {
		return (&counts{}).set(&Command{Status: StatusSuccess}, true), nil
	}
	c, err := a.s.dialRequestor(ctx, addr, cmd.MoveDestination, storageProposals(refs), nil)
	if err != nil {
		a.log.Warn("C-MOVE destination unreachable", "destination", cmd.MoveDestination, "err", err)
		return failure(StatusSubOpsFailed, "move destination unreachable"), nil
	}
	rsp, ds := a.transfer(ctx, op, cmd, id, pc, refs, &moveDestination{c}, true)
	var lost error
	if rsp == nil || rsp.Status == StatusSubOpsFailed {
		lost = errSubOpFailed
	}
	c.close(lost)
	return rsp, ds
}

// retrieveRefs decodes a C-MOVE or C-GET identifier and finds its
// instances; a refusal comes back as the final response.
func (a *assoc) retrieveRefs(ctx context.Context, pc *acceptedContext, data []byte) ([]index.Ref, *Command) {
	if a.s.cfg.Index == nil || a.s.cfg.Retriever == nil {
		return nil, failure(StatusUnableToProcess, "retrieve not available")
	}
	idf, err := decodeIdentifier(data, pc.transferSyntax)
	if err != nil {
		return nil, failure(StatusIdentifierMismatch, "identifier cannot be parsed")
	}
	refs, err := a.s.refsOf(ctx, idf, pc.abstractSyntax)
	var ec errorComment
	switch {
	case errors.As(err, &ec):
		return nil, failure(StatusIdentifierMismatch, string(ec))
	case err != nil:
		a.log.Warn("retrieve: search failed", "err", err)
		return nil, failure(StatusMatchesUnknown, "search failed")
	}
	return refs, nil
}

// getRequestor sends C-GET sub-operations on the requestor's association.
type getRequestor struct {
	a  *assoc
	op *operation
}

func (g *getRequestor) pick(ref *index.Ref) (byte, string, bool) {
	return pickStored(ref, func(as, ts string) (byte, string) {
		var best byte
		for cid, pc := range g.a.contexts {
			if pc.service == serviceStorage && pc.peerSCP && pc.abstractSyntax == as && pc.transferSyntax == ts && (best == 0 || cid < best) {
				best = cid
			}
		}
		return best, ts
	})
}

func (g *getRequestor) store(ctx context.Context, id byte, cmd *Command, data io.Reader) (uint16, error) {
	g.a.subMsgID++
	cmd.MessageID = g.a.subMsgID
	if err := g.a.w.message(id, cmd, data); err != nil {
		return 0, err
	}
	timer := time.NewTimer(g.a.s.lim.IdleTimeout)
	defer timer.Stop()
	for {
		select {
		case rsp := <-g.op.rsp:
			if rsp.Field != CStoreRSP || rsp.RespondedTo != cmd.MessageID {
				continue // not ours: a late answer
			}
			return rsp.Status, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-timer.C:
			return 0, fmt.Errorf("dimse: no C-STORE-RSP in %v", g.a.s.lim.IdleTimeout)
		}
	}
}

// get runs a C-GET (PS3.4 C.4.3.3.1): the instances go by C-STORE on the
// requestor's association, on the storage contexts for which it took the
// SCP role.
func (a *assoc) get(ctx context.Context, op *operation, cmd *Command, id byte, pc *acceptedContext, data []byte) (*Command, []byte) {
	refs, final := a.retrieveRefs(ctx, pc, data)
	if final != nil {
		return final, nil
	}
	return a.transfer(ctx, op, cmd, id, pc, refs, &getRequestor{a: a, op: op}, false)
}

// encodeUIDList encodes a data set of one UI element holding uids, in
// Implicit or Explicit VR Little Endian, cut to what a value of that
// syntax can hold.
func encodeUIDList(ts string, tag uint32, uids []string) []byte {
	v := []byte(strings.Join(uids, "\\"))
	for len(v) > 0xFFFE { // the 2-byte length of explicit UI
		i := strings.LastIndexByte(string(v[:0xFFFE]), '\\')
		v = v[:max(i, 0)]
	}
	if len(v)%2 == 1 {
		v = append(v, 0)
	}
	b := binary.LittleEndian.AppendUint16(nil, uint16(tag>>16))
	b = binary.LittleEndian.AppendUint16(b, uint16(tag))
	if ts == part10.ImplicitVRLittleEndian {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
	} else {
		b = append(b, 'U', 'I')
		b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
	}
	return append(b, v...)
}
