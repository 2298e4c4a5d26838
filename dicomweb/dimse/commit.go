package dimse

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/index"
)

// N-service command fields (PS3.7 E.1) and elements.
const (
	NEventReportRQ  uint16 = 0x0100
	NEventReportRSP uint16 = 0x8100
	NActionRQ       uint16 = 0x0130
	NActionRSP      uint16 = 0x8130

	tagEventTypeID  uint32 = 0x00001002
	tagActionTypeID uint32 = 0x00001008
)

// N-ACTION statuses (PS3.7 C.4) and storage commitment failure reasons
// (PS3.4 J.3.3.1.2).
const (
	StatusNoSuchAction         uint16 = 0x0123
	StatusNoSuchSOPInstance    uint16 = 0x0112
	StatusMissingAttribute     uint16 = 0x0120
	StatusInvalidAttribute     uint16 = 0x0106
	StatusNoSuchSOPClass       uint16 = 0x0118
	StatusClassInstanceClash   uint16 = 0x0119
	StatusDuplicateTransaction uint16 = 0x0131
)

// Storage commitment attributes.
const (
	tagTransactionUID          uint32 = 0x00081195
	tagReferencedSOPSequence   uint32 = 0x00081199
	tagFailedSOPSequence       uint32 = 0x00081198
	tagReferencedSOPClassUID   uint32 = 0x00081150
	tagReferencedSOPInstanceID uint32 = 0x00081155
	tagFailureReason           uint32 = 0x00081197
	tagRetrieveAETitle         uint32 = 0x00080054
)

// maxCommitItems bounds the instances of one commitment request.
const maxCommitItems = 100000

// commitRef is one instance of a commitment request, with the reason it
// failed (0: committed).
type commitRef struct {
	sopClass, sopInstance string
	reason                uint16
}

// commitRequest reads the data set of an N-ACTION-RQ of Storage
// Commitment Push Model (PS3.4 J.3.2.1): the transaction and the
// instances. The status is what the N-ACTION-RSP says of a refusal.
func commitRequest(b []byte, ts string) (string, []commitRef, uint16, error) {
	f, err := parseDataSet(b, ts)
	if err != nil {
		return "", nil, StatusInvalidAttribute, err
	}
	txn := f.DataSet.String(part10.Tag(tagTransactionUID))
	seq := f.DataSet.Find(part10.Tag(tagReferencedSOPSequence))
	switch {
	case txn == "" || seq == nil:
		return "", nil, StatusMissingAttribute, errors.New("no TransactionUID or ReferencedSOPSequence")
	case !part10.ValidUID(txn):
		return "", nil, StatusInvalidAttribute, errors.New("invalid TransactionUID")
	case len(seq.Items) == 0 || len(seq.Items) > maxCommitItems:
		return "", nil, StatusInvalidAttribute, fmt.Errorf("%d referenced instances", len(seq.Items))
	}
	refs := make([]commitRef, 0, len(seq.Items))
	for _, it := range seq.Items {
		r := commitRef{
			sopClass:    it.String(part10.Tag(tagReferencedSOPClassUID)),
			sopInstance: it.String(part10.Tag(tagReferencedSOPInstanceID)),
		}
		if !part10.ValidUID(r.sopClass) || !part10.ValidUID(r.sopInstance) {
			return "", nil, StatusInvalidAttribute, errors.New("invalid referenced SOP class or instance UID")
		}
		refs = append(refs, r)
	}
	return txn, refs, 0, nil
}

