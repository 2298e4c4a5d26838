package dimse

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"time"
)

// assoc is one TCP connection of the acceptor: the PS3.8 state machine
// from Sta2 (connection open, awaiting A-ASSOCIATE-RQ) to the close.
type assoc struct {
	s    *Server
	nc   net.Conn
	br   *bufio.Reader
	w    *pduWriter
	log  *slog.Logger
	idle atomic.Bool // waiting for a PDU between messages

	callingAE, calledAE string
	remote              string
	ops                 Op
	contexts            map[byte]*acceptedContext
	holdsSlot           bool    // of Server.active
	opening             bool    // holds a slot of Server.opening until associated
	ended               Outcome // Aborted once an A-ABORT was sent or received
	mustLinger          bool    // our last PDU (RJ, RP, A-ABORT) is sent: wait for the close

	// The DIMSE message being received.
	cmdBuf  []byte
	cmdCtx  byte
	pending *message // a command whose data set is being received

	op       *operation // the C-FIND, C-MOVE or C-GET in progress
	subMsgID uint16     // message IDs of our C-GET sub-operations
}

// message is a received command whose data set follows.
type message struct {
	cmd  *Command
	ctx  byte
	sink io.Writer // where the data set fragments go
	// finish is called after the last fragment, abort when the
	// association breaks first.
	finish func() error
	abort  func(error)
}

// errClosed: the association ended normally (release, or the peer's
// A-ABORT).
var errClosed = errors.New("dimse: association closed")

func (a *assoc) serve(ctx context.Context) {
	s := a.s
	defer a.nc.Close()
	// The association's work (ingest) is not cancelled by the server's
	// shutdown: a message in progress runs to its end, bounded by
	// Limits.ShutdownGrace on reads.
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	a.remote = a.nc.RemoteAddr().String()
	a.log = s.log.With("remote", a.remote)
	a.br = bufio.NewReaderSize(a.nc, 32<<10)
	a.w = &pduWriter{nc: a.nc, bw: bufio.NewWriterSize(a.nc, 32<<10), timeout: s.lim.IdleTimeout, maxFragment: 1<<16 - 6}

	ok := a.associate(ctx)
	a.opened()
	if !ok {
		a.linger()
		return
	}
	err := a.loop(ctx)
	a.endOp()
	if a.pending != nil {
		a.pending.abort(err)
		a.pending = nil
	}
	ev := AssociationEvent{Outcome: Released, CallingAE: a.callingAE, CalledAE: a.calledAE, Remote: a.remote}
	var pe *protocolError
	switch {
	case errors.Is(err, errClosed):
		if a.ended == Aborted {
			ev.Outcome, ev.Reason = Aborted, "A-ABORT from the peer"
		}
	case errors.As(err, &pe):
		ev.Outcome, ev.Reason = Aborted, pe.msg
		a.abort(pe.reason)
	default:
		ev.Outcome, ev.Reason = Aborted, err.Error()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// Idle timeout or shutdown: the peer is told.
			a.abort(abortNotSpecified)
		}
	}
	if a.holdsSlot {
		<-s.active
	}
	a.log.Info("association ended", "outcome", ev.Outcome.String(), "reason", ev.Reason)
	s.auditAssociation(ctx, ev)
	a.linger()
}

// opened frees the negotiation slot that Serve took for the connection.
// It is freed before the answer to the A-ASSOCIATE-RQ is written, so that
// a peer that got its answer finds the slot free.
func (a *assoc) opened() {
	if a.opening {
		a.opening = false
		<-a.s.opening
	}
}

