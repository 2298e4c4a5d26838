package dicomweb

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/textproto"
)

// stowReader reads the parts of a multipart/related STOW body (RFC 2046
// §5.1.1) exactly as mime/multipart's Reader.NextRawPart does: its framing
// rules (scanUntilBoundary, matchAfterPrefix, the NextPart line loop and
// its 4 KiB line limit, textproto for part headers) are ported as they are,
// and TestStowReaderMatchesMultipart and FuzzStowReader check the two
// against each other.
//
// It differs in how it moves bytes: mime/multipart reads through a fixed
// 4 KiB window, so a part costs a boundary search and two extra copies per
// 4 KiB. Here the body is read into one large buffer and a part's bytes
// are searched and copied out in runs as long as the caller's buffer
// (spooling asks for 256 KiB): one copy from the socket into the buffer,
// one out of it.
type stowReader struct {
	r     io.Reader
	buf   []byte
	start int // buf[start:end] holds bytes not yet consumed
	end   int
	err   error // from r, once it failed or ended

	nl            []byte // "\r\n", or "\n" after a bare-LF first delimiter
	dashBound     []byte // "--" + boundary
	dashBoundDash []byte // "--" + boundary + "--"
	nlDashBound   []byte // nl + dashBound: where a part's data end
	part          *stowPart
	partsRead     int
	hdr           *bufio.Reader // reads part headers (see header)
}

// Limits of mime/multipart kept here: its line window (bufio.ReadSlice
// over peekBufferSize) and its part header limits.
const (
	mpLineMax       = 4096
	mpMaxHeaderSize = 10 << 20
)

var errMultipart = errors.New("multipart")

func newStowReader(r io.Reader, boundary string, buf []byte) *stowReader {
	return &stowReader{
		r: r, buf: buf, nl: []byte("\r\n"),
		dashBound:     []byte("--" + boundary),
		dashBoundDash: []byte("--" + boundary + "--"),
		nlDashBound:   []byte("\r\n--" + boundary),
	}
}

// fill reads more of the body into buf, moving what is unconsumed to its
// start first. It returns false when nothing could be read: the body
// ended or failed (m.err), or buf is full.
func (m *stowReader) fill() bool {
	if m.err != nil {
		return false
	}
	if m.start > 0 {
		m.end = copy(m.buf, m.buf[m.start:m.end])
		m.start = 0
	}
	if m.end == len(m.buf) {
		return false
	}
	for range 100 { // as bufio: give up after many empty reads
		n, err := m.r.Read(m.buf[m.end:])
		m.end += n
		if err != nil {
			m.err = err
		}
		if n > 0 || err != nil {
			return n > 0
		}
	}
	m.err = io.ErrNoProgress
	return false
}

// readSlice is bufio.Reader.ReadSlice('\n') over a window of mpLineMax
// bytes: a line with its '\n'; or, without one, the rest of the body and
// the read error, or mpLineMax bytes and bufio.ErrBufferFull.
func (m *stowReader) readSlice() ([]byte, error) {
	for {
		w := m.buf[m.start:m.end]
		if len(w) > mpLineMax {
			w = w[:mpLineMax]
		}
		if i := bytes.IndexByte(w, '\n'); i >= 0 {
			m.start += i + 1
			return w[:i+1], nil
		}
		if len(w) == mpLineMax {
			m.start += len(w)
			return w, bufio.ErrBufferFull
		}
		if !m.fill() {
			w := m.buf[m.start:m.end]
			m.start = m.end
			if m.err == nil { // buf smaller than a line window
				return w, bufio.ErrBufferFull
			}
			return w, m.err
		}
	}
}

