package dicomweb

import (
	"io"
	"net/http"

	"github.com/labstack/echo/v4"
)

// Zero-copy sending of stored bytes.
//
// net/http's ResponseWriter implements io.ReaderFrom: when the response has
// a Content-Length (so it is not chunked) and the source is an *os.File or
// an *io.LimitedReader over one, it hands the copy to the kernel
// (sendfile). The retrieve service's bodies copy stored bytes with io.Copy
// from such a reader when the store is the disk store (see
// retrieve.Body.WriteTo), but echo's Response does not implement
// ReaderFrom: bodies are written to a sendWriter, which goes around it to
// the writer underneath. Any other reader (S3) is copied as before.

// sendWriter writes to the response res, committing a 200 first when it
// is not committed yet, with the ReaderFrom of the writer underneath.
type sendWriter struct{ res *echo.Response }

func (w sendWriter) Write(p []byte) (int, error) { return w.res.Write(p) }

func (w sendWriter) ReadFrom(r io.Reader) (int64, error) {
	if !w.res.Committed {
		w.res.WriteHeader(http.StatusOK)
	}
	rf, ok := w.res.Writer.(io.ReaderFrom)
	if !ok {
		return io.Copy(struct{ io.Writer }{w.res}, r)
	}
	n, err := rf.ReadFrom(r)
	w.res.Size += n
	return n, err
}
