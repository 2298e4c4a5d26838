// Package faultproxy is an HTTP reverse proxy that injects faults between
// a client and an S3-compatible object store (MinIO in the tests): error
// answers, connection resets, stalls and slow bodies, chosen per request by
// rules that can be switched while traffic flows. It keeps the client's
// Host header so that AWS SigV4 signatures made for the proxy's address
// stay valid upstream, and it counts the requests in flight so that a
// test can check that none leak.
//
//	p, _ := faultproxy.New("127.0.0.1:9000")
//	defer p.Close()
//	p.Set(faultproxy.Rule{Method: "PUT", Fault: faultproxy.Status, Code: 503})
//	... client talks to p.Endpoint() ...
//	p.Clear() // faults off; stalled requests are released
package faultproxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Kind is the fault a rule injects.
type Kind int

const (
	// Pass forwards the request untouched (a rule that only counts).
	Pass Kind = iota
	// Status answers Code (default 503) with an S3 XML error body, without
	// contacting the upstream.
	Status
	// Reset closes the client's connection with a TCP RST before anything
	// is answered.
	Reset
	// Stall holds the request without answering until Delay has passed
	// (then forwards it), the client gives up, or Clear/Close is called.
	// Delay 0 stalls until one of the latter.
	Stall
	// SlowBody forwards the request and sends the response body in
	// Chunk-byte pieces with Delay between them.
	SlowBody
	// ResetMidBody forwards the request, sends the headers and the first
	// Chunk bytes of the response body, then aborts the connection.
	ResetMidBody
)

func (k Kind) String() string {
	switch k {
	case Pass:
		return "pass"
	case Status:
		return "status"
	case Reset:
		return "reset"
	case Stall:
		return "stall"
	case SlowBody:
		return "slow-body"
	case ResetMidBody:
		return "reset-mid-body"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Rule selects requests and says what happens to them. The first rule
// that matches a request and has uses left applies.
type Rule struct {
	// Method matches the HTTP method ("" any).
	Method string
	// PathContains matches when the URL path contains it ("" any).
	PathContains string
	// Query matches when the raw query contains it ("" any), e.g.
	// "uploads" for multipart initiation.
	Query string
	Fault Kind
	// Code is the status of a Status fault (default 503).
	Code int
	// Delay: see Stall and SlowBody.
	Delay time.Duration
	// Chunk is the piece size of SlowBody (default 1024) and the bytes
	// sent before a ResetMidBody (default 0).
	Chunk int
	// Times limits the rule to its first Times matches (0: unlimited).
	Times int
}

func (r *Rule) matches(req *http.Request) bool {
	return (r.Method == "" || strings.EqualFold(r.Method, req.Method)) &&
		(r.PathContains == "" || strings.Contains(req.URL.Path, r.PathContains)) &&
		(r.Query == "" || strings.Contains(req.URL.RawQuery, r.Query))
}

// Stats counts the requests seen by the proxy.
type Stats struct {
	Requests int64 // every request received
	Faulted  int64 // requests that got a fault other than Pass
	InFlight int64 // requests not finished yet
}

// Proxy is a running fault-injecting reverse proxy. Its methods are safe
// for concurrent use.
type Proxy struct {
	ln     net.Listener
	srv    *http.Server
	rp     *httputil.ReverseProxy
	target *url.URL

	mu      sync.Mutex
	rules   []*ruleState
	release chan struct{} // closed by Clear and Close: stalls end

	requests, faulted, inflight atomic.Int64
}

type ruleState struct {
	Rule
	used int
}

// New starts a proxy on a free loopback port in front of target
// ("host:port" or "http://host:port").
func New(target string) (*Proxy, error) {
	if !strings.Contains(target, "://") {
		target = "http://" + target
	}
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: target: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	p := &Proxy{ln: ln, target: u, release: make(chan struct{})}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host // SigV4 signs the Host the client used
		},
		FlushInterval: -1,
		ErrorLog:      nil,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				return // the client is gone
			}
			w.WriteHeader(http.StatusBadGateway)
		},
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
		},
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go p.srv.Serve(ln)
	return p, nil
}

// Endpoint is the proxy's host:port.
func (p *Proxy) Endpoint() string { return p.ln.Addr().String() }

// URL is the proxy's base URL.
func (p *Proxy) URL() string { return "http://" + p.Endpoint() }

// Set replaces the rules. Requests already stalled stay stalled until
// Clear or Close.
func (p *Proxy) Set(rules ...Rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = p.rules[:0]
	for _, r := range rules {
		p.rules = append(p.rules, &ruleState{Rule: r})
	}
}