// associate runs Sta2: reads the A-ASSOCIATE-RQ under the ARTIM timer and
// answers it. It reports whether the association is established.
func (a *assoc) associate(ctx context.Context) bool {
	s := a.s
	a.nc.SetReadDeadline(s.deadline(s.lim.ARTIMTimeout))
	h, err := readPDUHeader(a.br)
	if err != nil {
		a.log.Debug("no A-ASSOCIATE-RQ", "err", err)
		return false
	}
	switch {
	case h.typ > pduAbort || h.typ == 0:
		a.abort(abortUnrecognizedPDU)
		return false
	case h.typ != pduAssociateRQ:
		a.abort(abortUnexpectedPDU)
		return false
	case h.length > maxAssociatePDU:
		a.abort(abortInvalidParamValue)
		return false
	}
	// Read as the bytes come: memory follows what the peer sent, not what
	// it declared.
	var buf bytes.Buffer
	if n, err := buf.ReadFrom(io.LimitReader(a.br, int64(h.length))); err != nil || n != int64(h.length) {
		return false
	}
	body := buf.Bytes()
	rq, err := parseAssociateRQ(body)
	if err != nil {
		var pe *protocolError
		reason := abortInvalidParamValue
		if errors.As(err, &pe) {
			reason = pe.reason
		}
		a.log.Info("association aborted", "reason", err.Error())
		a.abort(reason)
		return false
	}
	a.callingAE, a.calledAE = rq.callingAE, rq.calledAE
	reject := func(result, source, reason byte, why string) bool {
		a.log.Info("association rejected", "calling_ae", rq.callingAE, "called_ae", rq.calledAE, "reason", why)
		s.auditAssociation(ctx, AssociationEvent{Outcome: Rejected, CallingAE: rq.callingAE, CalledAE: rq.calledAE, Remote: a.remote, Reason: why})
		a.opened()
		a.write(encodeReject(result, source, reason))
		a.mustLinger = true
		return false
	}
	ops, allowed := s.Policy().Allow(rq.callingAE, a.nc.RemoteAddr())
	switch {
	case rq.protocolVersion&1 == 0:
		return reject(rejectPermanent, rejectSourceACSE, rejectProtocolVersion, "protocol version not supported")
	case rq.appContext != ApplicationContext:
		return reject(rejectPermanent, rejectSourceUser, rejectAppContext, "application context not supported")
	case rq.calledAE != s.cfg.AETitle:
		return reject(rejectPermanent, rejectSourceUser, rejectCalledAE, "called AE title not recognised")
	case !allowed:
		return reject(rejectPermanent, rejectSourceUser, rejectCallingAE, "calling AE title not recognised")
	case rq.maxLength != 0 && rq.maxLength < 64:
		return reject(rejectPermanent, rejectSourceUser, rejectNoReason, "maximum length below 64 bytes")
	}
	select {
	case s.active <- struct{}{}:
		a.holdsSlot = true
	default:
		return reject(rejectTransient, rejectSourcePresentation, rejectLocalLimitExceeded, "too many associations")
	}
	a.ops = ops
	results, contexts, roles := negotiate(rq, ops, s.cfg.AcceptUnknownSOPClasses)
	a.contexts = contexts
	peerMax := rq.maxLength
	if peerMax == 0 || peerMax > s.lim.MaxPDULength {
		// No limit from the peer: PDUs as large as the ones we accept.
		peerMax = s.lim.MaxPDULength
	}
	a.w.maxFragment = int(peerMax-6) &^ 1 // even: peers refuse odd fragments
	ac := &associateAC{rawCalled: rq.rawCalled, rawCalling: rq.rawCalling, results: results, maxLength: s.lim.MaxPDULength, roles: roles}
	a.opened()
	if err := a.write(ac.encode()); err != nil {
		if a.holdsSlot {
			<-s.active
			a.holdsSlot = false
		}
		return false
	}
	a.log = a.log.With("calling_ae", rq.callingAE)
	a.log.Info("association accepted", "contexts", len(rq.contexts), "accepted", len(contexts),
		"peer_max_pdu", rq.maxLength, "implementation", rq.implClassUID, "version", rq.implVersion)
	s.auditAssociation(ctx, AssociationEvent{Outcome: Accepted, CallingAE: rq.callingAE, CalledAE: rq.calledAE, Remote: a.remote})
	return true
}

// write sends one PDU.
func (a *assoc) write(pdu []byte) error { return a.w.write(pdu) }

// abort sends an A-ABORT (source: service provider); serve then waits
// for the peer to close (linger).
func (a *assoc) abort(reason byte) {
	a.opened()
	a.ended = Aborted
	a.write(encodeAbort(abortSourceProvider, reason))
	a.mustLinger = true
}

