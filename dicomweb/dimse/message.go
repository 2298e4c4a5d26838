package dimse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// pduWriter writes the PDUs of one association. Writes are serialised: the
// association's reader and the operation in progress (C-FIND answers,
// C-GET sub-operations) both write.
type pduWriter struct {
	mu      sync.Mutex
	nc      net.Conn
	bw      *bufio.Writer
	timeout time.Duration // per PDU
	// maxFragment is the largest PDV fragment the peer accepts (its
	// maximum length minus the PDV headers).
	maxFragment int
	buf         []byte
	pdus        [2][]byte // data set PDUs being sent (message)
}

// write sends one PDU.
func (w *pduWriter) write(pdu []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writeLocked(pdu)
}

func (w *pduWriter) writeLocked(pdu []byte) error {
	if err := w.buffer(pdu); err != nil {
		return err
	}
	return w.bw.Flush()
}

// buffer adds a PDU to the write buffer (written when it fills or at the
// next flush).
func (w *pduWriter) buffer(pdu []byte) error {
	w.nc.SetWriteDeadline(time.Now().Add(w.timeout))
	_, err := w.bw.Write(pdu)
	return err
}

// message sends a command on presentation context id and, when data is
// not nil, its data set read from data to its end, both in fragments of
// at most the peer's maximum, flushed once at the end of the message. An
// error reading data after the command went out cannot be told to the
// peer within the message: the caller must abort the association.
func (w *pduWriter) message(id byte, cmd *Command, data io.Reader) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.messageLocked(id, cmd, data); err != nil {
		return err
	}
	return w.bw.Flush()
}

// buffered is message without the flush: the PDUs go out when the buffer
// fills or at the next flush (for a run of C-FIND answers).
func (w *pduWriter) buffered(id byte, cmd *Command, data io.Reader) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.messageLocked(id, cmd, data)
}

// flush sends what is buffered.
func (w *pduWriter) flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.nc.SetWriteDeadline(time.Now().Add(w.timeout))
	return w.bw.Flush()
}

func (w *pduWriter) messageLocked(id byte, cmd *Command, data io.Reader) error {
	cmd.HasDataSet = data != nil
	b := cmd.Encode()
	for first := true; len(b) > 0 || first; first = false {
		n := min(len(b), w.maxFragment)
		w.buf = appendPData(w.buf[:0], id, true, n == len(b), b[:n])
		if err := w.buffer(w.buf); err != nil {
			return err
		}
		b = b[n:]
	}
	if data == nil {
		return nil
	}
	// The fragments are read straight into the two PDU buffers of the
	// writer (kept for the association), behind room for the headers; one
	// is read ahead so that the last is marked as such.
	size := w.maxFragment + 12
	for i := range w.pdus {
		if cap(w.pdus[i]) < size {
			w.pdus[i] = make([]byte, size)
		}
		w.pdus[i] = w.pdus[i][:size]
	}
	cur, next := w.pdus[0], w.pdus[1]
	n, err := io.ReadFull(data, cur[12:])
	for {
		if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
			return &dataError{err}
		}
		last := err != nil
		var m int
		var nerr error
		if !last {
			m, nerr = io.ReadFull(data, next[12:])
			if nerr == io.EOF {
				last = true
			}
		}
		putPDataHeader(cur, id, false, last, n)
		if err := w.buffer(cur[:12+n]); err != nil {
			return err
		}
		if last {
			return nil
		}
		cur, next = next, cur
		n, err = m, nerr
	}
}

// dataError is a failure to read the data set being sent (the local
// object), as opposed to a failure of the network.
type dataError struct{ err error }

func (e *dataError) Error() string { return "dimse: reading the data set to send: " + e.err.Error() }
func (e *dataError) Unwrap() error { return e.err }

// pduReader reads whole DIMSE messages, for the requestor side of an
// association (C-STORE sub-operations, N-EVENT-REPORT), where the messages
// received are responses and small data sets.
type pduReader struct {
	br       *bufio.Reader
	maxPDU   uint32
	maxBytes int // bound on a command or data set
}

// errAborted: the peer sent an A-ABORT.
var errAborted = errors.New("dimse: association aborted by the peer")

// errReleaseRQ: the peer asked to release the association.
var errReleaseRQ = errors.New("dimse: A-RELEASE-RQ received")

// readMessage reads one message: its command, the presentation context it
// came on, and its data set (nil when it has none).
func (r *pduReader) readMessage() (*Command, byte, []byte, error) {
	var cmdBuf, data bytes.Buffer
	var cmd *Command
	var ctx byte
	for {
		h, err := readPDUHeader(r.br)
		if err != nil {
			return nil, 0, nil, err
		}
		switch h.typ {
		case pduPData:
		case pduAbort:
			io.CopyN(io.Discard, r.br, int64(min(h.length, 4)))
			return nil, 0, nil, errAborted
		case pduReleaseRQ:
			io.CopyN(io.Discard, r.br, int64(min(h.length, 4)))
			return nil, 0, nil, errReleaseRQ
		default:
			return nil, 0, nil, protoErr(abortUnexpectedPDU, "unexpected PDU type 0x%02x", h.typ)
		}
		if h.length > r.maxPDU || h.length < 6 {
			return nil, 0, nil, protoErr(abortInvalidParamValue, "P-DATA-TF of %d bytes", h.length)
		}
		for remaining := h.length; remaining > 0; {
			pdv, rest, err := readPDVHeader(r.br, remaining)
			if err != nil {
				return nil, 0, nil, err
			}
			remaining = rest
			dst := &cmdBuf
			if !pdv.command {
				if cmd == nil || pdv.context != ctx {
					return nil, 0, nil, protoErr(abortUnexpectedParam, "data set fragment without its command")
				}
				dst = &data
			} else if cmd != nil {
				return nil, 0, nil, protoErr(abortUnexpectedParam, "command fragment while a data set is expected")
			}
			if dst.Len()+int(pdv.length) > r.maxBytes {
				return nil, 0, nil, protoErr(abortInvalidParamValue, "message beyond %d bytes", r.maxBytes)
			}
			if _, err := io.CopyN(dst, r.br, int64(pdv.length)); err != nil {
				return nil, 0, nil, err
			}
			if !pdv.last {
				continue
			}
			if pdv.command {
				if cmd, err = DecodeCommand(cmdBuf.Bytes()); err != nil {
					return nil, 0, nil, protoErr(abortInvalidParamValue, "%v", err)
				}
				ctx = pdv.context
				if !cmd.HasDataSet {
					if remaining != 0 {
						return nil, 0, nil, protoErr(abortUnexpectedParam, "PDVs after a whole message")
					}
					return cmd, ctx, nil, nil
				}
				continue
			}
			if remaining != 0 {
				return nil, 0, nil, protoErr(abortUnexpectedParam, "PDVs after a whole message")
			}
			return cmd, ctx, data.Bytes(), nil
		}
	}
}

// statusClass sorts a DIMSE status (PS3.7 C).
func statusClass(s uint16) string {
	switch {
	case s == StatusSuccess:
		return "success"
	case s == 0xFF00 || s == 0xFF01:
		return "pending"
	case s == 0xFE00:
		return "cancel"
	case s == 0x0001 || s&0xF000 == 0xB000 || s == 0x0107 || s == 0x0116:
		return "warning"
	}
	return "failure"
}

func statusText(s uint16) string { return fmt.Sprintf("0x%04X (%s)", s, statusClass(s)) }
