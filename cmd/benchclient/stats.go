package main

import (
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
)

// result is one output line: "name=X k1=v1 k2=v2" in insertion order.
type result struct {
	keys  []string
	vals  map[string]string
	notes []string // printed to stderr, not part of the line
}

func newResult(name string) *result {
	r := &result{vals: map[string]string{}}
	r.set("name", name)
	return r
}

func (r *result) set(k, v string) {
	if _, ok := r.vals[k]; !ok {
		r.keys = append(r.keys, k)
	}
	r.vals[k] = v
}

func (r *result) int(k string, v int64) { r.set(k, strconv.FormatInt(v, 10)) }
func (r *result) float(k string, v float64) {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		r.set(k, "0")
		return
	}
	r.set(k, strconv.FormatFloat(v, 'f', 2, 64))
}

func (r *result) ms(k string, d time.Duration) {
	r.set(k, strconv.FormatFloat(d.Seconds()*1000, 'f', 3, 64))
}

func (r *result) String() string {
	var b strings.Builder
	for i, k := range r.keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		// Values never hold spaces, so the line splits on whitespace.
		v := strings.Map(func(r rune) rune {
			if unicode.IsSpace(r) {
				return '_'
			}
			return r
		}, r.vals[k])
		fmt.Fprintf(&b, "%s=%s", k, v)
	}
	return b.String()
}

// print writes the line to w and any notes, prefixed with the name, to errw.
func (r *result) print(w, errw io.Writer) {
	fmt.Fprintln(w, r.String())
	for _, n := range r.notes {
		fmt.Fprintf(errw, "benchclient: %s: %s\n", r.vals["name"], n)
	}
}

// latencies collects request durations from concurrent workers.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// percentile returns the nearest-rank percentile p (0-100) of the samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = max(1, min(len(sorted), rank))
	return sorted[rank-1]
}

// report adds n, p50, p90, p99, max and mean (milliseconds) to r.
func (l *latencies) report(r *result) {
	l.mu.Lock()
	d := slices.Clone(l.d)
	l.mu.Unlock()
	slices.Sort(d)
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	r.int("n", int64(len(d)))
	r.ms("p50_ms", percentile(d, 50))
	r.ms("p90_ms", percentile(d, 90))
	r.ms("p99_ms", percentile(d, 99))
	if len(d) > 0 {
		r.ms("max_ms", d[len(d)-1])
		r.ms("mean_ms", sum/time.Duration(len(d)))
	}
}

// counters counts HTTP statuses and transport errors.
type counters struct {
	mu       sync.Mutex
	status   map[int]int
	errors   int
	firstErr string
}

func newCounters() *counters { return &counters{status: map[int]int{}} }

func (c *counters) addStatus(code int) {
	c.mu.Lock()
	c.status[code]++
	c.mu.Unlock()
}

func (c *counters) addError(err error) {
	c.mu.Lock()
	c.errors++
	if c.firstErr == "" {
		c.firstErr = err.Error()
	}
	c.mu.Unlock()
}

// report adds errors=N and status_CODE=N for every status seen.
func (c *counters) report(r *result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r.int("errors", int64(c.errors))
	codes := make([]int, 0, len(c.status))
	for code := range c.status {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	for _, code := range codes {
		r.int(fmt.Sprintf("status_%d", code), int64(c.status[code]))
	}
	if c.firstErr != "" {
		r.notes = append(r.notes, "first error: "+c.firstErr)
	}
}

// newHTTPClient returns a keep-alive client sized for conns concurrent
// requests to one host. It never uses a proxy: the targets are on loopback.
func newHTTPClient(conns int, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		WriteBufferSize:     256 << 10,
		ReadBufferSize:      256 << 10,
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}

func mb(bytes int64) float64 { return float64(bytes) / 1e6 }
