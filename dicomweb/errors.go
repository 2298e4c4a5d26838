package dicomweb

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"syscall"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/archive/query"
	"github.com/minipacs/minipacs/dicomweb/archive/retrieve"
	"github.com/minipacs/minipacs/dicomweb/dicom/pixels"
	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/codec"
	"github.com/minipacs/minipacs/dicomweb/kind"
)

// httpError is an error with an explicit status, made by the handlers for
// request problems (bad UID, unacceptable media type...). Msg is sent to the
// client as text/plain and must never contain request input or patient data.
type httpError struct {
	status int
	msg    string
}

// retryAfter is the Retry-After of 503 answers, in seconds.
const retryAfter = "5"

func (e *httpError) Error() string { return fmt.Sprintf("%d %s", e.status, e.msg) }

func badRequest(format string, a ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, a...)}
}
func notAcceptable(format string, a ...any) error {
	return &httpError{http.StatusNotAcceptable, fmt.Sprintf(format, a...)}
}
func unsupportedMedia(format string, a ...any) error {
	return &httpError{http.StatusUnsupportedMediaType, fmt.Sprintf(format, a...)}
}

// errNotFound is the 404 of an unknown study, series, instance or frame.
var errNotFound = &httpError{http.StatusNotFound, "not found"}

// kindStatus is the HTTP status and default client text of each error
// kind (dicomweb/kind): the archive's packages say what kind of failure an
// error is, this front door says what that is in HTTP.
var kindStatus = map[*kind.Kind]struct {
	status int
	msg    string
}{
	kind.NotFound:    {http.StatusNotFound, "not found"},
	kind.Invalid:     {http.StatusBadRequest, "invalid request"},
	kind.Conflict:    {http.StatusConflict, "conflict with a stored instance"},
	kind.Unsupported: {http.StatusNotAcceptable, "this archive cannot produce the representation asked for"},
	kind.Unavailable: {http.StatusServiceUnavailable, "storage temporarily unavailable"},
	kind.Full:        {http.StatusInsufficientStorage, "storage full"},
	kind.Forbidden:   {http.StatusForbidden, "forbidden"},
}

// clientText overrides a kind's default text for some sentinels whose
// answer tells the client what to do instead. The texts are fixed: never
// request input or patient data.
var clientText = []struct {
	err error
	msg string
}{
	{codec.ErrUnsupported, "this archive cannot decode the stored transfer syntax; ask for it as stored (transfer-syntax=*)"},
	{pixels.ErrNotImage, "the instance has no image pixel data"},
	{pixels.ErrMediaType, "rendered images are available as image/jpeg, image/png or image/gif"},
	{pixels.ErrTooLarge, "the image is too large to decode or render; ask for it as stored (transfer-syntax=*)"},
	// The stored pixel data cannot be decoded or rendered: the object is
	// still available as stored.
	{pixels.ErrInvalid, undecodable},
	{codec.ErrCorrupt, undecodable},
	{codec.ErrMismatch, undecodable},
}

const undecodable = "the stored pixel data cannot be decoded; ask for it as stored (transfer-syntax=*)"

// statusOf maps an error to its HTTP status and the text sent to the client.
// It is the only place where statuses of errors are decided: by the
// handlers' own httpError, by the error's kind, and for the standard
// library's errors.
func statusOf(err error) (int, string) {
	var he *httpError
	var ee *echo.HTTPError
	var qe *query.Error
	switch {
	case errors.As(err, &he):
		return he.status, he.msg
	case errors.Is(err, context.Canceled), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNRESET):
		// The client went away (or cancelled): nothing to answer, nothing
		// to log as a server error.
		return 499, "request cancelled"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "storage temporarily unavailable"
	case errors.As(err, &qe):
		return http.StatusBadRequest, qe.Error()
	case errors.As(err, &ee):
		return ee.Code, http.StatusText(ee.Code)
	case errors.Is(err, fs.ErrNotExist):
		return http.StatusNotFound, "not found"
	case retrieve.Reason(err) != "": // the retrieve service's NotFound refusals
		return http.StatusNotFound, retrieve.Reason(err)
	}
	if ks, ok := kindStatus[kind.Of(err)]; ok {
		for _, t := range clientText {
			if errors.Is(err, t.err) {
				return ks.status, t.msg
			}
		}
		return ks.status, ks.msg
	}
	return http.StatusInternalServerError, "internal error"
}

// errorHandler is echo's HTTPErrorHandler: text/plain, nosniff, no input
// echoed. When the response has already started, the connection is aborted
// so that the client sees a broken transfer, never a 200 with an error in it.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		status, msg := statusOf(err)
		req := c.Request()
		if status >= 500 && status != http.StatusServiceUnavailable {
			log.Error("request failed", "method", req.Method, "path", req.URL.Path, "status", status, "err", err)
		} else {
			log.Debug("request refused", "method", req.Method, "path", req.URL.Path, "status", status, "err", err)
		}
		if c.Response().Committed {
			panic(http.ErrAbortHandler)
		}
		h := c.Response().Header()
		h.Set(echo.HeaderContentType, "text/plain; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		if status == http.StatusServiceUnavailable {
			h.Set("Retry-After", retryAfter)
		}
		if req.Method == http.MethodHead {
			c.NoContent(status)
			return
		}
		c.String(status, msg+"\n")
	}
}

// recoverMiddleware turns a panic in a handler into a 500 (logged with the
// stack) instead of a crashed process; http.ErrAbortHandler passes through.
func recoverMiddleware(log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) (err error) {
			defer func() {
				if r := recover(); r != nil {
					if r == http.ErrAbortHandler {
						panic(r)
					}
					log.Error("panic in handler", "path", c.Request().URL.Path, "panic", r)
					err = fmt.Errorf("panic: %v", r)
				}
			}()
			return next(c)
		}
	}
}
