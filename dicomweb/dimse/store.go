package dimse

import (
	"context"
	"encoding/binary"
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
	case pc.service != serviceStorage || cmd.AffectedSOPClass != pc.abstractSyntax:
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
	sink.Write(fileMeta(cmd.AffectedSOPClass, cmd.AffectedSOPInstance, pc.transferSyntax))
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

// fileMeta returns the first bytes of the Part-10 object of a received
// data set (PS3.10 7.1): a zero preamble, "DICM" and the File Meta group
// in Explicit VR Little Endian. It depends on the UIDs and the transfer
// syntax only (no Source AE Title, no time): the same instance sent again,
// by any peer, makes the same bytes, which ingest recognises as already
// stored. So ImplementationVersionName must not change either.
func fileMeta(sopClass, sopInstance, transferSyntax string) []byte {
	var g []byte
	el := func(elem uint16, vr string, val string, pad byte) {
		if len(val)%2 == 1 {
			val += string(pad)
		}
		g = binary.LittleEndian.AppendUint16(g, 0x0002)
		g = binary.LittleEndian.AppendUint16(g, elem)
		g = append(g, vr...)
		g = binary.LittleEndian.AppendUint16(g, uint16(len(val)))
		g = append(g, val...)
	}
	// (0002,0001) File Meta Information Version, OB 00\01.
	g = append(g, 0x02, 0x00, 0x01, 0x00, 'O', 'B', 0, 0, 2, 0, 0, 0, 0x00, 0x01)
	el(0x0002, "UI", sopClass, 0)
	el(0x0003, "UI", sopInstance, 0)
	el(0x0010, "UI", transferSyntax, 0)
	el(0x0012, "UI", ImplementationClassUID, 0)
	el(0x0013, "SH", ImplementationVersionName, ' ')
	b := make([]byte, 128, 128+4+12+len(g))
	b = append(b, "DICM"...)
	b = append(b, 0x02, 0x00, 0x00, 0x00, 'U', 'L', 4, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(g)))
	return append(b, g...)
}
