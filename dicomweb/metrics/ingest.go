package metrics

import "github.com/prometheus/client_golang/prometheus"

// ingestCollectors export the ingest queue: one gauge per stage, both
// read from the same callback.
func ingestCollectors(queue func() (checking, writing int)) []prometheus.Collector {
	stage := func(name string, pick func(checking, writing int) int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "minipacs_ingest_parts",
			Help:        "STOW parts in an ingest stage: checking (parsed and validated) or writing (to the object store).",
			ConstLabels: prometheus.Labels{"stage": name},
		}, func() float64 { return float64(pick(queue())) })
	}
	return []prometheus.Collector{
		stage("checking", func(c, _ int) int { return c }),
		stage("writing", func(_, w int) int { return w }),
	}
}
