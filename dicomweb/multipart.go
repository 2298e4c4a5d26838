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
}

func newPartWriter(c echo.Context, rootType string) *partWriter {
	var b [16]byte
	rand.Read(b[:])
	return &partWriter{c: c, boundary: "minipacs-" + hex.EncodeToString(b[:]), rootType: rootType}
}

// start commits the 200 and the multipart Content-Type.
func (pw *partWriter) start() {
	if pw.started {
		return
	}
	pw.started = true
	h := pw.c.Response().Header()
	h.Set(echo.HeaderContentType, `multipart/related; type="`+pw.rootType+`"; boundary=`+pw.boundary)
	pw.c.Response().WriteHeader(http.StatusOK)
}

// part begins a new part with the given Content-Type and returns the
// writer for its body.
func (pw *partWriter) part(contentType string, length int64) io.Writer {
	pw.start()
	w := pw.c.Response()
	io.WriteString(w, "--"+pw.boundary+"\r\nContent-Type: "+contentType+"\r\n")
	if length >= 0 {
		io.WriteString(w, "Content-Length: "+itoa(length)+"\r\n")
	}
	io.WriteString(w, "\r\n")
	pw.parts++
	return w
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