// linger waits, under the ARTIM timer (at most 5 s, 1 s during
// shutdown), for the peer to close the connection after a release, a
// rejection or an abort (Sta13), so that it reads our last PDU.
func (a *assoc) linger() {
	if !a.mustLinger {
		return
	}
	d := min(a.s.lim.ARTIMTimeout, 5*time.Second)
	if a.s.stopping() {
		d = min(d, time.Second)
	}
	a.nc.SetReadDeadline(time.Now().Add(d))
	io.Copy(io.Discard, io.LimitReader(a.br, 1<<20))
}

// loop runs Sta6 (association established) until release or abort.
func (a *assoc) loop(ctx context.Context) error {
	s := a.s
	for {
		busy := a.opActive()
		a.idle.Store(a.pending == nil && len(a.cmdBuf) == 0 && !busy)
		if busy {
			// The peer waits for our answers: silence is no idleness.
			a.nc.SetReadDeadline(s.deadline(24 * time.Hour))
		} else {
			a.nc.SetReadDeadline(s.deadline(s.lim.IdleTimeout))
		}
		// Checked after the deadline is set: either we see the shutdown
		// here, or the shutdown sees us idle and its deadline wins.
		if a.idle.Load() && s.stopping() {
			return fmt.Errorf("server shutting down: %w", os.ErrDeadlineExceeded)
		}
		if a.br.Buffered() == 0 {
			quickAck(a.nc)
		}
		h, err := readPDUHeader(a.br)
		a.idle.Store(false)
		if err != nil {
			return err
		}
		switch h.typ {
		case pduPData:
			if h.length > s.lim.MaxPDULength {
				return protoErr(abortInvalidParamValue, "P-DATA-TF of %d bytes, beyond our maximum %d", h.length, s.lim.MaxPDULength)
			}
			if err := a.pdata(ctx, h.length); err != nil {
				return err
			}
		case pduReleaseRQ:
			if err := a.fixed(h); err != nil {
				return err
			}
			if a.pending != nil || len(a.cmdBuf) > 0 {
				return protoErr(abortUnexpectedPDU, "A-RELEASE-RQ in the middle of a message")
			}
			a.write(encodeRelease(pduReleaseRP))
			a.mustLinger = true
			return errClosed
		case pduAbort:
			a.fixed(h)
			a.ended = Aborted
			return errClosed
		case pduAssociateRQ, pduAssociateAC, pduAssociateRJ, pduReleaseRP:
			return protoErr(abortUnexpectedPDU, "unexpected PDU type 0x%02x", h.typ)
		default:
			return protoErr(abortUnrecognizedPDU, "unknown PDU type 0x%02x", h.typ)
		}
	}
}

// fixed reads the 4-byte variable field of an A-RELEASE or A-ABORT.
func (a *assoc) fixed(h pduHeader) error {
	if h.length != 4 {
		return protoErr(abortInvalidParamValue, "PDU 0x%02x of %d bytes", h.typ, h.length)
	}
	var b [4]byte
	_, err := io.ReadFull(a.br, b[:])
	return err
}

// pdata walks the PDV items of one P-DATA-TF.
func (a *assoc) pdata(ctx context.Context, length uint32) error {
	if length < 6 {
		return protoErr(abortInvalidParamValue, "P-DATA-TF of %d bytes", length)
	}
	for remaining := length; remaining > 0; {
		pdv, rest, err := readPDVHeader(a.br, remaining)
		if err != nil {
			return err
		}
		remaining = rest
		pc := a.contexts[pdv.context]
		if pc == nil {
			return protoErr(abortInvalidParamValue, "PDV on presentation context %d, not accepted", pdv.context)
		}
		if pdv.command {
			if err := a.commandFragment(ctx, pdv, pc); err != nil {
				return err
			}
			continue
		}
		m := a.pending
		if m == nil || pdv.context != m.ctx {
			return protoErr(abortUnexpectedParam, "data set fragment without its command")
		}
		if _, err := io.CopyN(m.sink, a.br, int64(pdv.length)); err != nil {
			return err // the network: the sink never fails (sinkWriter)
		}
		if pdv.last {
			a.pending = nil
			if err := m.finish(); err != nil {
				return err
			}
		}
	}
	return nil
}