// Clear removes every rule and releases the stalled requests (they are
// then forwarded).
func (p *Proxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = nil
	close(p.release)
	p.release = make(chan struct{})
}

// Stats returns the request counters.
func (p *Proxy) Stats() Stats {
	return Stats{Requests: p.requests.Load(), Faulted: p.faulted.Load(), InFlight: p.inflight.Load()}
}

// WaitIdle waits until no request is in flight or d has passed, and
// returns the number still in flight.
func (p *Proxy) WaitIdle(d time.Duration) int64 {
	deadline := time.Now().Add(d)
	for {
		n := p.inflight.Load()
		if n == 0 || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Close releases the stalls and stops the proxy.
func (p *Proxy) Close() error {
	p.Clear()
	return p.srv.Close()
}

// pick returns the fault for req (a copy of the rule) and the release
// channel of the moment.
func (p *Proxy) pick(req *http.Request) (Rule, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.rules {
		if (r.Times == 0 || r.used < r.Times) && r.matches(req) {
			r.used++
			return r.Rule, p.release
		}
	}
	return Rule{Fault: Pass}, p.release
}

// ServeHTTP applies the matching rule.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	p.requests.Add(1)
	p.inflight.Add(1)
	defer p.inflight.Add(-1)
	rule, release := p.pick(req)
	if rule.Fault != Pass {
		p.faulted.Add(1)
	}
	switch rule.Fault {
	case Status:
		code := rule.Code
		if code == 0 {
			code = http.StatusServiceUnavailable
		}
		io.Copy(io.Discard, io.LimitReader(req.Body, 64<<20))
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(code)
		if req.Method != http.MethodHead {
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected fault</Message><Resource>%s</Resource><RequestId>faultproxy</RequestId></Error>`, s3Code(code), req.URL.Path)
		}
		return
	case Reset:
		resetConn(w)
		return
	case Stall:
		var timeout <-chan time.Time
		if rule.Delay > 0 {
			t := time.NewTimer(rule.Delay)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-req.Context().Done():
			return
		case <-release:
		case <-timeout:
		}
	case SlowBody:
		chunk := rule.Chunk
		if chunk <= 0 {
			chunk = 1024
		}
		w = &slowWriter{ResponseWriter: w, chunk: chunk, delay: rule.Delay, done: req.Context().Done()}
	case ResetMidBody:
		w = &cutWriter{ResponseWriter: w, left: rule.Chunk}
	}
	p.rp.ServeHTTP(w, req)
}

// s3Code is the S3 error code for an injected status.
func s3Code(code int) string {
	switch code {
	case http.StatusServiceUnavailable:
		return "ServiceUnavailable"
	case http.StatusInternalServerError:
		return "InternalError"
	case http.StatusInsufficientStorage:
		return "XMinioStorageFull"
	case http.StatusForbidden:
		return "AccessDenied"
	case http.StatusNotFound:
		return "NoSuchKey"
	}
	return "InjectedFault"
}

// resetConn hijacks the connection and closes it with SO_LINGER 0, so the
// client sees "connection reset by peer".
func resetConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// errCut is returned to the reverse proxy by a cutWriter: it aborts the
// response.
var errCut = errors.New("faultproxy: response cut")

// slowWriter writes the body in chunks with a pause after each.
type slowWriter struct {
	http.ResponseWriter
	chunk int
	delay time.Duration
	done  <-chan struct{}
}

func (s *slowWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		c := min(len(b), s.chunk)
		m, err := s.ResponseWriter.Write(b[:c])
		n += m
		if err != nil {
			return n, err
		}
		if f, ok := s.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		b = b[c:]
		select {
		case <-s.done:
			return n, errCut
		case <-time.After(s.delay):
		}
	}
	return n, nil
}

func (s *slowWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// cutWriter lets left body bytes through, then resets the connection.
type cutWriter struct {
	http.ResponseWriter
	left int
	cut  bool
}

func (c *cutWriter) Write(b []byte) (int, error) {
	if c.cut {
		return 0, errCut
	}
	if len(b) <= c.left {
		c.left -= len(b)
		return c.ResponseWriter.Write(b)
	}
	n, _ := c.ResponseWriter.Write(b[:c.left])
	c.left = 0
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
	c.cut = true
	resetConn(c.ResponseWriter)
	return n, errCut
}

func (c *cutWriter) Flush() {
	if c.cut {
		return
	}
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
