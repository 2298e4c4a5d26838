package dicomweb

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"
)

// partWriter streams a multipart/related response. Nothing is written
// (and the status is not committed) until the first part begins, so that
// errors found while opening the first part still become proper statuses.
type partWriter struct {
	c        echo.Context
	boundary string
	rootType string
	started  bool
	parts    int
	// length is the whole body's length when known before the first part
	// (see setLength); -1: unknown, the body goes chunked.
	length int64
}

func newPartWriter(c echo.Context, rootType string) *partWriter {
	var b [16]byte
	rand.Read(b[:])
	return &partWriter{c: c, boundary: "minipacs-" + hex.EncodeToString(b[:]), rootType: rootType, length: -1}
}

// start commits the 200 and the multipart Content-Type.
func (pw *partWriter) start() {
	if pw.started {
		return
	}
	pw.started = true
	h := pw.c.Response().Header()
	h.Set(echo.HeaderContentType, `multipart/related; type="`+pw.rootType+`"; boundary=`+pw.boundary)
	if pw.length >= 0 {
		h.Set(echo.HeaderContentLength, itoa(pw.length))
	}
	pw.c.Response().WriteHeader(http.StatusOK)
}

// part begins a new part with the given Content-Type and returns the
// writer for its body.
func (pw *partWriter) part(contentType string, length int64) io.Writer {
	pw.start()
	w := pw.c.Response()
	io.WriteString(w, pw.header(contentType, length))
	pw.parts++
	return w
}

// header is the delimiter and header block that begin a part.
func (pw *partWriter) header(contentType string, length int64) string {
	h := "--" + pw.boundary + "\r\nContent-Type: " + contentType + "\r\n"
	if length >= 0 {
		h += "Content-Length: " + itoa(length) + "\r\n"
	}
	return h + "\r\n"
}

// partSpec is a part's Content-Type and body length.
type partSpec struct {
	contentType string
	length      int64
}

// setLength declares the body's exact length, computed from every part's
// Content-Type and length, so that the response carries a Content-Length
// (and is not chunked, which lets sendFrom use sendfile). It must be
// called before the first part, and the parts must then be written exactly
// as declared: net/http refuses bytes beyond the declared length and drops
// the connection when fewer come. Any part of unknown length (< 0) leaves
// the length undeclared.
func (pw *partWriter) setLength(parts []partSpec) {
	n := int64(len("--" + pw.boundary + "--\r\n"))
	for _, p := range parts {
		if p.length < 0 {
			pw.length = -1
			return
		}
		n += int64(len(pw.header(p.contentType, p.length))) + p.length + int64(len("\r\n"))
	}
	pw.length = n
}

// endPart terminates a part body.
func (pw *partWriter) endPart() {
	io.WriteString(pw.c.Response(), "\r\n")
}

// close writes the closing delimiter.
func (pw *partWriter) close() error {
	pw.start()
	_, err := io.WriteString(pw.c.Response(), "--"+pw.boundary+"--\r\n")
	return err
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	if n == 0 {
		return "0"
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
