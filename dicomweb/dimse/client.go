package dimse

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// proposal is a presentation context we propose as requestor.
type proposal struct {
	abstractSyntax   string
	transferSyntaxes []string
}

// requestor is an association we opened (Sta6 as requestor): the C-STORE
// sub-operations of a C-MOVE, the N-EVENT-REPORT of a storage commitment.
type requestor struct {
	nc      net.Conn
	r       *pduReader
	w       *pduWriter
	timeout time.Duration
	// accepted maps each accepted presentation context ID to its abstract
	// syntax and transfer syntax.
	accepted map[byte]acceptedContext
	roles    []roleSelection // the acceptor's answers to ours
	msgID    uint16
}

// rejectedError: the peer rejected the association (A-ASSOCIATE-RJ).
type rejectedError struct{ result, source, reason byte }

func (e *rejectedError) Error() string {
	return fmt.Sprintf("dimse: association rejected (result %d, source %d, reason %d)", e.result, e.source, e.reason)
}

// dialRequestor opens an association to addr as callingAE, naming
// calledAE, proposing props (IDs 1, 3, 5, ... in order) and the role
// selections roles. The dial and the negotiation are bounded by
// Limits.ARTIMTimeout; every later read or write by Limits.IdleTimeout.
func (s *Server) dialRequestor(ctx context.Context, addr, calledAE string, props []proposal, roles []roleSelection) (*requestor, error) {
	if len(props) == 0 || len(props) > 128 {
		return nil, fmt.Errorf("dimse: %d presentation contexts to propose", len(props))
	}
	d := net.Dialer{Timeout: s.lim.ARTIMTimeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dimse: connect to %s: %w", addr, err)
	}
	rq := &associateRQ{calledAE: calledAE, callingAE: s.cfg.AETitle, maxLength: s.lim.MaxPDULength, roles: roles}
	for i, p := range props {
		rq.contexts = append(rq.contexts, presentationContext{id: byte(2*i + 1), abstractSyntax: p.abstractSyntax, transferSyntaxes: p.transferSyntaxes})
	}
	c := &requestor{
		nc:       nc,
		r:        &pduReader{br: bufio.NewReaderSize(nc, 32<<10), maxPDU: s.lim.MaxPDULength, maxBytes: s.lim.MaxCommandBytes},
		w:        &pduWriter{nc: nc, bw: bufio.NewWriterSize(nc, 32<<10), timeout: s.lim.IdleTimeout, maxFragment: 1<<14 - 6},
		timeout:  s.lim.IdleTimeout,
		accepted: map[byte]acceptedContext{},
	}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
	defer stop()
	nc.SetDeadline(time.Now().Add(s.lim.ARTIMTimeout))
	if err := c.w.write(rq.encode()); err != nil {
		nc.Close()
		return nil, fmt.Errorf("dimse: A-ASSOCIATE-RQ to %s: %w", addr, err)
	}
	h, err := readPDUHeader(c.r.br)
	if err == nil && h.length > maxAssociatePDU {
		err = protoErr(abortInvalidParamValue, "answer of %d bytes", h.length)
	}
	var body []byte
	if err == nil {
		body = make([]byte, h.length)
		_, err = io.ReadFull(c.r.br, body)
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("dimse: association with %s: %w", addr, err)
	}
	switch h.typ {
	case pduAssociateAC:
	case pduAssociateRJ:
		nc.Close()
		if len(body) < 4 {
			return nil, &rejectedError{}
		}
		return nil, &rejectedError{result: body[1], source: body[2], reason: body[3]}
	default:
		c.abort()
		return nil, fmt.Errorf("dimse: association with %s: answer PDU 0x%02x", addr, h.typ)
	}
	ac, err := parseAssociateAC(body)
	if err != nil {
		c.abort()
		return nil, fmt.Errorf("dimse: A-ASSOCIATE-AC from %s: %w", addr, err)
	}
	for _, r := range ac.results {
		i := int(r.id-1) / 2
		if r.result != resultAcceptance || r.id%2 == 0 || i >= len(props) {
			continue
		}
		c.accepted[r.id] = acceptedContext{abstractSyntax: props[i].abstractSyntax, transferSyntax: r.transferSyntax}
	}
	c.roles = ac.roles
	peerMax := s.lim.MaxPDULength
	if ac.maxLength != 0 {
		peerMax = max(min(ac.maxLength, peerMax), 64)
	}
	c.w.maxFragment = int(peerMax-6) &^ 1 // even: peers refuse odd fragments
	nc.SetDeadline(time.Time{})
	return c, nil
}