// startCommit answers an N-ACTION-RQ of storage commitment: the response
// goes out once the request is understood; the instances are then checked
// and the N-EVENT-REPORT sent on a new association to the requestor (its
// peers file line gives the address).
func (a *assoc) startCommit(ctx context.Context, cmd *Command, id byte, pc *acceptedContext) *message {
	sink := &identifierSink{}
	m := &message{cmd: cmd, ctx: id, sink: sink, abort: func(error) {}}
	rsp := func(status uint16, comment string) error {
		r := &Command{Field: NActionRSP, RespondedTo: cmd.MessageID, Status: status, ErrorComment: comment,
			AffectedSOPClass: StorageCommitmentSOPClass, AffectedSOPInstance: StorageCommitmentSOPInstance}
		if status == StatusSuccess {
			r.Raw = map[uint32][]byte{tagActionTypeID: usValue(1)}
		}
		return a.send(id, r)
	}
	m.finish = func() error {
		requested := trimUID(cmd.Raw[tagRequestedSOPClass])
		instance := trimUID(cmd.Raw[tagRequestedSOPInst])
		action := binary.LittleEndian.Uint16(append(cmd.Raw[tagActionTypeID], 0, 0))
		switch {
		case requested != StorageCommitmentSOPClass:
			return rsp(StatusNoSuchSOPClass, "")
		case instance != StorageCommitmentSOPInstance:
			return rsp(StatusNoSuchSOPInstance, "")
		case action != 1:
			return rsp(StatusNoSuchAction, "")
		case sink.over:
			return rsp(StatusOutOfResources, "request too large")
		}
		txn, refs, status, err := commitRequest(sink.b, pc.transferSyntax)
		if err != nil {
			a.log.Info("storage commitment refused", "err", err)
			return rsp(status, clip(err.Error()))
		}
		peer, known := a.s.Policy().Peer(a.callingAE)
		addr, ok := destinationAddr(peer)
		if !known || !ok {
			// Nowhere to send the result: say so now rather than never.
			return rsp(StatusProcessingFailure, "requestor has no address in the peers file")
		}
		if err := rsp(StatusSuccess, ""); err != nil {
			return err
		}
		a.s.commit(a.callingAE, a.remote, addr, txn, refs)
		return nil
	}
	return m
}

// commit checks the instances of a commitment request in the background
// and reports the result to the requestor (PS3.4 J.3.3).
func (s *Server) commit(callingAE, remote, addr, txn string, refs []commitRef) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx := context.Background()
		failed := 0
		for i := range refs {
			if s.stopping() {
				// The requestor gets no report and asks again later
				// (PS3.4 J.3.3: a report may never come).
				s.log.Info("storage commitment dropped at shutdown", "calling_ae", callingAE, "transaction", txn)
				return
			}
			refs[i].reason = s.checkCommitted(ctx, &refs[i])
			if refs[i].reason != 0 {
				failed++
			}
		}
		err := s.reportCommitment(ctx, callingAE, addr, txn, refs)
		log := s.log.With("calling_ae", callingAE, "transaction", txn, "instances", len(refs), "failed", failed)
		if err != nil {
			log.Warn("storage commitment result not delivered", "err", err)
		} else {
			log.Info("storage commitment reported")
		}
		s.auditCommit(ctx, CommitEvent{CallingAE: callingAE, Remote: remote, TransactionUID: txn,
			Committed: len(refs) - failed, Failed: failed, Delivered: err == nil})
	}()
}

// checkCommitted verifies one instance: indexed, of that SOP class, and
// its stored object read back whole with the SHA-256 the index recorded.
// It returns the failure reason, 0 when the instance is safely stored.
func (s *Server) checkCommitted(ctx context.Context, r *commitRef) uint16 {
	if s.cfg.Index == nil || s.cfg.Retriever == nil {
		return StatusProcessingFailure
	}
	ref, err := s.cfg.Index.Lookup(ctx, r.sopInstance)
	switch {
	case errors.Is(err, index.ErrNotFound):
		return StatusNoSuchSOPInstance
	case err != nil:
		return StatusProcessingFailure
	case ref.SOPClassUID != r.sopClass:
		return StatusClassInstanceClash
	}
	body, err := s.cfg.Retriever.Stored(ctx, ref)
	if err != nil {
		return StatusProcessingFailure
	}
	defer body.Close()
	h := sha256.New()
	if err := body.WriteTo(ctx, h); err != nil {
		return StatusProcessingFailure
	}
	if !bytes.Equal(h.Sum(nil), ref.SHA256[:]) {
		s.log.Error("storage commitment: stored object does not match its hash", "sop", r.sopInstance, "key", ref.ObjectKey)
		return StatusProcessingFailure
	}
	return 0
}

