package scrub

import (
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
