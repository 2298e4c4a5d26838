package scrub

import (
	"bufio"
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// Counters are cumulative scrub counters, safe for concurrent use. They
// only grow (Prometheus counters), except the gauges Running and
// LastCompleted.
type Counters struct {
	ObjectsChecked atomic.Int64 // objects read and hashed
	BytesChecked   atomic.Int64 // bytes read and hashed
	Missing        atomic.Int64 // indexed objects not in the store
	Mismatch       atomic.Int64 // objects whose hash or size differ from the index
	Errors         atomic.Int64 // objects that could not be read (store errors)
	Passes         atomic.Int64 // completed passes over the whole index
	Running        atomic.Bool  // a pass is in progress
	lastCompleted  atomic.Int64 // Unix nanoseconds of the last completed pass; 0 never
}

// LastCompleted is when the last complete pass ended (zero: never).
func (c *Counters) LastCompleted() time.Time {
	if ns := c.lastCompleted.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

func (c *Counters) setLastCompleted(t time.Time) { c.lastCompleted.Store(t.UnixNano()) }

// WriteMetrics writes the counters in the Prometheus text exposition
// format (version 0.0.4), metric names prefixed "minipacs_scrub_".
func (c *Counters) WriteMetrics(w io.Writer) error {
	bw := bufio.NewWriter(w)
	metric := func(name, typ, help string, v any) {
		fmt.Fprintf(bw, "# HELP minipacs_scrub_%s %s\n# TYPE minipacs_scrub_%s %s\nminipacs_scrub_%s %v\n", name, help, name, typ, name, v)
	}
	metric("objects_checked_total", "counter", "Objects read and hashed by the background scrub.", c.ObjectsChecked.Load())
	metric("bytes_checked_total", "counter", "Bytes read and hashed by the background scrub.", c.BytesChecked.Load())
	metric("missing_total", "counter", "Indexed objects found missing from the object store.", c.Missing.Load())
	metric("mismatch_total", "counter", "Objects whose SHA-256 or size differ from the index.", c.Mismatch.Load())
	metric("errors_total", "counter", "Objects the scrub could not read (object store errors).", c.Errors.Load())
	metric("passes_total", "counter", "Completed scrub passes over the whole index.", c.Passes.Load())
	running := 0
	if c.Running.Load() {
		running = 1
	}
	metric("running", "gauge", "1 while a scrub pass is in progress.", running)
	var last float64
	if ns := c.lastCompleted.Load(); ns != 0 {
		last = float64(ns) / 1e9
	}
	fmt.Fprintf(bw, "# HELP minipacs_scrub_last_completed_timestamp_seconds %s\n# TYPE minipacs_scrub_last_completed_timestamp_seconds gauge\nminipacs_scrub_last_completed_timestamp_seconds %.3f\n",
		"Unix time at which the last complete scrub pass ended (0: none yet).", last)
	return bw.Flush()
}