// commandFragment collects a command fragment and runs the command once
// it is whole.
func (a *assoc) commandFragment(ctx context.Context, pdv pdvHeader, pc *acceptedContext) error {
	if a.pending != nil {
		return protoErr(abortUnexpectedParam, "command fragment while a data set is expected")
	}
	if len(a.cmdBuf) > 0 && pdv.context != a.cmdCtx {
		return protoErr(abortUnexpectedParam, "command fragments on two presentation contexts")
	}
	if len(a.cmdBuf)+int(pdv.length) > a.s.lim.MaxCommandBytes {
		return protoErr(abortInvalidParamValue, "command set beyond %d bytes", a.s.lim.MaxCommandBytes)
	}
	a.cmdCtx = pdv.context
	n := len(a.cmdBuf)
	a.cmdBuf = append(a.cmdBuf, make([]byte, pdv.length)...)
	if _, err := io.ReadFull(a.br, a.cmdBuf[n:]); err != nil {
		return err
	}
	if !pdv.last {
		return nil
	}
	cmd, err := DecodeCommand(a.cmdBuf)
	a.cmdBuf = a.cmdBuf[:0]
	if err != nil {
		return protoErr(abortInvalidParamValue, "%v", err)
	}
	return a.dispatch(ctx, cmd, pdv.context, pc)
}

// dispatch runs a whole command: at once when it has no data set, else
// once its data set is received.
func (a *assoc) dispatch(ctx context.Context, cmd *Command, id byte, pc *acceptedContext) error {
	if cmd.Field == CCancelRQ {
		if a.opActive() && cmd.RespondedTo == a.op.msgID {
			a.op.peerCancel.Store(true)
			a.op.cancel()
		}
		return nil // else nothing here to cancel
	}
	if cmd.Field&0x8000 != 0 {
		if a.opActive() {
			select {
			case a.op.rsp <- cmd:
			default:
				a.log.Info("response dropped: none expected", "field", cmd.Field)
			}
			return nil
		}
		return protoErr(abortUnexpectedParam, "response 0x%04x received by the SCP", cmd.Field)
	}
	if a.opActive() {
		// One operation at a time (no asynchronous operations window was
		// negotiated): a request during one waits for its end.
		<-a.op.done
	}
	switch {
	case (cmd.Field == CFindRQ || cmd.Field == CMoveRQ || cmd.Field == CGetRQ) && cmd.HasDataSet &&
		pc.service == qrServiceOf(cmd.Field) && cmd.AffectedSOPClass == pc.abstractSyntax:
		a.pending = a.startQR(ctx, cmd, id, pc)
		return nil
	case cmd.Field == NActionRQ && cmd.HasDataSet && pc.service == serviceCommit:
		a.pending = a.startCommit(ctx, cmd, id, pc)
		return nil
	case cmd.Field == CEchoRQ && pc.service == serviceVerification && !cmd.HasDataSet:
		return a.send(id, &Command{Field: CEchoRSP, RespondedTo: cmd.MessageID, AffectedSOPClass: VerificationSOPClass, Status: StatusSuccess})
	case cmd.Field == CStoreRQ && cmd.HasDataSet:
		a.pending = a.startStore(ctx, cmd, id, pc)
		return nil
	}
	rsp := &Command{Field: cmd.Field | 0x8000, RespondedTo: cmd.MessageID, AffectedSOPClass: cmd.AffectedSOPClass, Status: StatusUnrecognizedOp}
	if !cmd.HasDataSet {
		return a.send(id, rsp)
	}
	a.pending = &message{cmd: cmd, ctx: id, sink: io.Discard,
		finish: func() error { return a.send(id, rsp) },
		abort:  func(error) {},
	}
	return nil
}

// send writes a command set (without data set) on a presentation
// context, in fragments of at most the peer's maximum PDU length.
func (a *assoc) send(id byte, cmd *Command) error { return a.w.message(id, cmd, nil) }