// NextPart skips the rest of the current part and returns the next one
// with its Content-Type, as mime/multipart's NextRawPart does; io.EOF
// after the closing delimiter.
func (m *stowReader) NextPart() (io.Reader, string, error) {
	if m.part != nil {
		if _, err := io.Copy(io.Discard, m.part); err != nil {
			return nil, "", err
		}
		m.part = nil
	}
	expectNewPart := false
	for {
		line, err := m.readSlice()
		if err == io.EOF && m.isFinal(line) {
			return nil, "", io.EOF
		}
		if err != nil {
			return nil, "", fmt.Errorf("%w: NextPart: %w", errMultipart, err)
		}
		if m.isDelimiter(line) {
			m.partsRead++
			h, err := m.header()
			if err != nil {
				return nil, "", err
			}
			m.part = &stowPart{m: m}
			return m.part, h.Get("Content-Type"), nil
		}
		if m.isFinal(line) {
			return nil, "", io.EOF
		}
		if expectNewPart {
			return nil, "", fmt.Errorf("%w: expecting a new part; got line %q", errMultipart, line)
		}
		if m.partsRead == 0 {
			continue // preamble
		}
		// The line end between a part's data and the delimiter line.
		if bytes.Equal(line, m.nl) {
			expectNewPart = true
			continue
		}
		return nil, "", fmt.Errorf("%w: unexpected line %q", errMultipart, line)
	}
}

func skipLWSP(b []byte) []byte { return bytes.TrimLeft(b, " \t") }

// isDelimiter reports whether line is a delimiter line ("--b", blanks,
// line end). On the first part a bare LF switches the reader to LF.
func (m *stowReader) isDelimiter(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, m.dashBound)
	if !ok {
		return false
	}
	rest = skipLWSP(rest)
	if m.partsRead == 0 && len(rest) == 1 && rest[0] == '\n' {
		m.nl = m.nl[1:]
		m.nlDashBound = m.nlDashBound[1:]
	}
	return bytes.Equal(rest, m.nl)
}

// isFinal reports whether line is the closing delimiter line ("--b--").
func (m *stowReader) isFinal(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, m.dashBoundDash)
	if !ok {
		return false
	}
	rest = skipLWSP(rest)
	return len(rest) == 0 || bytes.Equal(rest, m.nl)
}

// header reads a part's header block with textproto, as mime/multipart
// does. textproto reads through a bufio.Reader; lineFeed gives it one
// line per read, so that nothing past the block is taken from m.
func (m *stowReader) header() (textproto.MIMEHeader, error) {
	if m.hdr == nil {
		m.hdr = bufio.NewReaderSize(lineFeed{m}, mpLineMax)
	}
	br := m.hdr
	h, err := textproto.NewReader(br).ReadMIMEHeader()
	if err == nil && br.Buffered() > 0 {
		err = fmt.Errorf("%w: part header overran", errMultipart)
	}
	return h, err
}

// lineFeed reads m up to and including the next line end per call.
type lineFeed struct{ m *stowReader }

func (l lineFeed) Read(p []byte) (int, error) {
	m := l.m
	for {
		w := m.buf[m.start:m.end]
		i := bytes.IndexByte(w, '\n')
		if i >= 0 || (len(w) > 0 && (len(w) >= len(p) || m.err != nil)) {
			if i >= 0 {
				w = w[:i+1]
			}
			n := copy(p, w)
			m.start += n
			return n, nil
		}
		if !m.fill() {
			if m.start < m.end {
				continue
			}
			if m.err != nil {
				return 0, m.err
			}
			return 0, fmt.Errorf("%w: part header line too long", errMultipart)
		}
	}
}

// stowPart reads one part's data up to its delimiter: mime/multipart's
// partReader over stowReader's buffer.
type stowPart struct {
	m       *stowReader
	n       int   // bytes known to be data, not yet returned
	total   int64 // bytes returned
	err     error // what follows those n bytes (io.EOF: the delimiter)
	readErr error
}

