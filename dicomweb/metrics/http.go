package metrics

import (
	"net/http"
	"reflect"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

// otherRoute is the route label of requests no route matched.
const otherRoute = "other"

// Middleware times every request into
// minipacs_http_request_duration_seconds{method,route,status}.
//
// Install it with e.Pre, before any other middleware, so that it is the
// outermost: it then sees every request, including those answered before
// routing, and reads the route pattern (c.Path()) after routing.
//
// The status: echo renders an error returned by a handler only after the
// whole middleware chain has returned (Echo.ServeHTTP calls
// HTTPErrorHandler), so the final status is not known yet when next
// returns. Rather than guess it from the error (the mapping of errors to
// statuses belongs to each front door's error handler, which this package
// must not know), the middleware renders the error itself with c.Error
// (the installed HTTPErrorHandler, exactly as ServeHTTP would) and reads
// c.Response().Status; it then returns nil, so that ServeHTTP does not
// render it twice. Being outermost, nothing else sees the difference.
// When the error handler aborts a response that had already started (it
// panics with http.ErrAbortHandler), the status recorded is the one the
// client received in the headers; a panic before any header is recorded
// as 500. Panics go on up after being recorded.
func (m *Metrics) Middleware() echo.MiddlewareFunc {
	notFound := reflect.ValueOf(echo.NotFoundHandler).Pointer()
	notAllowed := reflect.ValueOf(echo.MethodNotAllowedHandler).Pointer()
	route := func(c echo.Context) string {
		p, h := c.Path(), c.Handler()
		if p == "" || h == nil {
			return otherRoute
		}
		if hp := reflect.ValueOf(h).Pointer(); hp == notFound || hp == notAllowed {
			return otherRoute
		}
		return p
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			done := false
			defer func() {
				if done {
					return
				}
				status := http.StatusInternalServerError
				if c.Response().Committed {
					status = c.Response().Status
				}
				m.observeHTTP(c.Request().Method, route(c), status, time.Since(start))
			}()
			if err := next(c); err != nil {
				c.Error(err)
			}
			done = true
			m.observeHTTP(c.Request().Method, route(c), c.Response().Status, time.Since(start))
			return nil
		}
	}
}

func (m *Metrics) observeHTTP(method, route string, status int, d time.Duration) {
	m.httpDuration.WithLabelValues(methodLabel(method), route, strconv.Itoa(status)).Observe(d.Seconds())
}

// methodLabel bounds the method label to the standard methods: a client
// can send any token as a method.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}
