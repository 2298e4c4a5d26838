package metrics

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	descStudies   = prometheus.NewDesc("minipacs_index_studies", "Studies in the index.", nil, nil)
	descSeries    = prometheus.NewDesc("minipacs_index_series", "Series in the index.", nil, nil)
	descInstances = prometheus.NewDesc("minipacs_index_instances", "Instances in the index.", nil, nil)
	descCommits   = prometheus.NewDesc("minipacs_index_commits_total", "Group commits (write transactions) of the index since start.", nil, nil)
	descPuts      = prometheus.NewDesc("minipacs_index_puts_total", "Instances put into the index since start.", nil, nil)
	descFileBytes = prometheus.NewDesc("minipacs_index_file_bytes", "Size of the index file in bytes.", nil, nil)
)

// indexCollector reads the index counts at each scrape: they live in the
// index file (one read transaction), so a collector rather than gauges
// kept up to date. A failed read leaves its families out of the scrape
// (an invalid metric makes promhttp log the error and serve the rest).
type indexCollector struct {
	idx     Index  // nil: no counts
	file    string // "": no size
	timeout time.Duration
}

func (c *indexCollector) Describe(ch chan<- *prometheus.Desc) {
	if c.idx != nil {
		for _, d := range []*prometheus.Desc{descStudies, descSeries, descInstances, descCommits, descPuts} {
			ch <- d
		}
	}
	if c.file != "" {
		ch <- descFileBytes
	}
}

func (c *indexCollector) Collect(ch chan<- prometheus.Metric) {
	if c.idx != nil {
		commits, puts := c.idx.Commits()
		ch <- prometheus.MustNewConstMetric(descCommits, prometheus.CounterValue, float64(commits))
		ch <- prometheus.MustNewConstMetric(descPuts, prometheus.CounterValue, float64(puts))
		// Collect has no request context: bound the read here.
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		studies, series, instances, err := c.idx.Stats(ctx)
		cancel()
		if err != nil {
			ch <- prometheus.NewInvalidMetric(descInstances, fmt.Errorf("index stats: %w", err))
		} else {
			ch <- prometheus.MustNewConstMetric(descStudies, prometheus.GaugeValue, float64(studies))
			ch <- prometheus.MustNewConstMetric(descSeries, prometheus.GaugeValue, float64(series))
			ch <- prometheus.MustNewConstMetric(descInstances, prometheus.GaugeValue, float64(instances))
		}
	}
	if c.file != "" {
		fi, err := os.Stat(c.file)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(descFileBytes, fmt.Errorf("index file size: %w", err))
			return
		}
		ch <- prometheus.MustNewConstMetric(descFileBytes, prometheus.GaugeValue, float64(fi.Size()))
	}
}