func (p *stowPart) Read(d []byte) (int, error) {
	m := p.m
	for p.n == 0 && p.err == nil {
		peek := m.buf[m.start:m.end]
		p.n, p.err = scanUntilBoundary(peek, m.dashBound, m.nlDashBound, p.total, p.readErr)
		if p.n == 0 && p.err == nil {
			if !m.fill() {
				p.readErr = m.err
				if p.readErr == nil {
					p.readErr = fmt.Errorf("%w: cannot find a delimiter", errMultipart)
				}
				if p.readErr == io.EOF {
					p.readErr = io.ErrUnexpectedEOF
				}
			}
		}
	}
	if p.n == 0 {
		return 0, p.err
	}
	n := copy(d, m.buf[m.start:m.start+min(len(d), p.n)])
	m.start += n
	p.total += int64(n)
	p.n -= n
	if p.n == 0 {
		return n, p.err
	}
	return n, nil
}

// scanUntilBoundary and matchAfterPrefix are mime/multipart's (Go 1.27):
// how much of buf is part data, and whether the delimiter follows.
// indexDelim is bytes.Index(buf, delim) for the delimiter "\r\n--boundary".
// bytes.Index finds candidates by the delimiter's first byte, '\r' (0x0D),
// which is frequent in 16-bit pixel data: the high byte of a 12-bit value
// is below 0x10, so CT pixels stop it every few dozen bytes. This looks
// for the delimiter's last byte instead, a printable boundary character,
// which such data holds far less often (only as a low byte). Like
// bytes.Index, it hands over to bytes.Index's own search when candidates
// fail too often (data made of that character).
func indexDelim(buf, delim []byte) int {
	k := len(delim) - 1
	last := delim[k]
	fails := 0
	for i := k; i < len(buf); i++ {
		j := bytes.IndexByte(buf[i:], last)
		if j < 0 {
			return -1
		}
		i += j
		if bytes.Equal(buf[i-k:i+1], delim) {
			return i - k
		}
		if fails++; fails > (i+16)/8 {
			start := i - k + 1 // no match starts before
			if r := bytes.Index(buf[start:], delim); r >= 0 {
				return start + r
			}
			return -1
		}
	}
	return -1
}

func scanUntilBoundary(buf, dashBoundary, nlDashBoundary []byte, total int64, readErr error) (int, error) {
	if total == 0 {
		// At beginning of body, allow dashBoundary.
		if bytes.HasPrefix(buf, dashBoundary) {
			switch matchAfterPrefix(buf, dashBoundary, readErr) {
			case -1:
				return len(dashBoundary), nil
			case 0:
				return 0, nil
			case +1:
				return 0, io.EOF
			}
		}
		if bytes.HasPrefix(dashBoundary, buf) {
			return 0, readErr
		}
	}
	// Search for "\n--boundary".
	if i := indexDelim(buf, nlDashBoundary); i >= 0 {
		switch matchAfterPrefix(buf[i:], nlDashBoundary, readErr) {
		case -1:
			return i + len(nlDashBoundary), nil
		case 0:
			return i, nil
		case +1:
			return i, io.EOF
		}
	}
	if bytes.HasPrefix(nlDashBoundary, buf) {
		return 0, readErr
	}
	// Anything up to the final \n is not part of the boundary and so must
	// be part of the body; so is what follows it if it is no prefix of the
	// boundary.
	i := bytes.LastIndexByte(buf, nlDashBoundary[0])
	if i >= 0 && bytes.HasPrefix(nlDashBoundary, buf[i:]) {
		return i, nil
	}
	return len(buf), readErr
}

// matchAfterPrefix checks whether buf (which starts with prefix) holds a
// delimiter: +1 yes, -1 no, 0 not known yet (more input is needed).
func matchAfterPrefix(buf, prefix []byte, readErr error) int {
	if len(buf) == len(prefix) {
		if readErr != nil {
			return +1
		}
		return 0
	}
	c := buf[len(prefix)]
	if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
		return +1
	}
	if c == '-' {
		if len(buf) == len(prefix)+1 {
			if readErr != nil {
				return -1
			}
			return 0
		}
		if buf[len(prefix)+1] == '-' {
			return +1
		}
	}
	return -1
}
