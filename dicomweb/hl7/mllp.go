package hl7

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// The MLLP frame: <VT> message <FS><CR>.
const (
	startBlock byte = 0x0b
	endBlock   byte = 0x1c
	carriageRt byte = 0x0d
)

// errOutsideFrame: bytes where a frame should begin; errBadEnd: the end
// block not followed by CR, or a start block inside a frame.
var (
	errOutsideFrame = errors.New("hl7: mllp: bytes outside a frame")
	errBadFrame     = errors.New("hl7: mllp: malformed frame")
)

// errFrameTooLarge is returned by next for a frame over the limit: the
// frame was read to its end and dropped, head holds its beginning.
type errFrameTooLarge struct {
	size int // bytes read before the frame ended
	head []byte
}

func (e *errFrameTooLarge) Error() string {
	return fmt.Sprintf("hl7: mllp: frame of %d bytes or more exceeds the limit", e.size)
}

// headBytes is how much of an oversized frame is kept (for its MSH).
const headBytes = 4096

// frameReader reads MLLP frames.
type frameReader struct {
	br  *bufio.Reader
	max int
	buf []byte
}

func newFrameReader(r io.Reader, max int) *frameReader {
	return &frameReader{br: bufio.NewReaderSize(r, 32<<10), max: max}
}

// start waits for the start block of the next frame: io.EOF when the
// peer closed between frames, errOutsideFrame when something else came.
func (r *frameReader) start() error {
	c, err := r.br.ReadByte()
	if err != nil {
		return err
	}
	if c != startBlock {
		return errOutsideFrame
	}
	return nil
}

// rest reads the frame after its start block, up to and including
// <FS><CR>, and returns its content (valid until the next call). A frame
// over max is read to its end and dropped (*errFrameTooLarge). A frame
// cut by the end of the stream is io.ErrUnexpectedEOF.
func (r *frameReader) rest() ([]byte, error) {
	r.buf = r.buf[:0]
	size := 0
	over := false
	for {
		chunk, err := r.br.ReadSlice(endBlock)
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		content := chunk
		if err == nil {
			content = chunk[:len(chunk)-1]
		}
		for _, c := range content {
			if c == startBlock {
				return nil, errBadFrame
			}
		}
		size += len(content)
		if !over {
			r.buf = append(r.buf, content...)
			if len(r.buf) > r.max {
				over = true
				r.buf = r.buf[:min(len(r.buf), headBytes)]
			}
		}
		if err == nil {
			break
		}
	}
	c, err := r.br.ReadByte()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if c != carriageRt {
		return nil, errBadFrame
	}
	if over {
		return nil, &errFrameTooLarge{size: size, head: r.buf}
	}
	return r.buf, nil
}

// next reads one whole frame.
func (r *frameReader) next() ([]byte, error) {
	if err := r.start(); err != nil {
		return nil, err
	}
	return r.rest()
}

// frame wraps a message in an MLLP frame.
func frame(msg []byte) []byte {
	out := make([]byte, 0, len(msg)+3)
	out = append(out, startBlock)
	out = append(out, msg...)
	return append(out, endBlock, carriageRt)
}
