package dimse

import (
	"context"
	"errors"
	"io"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
)

// errReceiveEnded: Batch.Add returned before the data set was piped to it
// (it never does unless its context ends).
var errReceiveEnded = errors.New("dimse: ingest stopped reading")

// sinkWriter passes writes to w until one fails, then swallows them: the
// P-DATA fragments of a data set are read to their end whatever becomes of
// the object, so that the association stays in step.
type sinkWriter struct {
	w   io.Writer
	err error
}

func (s *sinkWriter) Write(p []byte) (int, error) {
	if s.err == nil {
		_, s.err = s.w.Write(p)
	}
	return len(p), nil
}

// startStore begins a C-STORE: the Part-10 object (File Meta group made
// here, then the data set fragments as they arrive) is piped into an
// ingest batch; the response goes out once the batch is committed.
func (a *assoc) startStore(ctx context.Context, cmd *Command, id byte, pc *acceptedContext) *message {
	m := &message{cmd: cmd, ctx: id}
	refuse := func(status uint16, comment string) *message {
		m.sink, m.abort = io.Discard, func(error) {}
		m.finish = func() error { return a.storeRSP(ctx, id, cmd, StoreEvent{}, status, comment) }
		return m
	}
	switch {
	case pc.service != serviceStorage || !pc.peerSCU || cmd.AffectedSOPClass != pc.abstractSyntax:
		return refuse(StatusSOPClassUnsupported, "SOP class differs from the presentation context")
	case !part10.ValidUID(cmd.AffectedSOPInstance):
		return refuse(StatusDataSetMismatch, "invalid Affected SOP Instance UID")
	}
	b := a.s.cfg.Ingester.Begin(ctx, "")
	pr, pw := io.Pipe()
	added := make(chan error, 1)
	go func() {
		err := b.Add(ctx, pr)
		pr.CloseWithError(errReceiveEnded)
		added <- err
	}()
	sink := &sinkWriter{w: pw}
	// The meta group depends on the UIDs and the syntax only (never on the
	// calling AE or the time): a re-send by any peer makes the same bytes.
	sink.Write(part10.FileMeta(cmd.AffectedSOPClass, cmd.AffectedSOPInstance, pc.transferSyntax, ImplementationClassUID, ImplementationVersionName))
	m.sink = sink
	m.abort = func(err error) {
		pw.CloseWithError(err)
		<-added
		b.Abort(ctx)
	}
	m.finish = func() error {
		pw.Close()
		if err := <-added; err != nil || sink.err != nil {
			b.Abort(ctx)
			a.log.Warn("C-STORE not received", "err", errors.Join(err, sink.err))
			return a.storeRSP(ctx, id, cmd, StoreEvent{}, StatusProcessingFailure, "processing failure")
		}
		res := b.Commit(ctx)[0]
		status, comment := storeStatus(res)
		if status == StatusSuccess && res.SOPInstanceUID != cmd.AffectedSOPInstance {
			// Stored and indexed under the data set's UID: say so.
			status, comment = StatusWarningCoercion, "SOP Instance UID of the data set differs from the command"
		}
		if res.Failure != 0 {
			a.log.Info("C-STORE failed", "status", status, "err", res.Err)
		}
		ev := StoreEvent{SOPClassUID: res.SOPClassUID, SOPInstanceUID: res.SOPInstanceUID, StudyUID: res.StudyUID, Existed: res.Existed}
		return a.storeRSP(ctx, id, cmd, ev, status, comment)
	}
	return m
}

// storeRSP audits a C-STORE and sends its response.
func (a *assoc) storeRSP(ctx context.Context, id byte, cmd *Command, ev StoreEvent, status uint16, comment string) error {
	ev.CallingAE, ev.Remote, ev.Status = a.callingAE, a.remote, status
	if ev.SOPClassUID == "" {
		ev.SOPClassUID, ev.SOPInstanceUID = cmd.AffectedSOPClass, cmd.AffectedSOPInstance
	}
	a.s.auditStored(ctx, ev)
	return a.send(id, &Command{
		Field: CStoreRSP, RespondedTo: cmd.MessageID, Status: status, ErrorComment: comment,
		AffectedSOPClass: cmd.AffectedSOPClass, AffectedSOPInstance: cmd.AffectedSOPInstance,
	})
}
