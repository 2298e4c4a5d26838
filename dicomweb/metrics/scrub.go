package metrics

import (
	"github.com/minipacs/minipacs/dicomweb/archive/scrub"
	"github.com/prometheus/client_golang/prometheus"
)

// scrubCollectors export the scrub counters under the names the server
// used before this package (scrub.Counters.WriteMetrics), read at each
// scrape.
func scrubCollectors(c *scrub.Counters) []prometheus.Collector {
	counter := func(name, help string, load func() int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "minipacs_scrub_" + name, Help: help},
			func() float64 { return float64(load()) })
	}
	return []prometheus.Collector{
		counter("objects_checked_total", "Objects read and hashed by the background scrub.", c.ObjectsChecked.Load),
		counter("bytes_checked_total", "Bytes read and hashed by the background scrub.", c.BytesChecked.Load),
		counter("missing_total", "Indexed objects found missing from the object store.", c.Missing.Load),
		counter("mismatch_total", "Objects whose SHA-256 or size differ from the index.", c.Mismatch.Load),
		counter("errors_total", "Objects the scrub could not read (object store errors).", c.Errors.Load),
		counter("passes_total", "Completed scrub passes over the whole index.", c.Passes.Load),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "minipacs_scrub_running", Help: "1 while a scrub pass is in progress.",
		}, func() float64 {
			if c.Running.Load() {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "minipacs_scrub_last_completed_timestamp_seconds",
			Help: "Unix time at which the last complete scrub pass ended (0: none yet).",
		}, func() float64 {
			t := c.LastCompleted()
			if t.IsZero() {
				return 0
			}
			return float64(t.UnixNano()) / 1e9
		}),
	}
}