// reportCommitment sends the N-EVENT-REPORT-RQ of a commitment result on a
// new association to the requestor, where we take the SCP role of the
// Storage Commitment SOP class (role selection, PS3.4 J.3.3).
func (s *Server) reportCommitment(ctx context.Context, calledAE, addr, txn string, refs []commitRef) error {
	props := []proposal{{StorageCommitmentSOPClass, []string{part10.ExplicitVRLittleEndian, part10.ImplicitVRLittleEndian}}}
	roles := []roleSelection{{sopClass: StorageCommitmentSOPClass, scu: false, scp: true}}
	c, err := s.dialRequestor(ctx, addr, calledAE, props, roles)
	if err != nil {
		return err
	}
	id, ts := c.context(StorageCommitmentSOPClass, "")
	if id == 0 {
		c.close(nil)
		return errors.New("the requestor accepted no Storage Commitment presentation context")
	}
	event := uint16(1)
	for _, r := range refs {
		if r.reason != 0 {
			event = 2
		}
	}
	cmd := &Command{Field: NEventReportRQ, AffectedSOPClass: StorageCommitmentSOPClass, AffectedSOPInstance: StorageCommitmentSOPInstance,
		Raw: map[uint32][]byte{tagEventTypeID: usValue(event)}}
	rsp, _, err := c.request(ctx, id, cmd, bytes.NewReader(commitResult(ts, s.cfg.AETitle, txn, refs)))
	c.close(err)
	if err != nil {
		return err
	}
	if rsp.Status != StatusSuccess {
		return fmt.Errorf("N-EVENT-REPORT-RSP status %s", statusText(rsp.Status))
	}
	return nil
}

// commitResult encodes the Event Information of a commitment result
// (PS3.4 J.3.3.1): TransactionUID, RetrieveAETitle, the committed
// instances in ReferencedSOPSequence, the others in FailedSOPSequence
// with their FailureReason.
func commitResult(ts, aet, txn string, refs []commitRef) []byte {
	w := dsWriter{explicit: ts != part10.ImplicitVRLittleEndian}
	var ok, failed [][]byte
	for _, r := range refs {
		it := dsWriter{explicit: w.explicit}
		it.str(tagReferencedSOPClassUID, "UI", r.sopClass)
		it.str(tagReferencedSOPInstanceID, "UI", r.sopInstance)
		if r.reason != 0 {
			it.us(tagFailureReason, r.reason)
			failed = append(failed, it.b)
		} else {
			ok = append(ok, it.b)
		}
	}
	w.str(tagRetrieveAETitle, "AE", aet)
	w.str(tagTransactionUID, "UI", txn)
	if len(failed) > 0 {
		w.seq(tagFailedSOPSequence, failed)
	}
	if len(ok) > 0 {
		w.seq(tagReferencedSOPSequence, ok)
	}
	return w.b
}

// dsWriter encodes small data sets in Implicit or Explicit VR Little
// Endian, elements in the order written (callers write in tag order).
type dsWriter struct {
	explicit bool
	b        []byte
}

// str writes a string element, padded to even length (NUL for UI).
func (w *dsWriter) str(tag uint32, vr, s string) {
	v := []byte(s)
	if len(v)%2 == 1 {
		pad := byte(' ')
		if vr == "UI" {
			pad = 0
		}
		v = append(v, pad)
	}
	w.b = appendAnswerElement(w.b, w.explicit, tag, vr, v)
}

func (w *dsWriter) us(tag uint32, v uint16) {
	w.b = appendAnswerElement(w.b, w.explicit, tag, "US", binary.LittleEndian.AppendUint16(nil, v))
}

// seq writes a sequence of defined length whose items are the encoded
// data sets items.
func (w *dsWriter) seq(tag uint32, items [][]byte) {
	var v []byte
	for _, it := range items {
		v = binary.LittleEndian.AppendUint16(v, 0xFFFE)
		v = binary.LittleEndian.AppendUint16(v, 0xE000)
		v = binary.LittleEndian.AppendUint32(v, uint32(len(it)))
		v = append(v, it...)
	}
	w.b = appendAnswerElement(w.b, w.explicit, tag, "SQ", v)
}