// context returns the ID of an accepted presentation context for
// abstract syntax as in transfer syntax ts ("" for any), 0 if none.
func (c *requestor) context(as, ts string) (byte, string) {
	var best byte
	var bestTS string
	for id, pc := range c.accepted {
		if pc.abstractSyntax == as && (ts == "" || pc.transferSyntax == ts) && (best == 0 || id < best) {
			best, bestTS = id, pc.transferSyntax
		}
	}
	return best, bestTS
}

// request sends a request with its data set (nil: none) and reads its
// response, skipping nothing: the first message must answer it.
func (c *requestor) request(ctx context.Context, id byte, cmd *Command, data io.Reader) (*Command, []byte, error) {
	c.msgID++
	cmd.MessageID = c.msgID
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Now()) })
	defer stop()
	if err := c.w.message(id, cmd, data); err != nil {
		return nil, nil, err
	}
	c.nc.SetReadDeadline(time.Now().Add(c.timeout))
	rsp, _, ds, err := c.r.readMessage()
	if err != nil {
		return nil, nil, err
	}
	if rsp.Field != cmd.Field|0x8000 || rsp.RespondedTo != cmd.MessageID {
		return nil, nil, protoErr(abortUnexpectedParam, "response 0x%04x to message %d, want 0x%04x to %d", rsp.Field, rsp.RespondedTo, cmd.Field|0x8000, cmd.MessageID)
	}
	return rsp, ds, nil
}

// release ends the association normally (A-RELEASE-RQ, A-RELEASE-RP) and
// closes the connection.
func (c *requestor) release() error {
	defer c.nc.Close()
	c.nc.SetDeadline(time.Now().Add(c.timeout))
	if err := c.w.write(encodeRelease(pduReleaseRQ)); err != nil {
		return err
	}
	for {
		h, err := readPDUHeader(c.r.br)
		if err != nil {
			return err
		}
		if _, err := io.CopyN(io.Discard, c.r.br, int64(h.length)); err != nil {
			return err
		}
		switch h.typ {
		case pduReleaseRP, pduAbort:
			return nil
		case pduPData:
			// A late message; the release goes on.
		default:
			return protoErr(abortUnexpectedPDU, "PDU 0x%02x during release", h.typ)
		}
	}
}

// abort ends the association with an A-ABORT and closes the connection.
func (c *requestor) abort() {
	c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	c.w.write(encodeAbort(abortSourceUser, abortNotSpecified))
	c.nc.Close()
}

// close releases the association when err is nil, else aborts it.
func (c *requestor) close(err error) error {
	var pe *protocolError
	var de *dataError
	if err == nil || (!errors.As(err, &pe) && !errors.As(err, &de) && !isNetErr(err)) {
		return c.release()
	}
	c.abort()
	return nil
}

// isNetErr reports whether err broke the connection.
func isNetErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, errAborted) || errors.Is(err, net.ErrClosed)
}

// usValue encodes a US command element value.
func usValue(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }

// aeValue encodes an AE command element value (space padded to even).
func aeValue(ae string) []byte {
	b := []byte(ae)
	if len(b)%2 == 1 {
		b = append(b, ' ')
	}
	return b
}
