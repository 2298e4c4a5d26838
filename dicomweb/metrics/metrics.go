package metrics

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/minipacs/minipacs/dicomweb/archive/scrub"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Index is what the exporter reads of the metadata index
// (*index.Index has both methods).
type Index interface {
	Stats(ctx context.Context) (studies, series, instances int, err error)
	Commits() (commits, puts uint64)
}

// Options are the sources of the metrics; every one is optional (a nil
// source exports nothing).
type Options struct {
	// Index gives the index gauges and commit counters; IndexFile is the
	// path of the index file, whose size is exported.
	Index     Index
	IndexFile string
	// IndexTimeout bounds Index.Stats during a scrape (default 5s).
	IndexTimeout time.Duration
	// Scrub are the background scrub's counters.
	Scrub *scrub.Counters
	// IngestQueue returns the number of STOW parts in each ingest stage:
	// being checked (parsed and validated) and being written to the
	// object store. It is called at every scrape and must be quick.
	IngestQueue func() (checking, writing int)
	// Logger logs scrape errors.
	Logger *slog.Logger
}

// Metrics holds the registry and the metrics the server updates. It is
// safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry
	log *slog.Logger

	httpDuration *prometheus.HistogramVec
	stowStored   prometheus.Counter
	stowExisted  prometheus.Counter
	stowFailed   prometheus.Counter
	stowBytes    prometheus.Counter
	commitTime   prometheus.Histogram
}

// HTTP latency buckets, in seconds: from a cached QIDO answer (1 ms) to a
// STOW or a retrieve of a large study (minutes).
var httpBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// Index commit buckets, in seconds: one fsync is about 1.6 ms on an SSD.
var commitBuckets = []float64{.0005, .001, .002, .004, .008, .016, .032, .064, .128, .256, .512, 1, 2.5}

// New builds the registry with the runtime collectors, the HTTP, STOW and
// index commit metrics, and the families of the sources in opt.
func New(opt Options) *Metrics {
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opt.IndexTimeout <= 0 {
		opt.IndexTimeout = 5 * time.Second
	}
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		log: log.With("component", "metrics"),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "minipacs_http_request_duration_seconds",
			Help:    "Duration of HTTP requests, by method, route pattern and final status.",
			Buckets: httpBuckets,
		}, []string{"method", "route", "status"}),
		stowBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "minipacs_stow_bytes_total",
			Help: "Bytes of the instances received by STOW requests.",
		}),
		commitTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "minipacs_index_commit_seconds",
			Help:    "Duration of an index group commit (one write transaction, fsync included).",
			Buckets: commitBuckets,
		}),
	}
	stow := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "minipacs_stow_instances_total",
		Help: "Instances received by STOW requests, by outcome (stored, existed: already stored, failed).",
	}, []string{"outcome"})
	// Created now so that every outcome is exported (at 0) from the start.
	m.stowStored = stow.WithLabelValues("stored")
	m.stowExisted = stow.WithLabelValues("existed")
	m.stowFailed = stow.WithLabelValues("failed")

	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.httpDuration, stow, m.stowBytes, m.commitTime,
	)
	if opt.Index != nil || opt.IndexFile != "" {
		reg.MustRegister(&indexCollector{idx: opt.Index, file: opt.IndexFile, timeout: opt.IndexTimeout})
	}
	if opt.Scrub != nil {
		reg.MustRegister(scrubCollectors(opt.Scrub)...)
	}
	if opt.IngestQueue != nil {
		if err := m.RegisterIngestQueue(opt.IngestQueue); err != nil {
			panic(err) // a fresh registry: cannot happen
		}
	}
	return m
}

// RegisterIngestQueue exports minipacs_ingest_parts{stage} from queue,
// like Options.IngestQueue, for an owner built after the Metrics (the
// DICOMweb server takes the Metrics for ObserveStow and has the queue).
// It fails if the ingest queue is already registered.
func (m *Metrics) RegisterIngestQueue(queue func() (checking, writing int)) error {
	cs := ingestCollectors(queue)
	for i, c := range cs {
		if err := m.reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				m.reg.Unregister(done)
			}
			return fmt.Errorf("metrics: ingest queue: %w", err)
		}
	}
	return nil
}

// Registry is the registry of every metric, for tests or for more
// collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry (GET /metrics). A collector's error leaves
// its families out of the answer and is logged; the rest is served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
		// promhttp_metric_handler_errors_total counts those errors.
		Registry: m.reg,
	})
}

// ObserveStow records the outcome of one STOW request: the numbers of
// instances stored, already stored (existed) and failed, and the bytes
// of the instances received.
func (m *Metrics) ObserveStow(stored, existed, failed int, bytes int64) {
	m.stowStored.Add(float64(max(stored, 0)))
	m.stowExisted.Add(float64(max(existed, 0)))
	m.stowFailed.Add(float64(max(failed, 0)))
	m.stowBytes.Add(float64(max(bytes, 0)))
}

// ObserveIndexCommit records the duration of one index group commit (see
// index.(*Index).SetOnCommit).
func (m *Metrics) ObserveIndexCommit(d time.Duration) {
	m.commitTime.Observe(d.Seconds())
}
