package main

import (
	"context"
	"flag"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/archive/ingest"
	"github.com/minipacs/minipacs/dicomweb/archive/scrub"
	"github.com/minipacs/minipacs/dicomweb/metrics"
	"github.com/minipacs/minipacs/dicomweb/security/auth"
	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/index/backup"
	"github.com/minipacs/minipacs/storage"
)

// Admin endpoints of the server (reliability tools):
//
//	GET  /metrics        Prometheus exposition formats: runtime, HTTP,
//	                     STOW, index and scrub metrics (dicomweb/metrics)
//	POST /admin/backup   a consistent copy of the index file (bbolt), for
//	                     `minipacs backup --url`
//
// Both must be restricted to the admin role (they reveal archive sizes;
// a backup holds every patient's data).
const metricsPath = "/metrics" // backup.Path is "/admin/backup"

// scrubConfig holds the flags of the background scrub (serve).
type scrubConfig struct {
	interval time.Duration
	rateMB   float64
}

func (s *scrubConfig) flags(fs *flag.FlagSet) {
	fs.DurationVar(&s.interval, "scrub-interval", 24*time.Hour, "pause between background scrub passes, which re-hash every stored object (0: off)")
	fs.Float64Var(&s.rateMB, "scrub-rate", 20, "read throttle of the background scrub in MB/s (0: unthrottled)")
}

// newScrubber builds the background scrub (started by installAdmin).
func newScrubber(idx index.Engine, store storage.Store, cfg *config, log *slog.Logger) *scrub.Scrubber {
	return scrub.NewScrubber(idx, store, scrub.ScrubConfig{
		Interval: cfg.scrub.interval, BytesPerSecond: int64(cfg.scrub.rateMB * 1e6), Logger: log,
	})
}

// newMetrics builds the Prometheus registry of the server: runtime, HTTP,
// STOW, index and scrub families (package dicomweb/metrics).
func newMetrics(idx index.Engine, sc *scrub.Scrubber, ing *ingest.Ingester, cfg *config, log *slog.Logger) *metrics.Metrics {
	indexFile := cfg.indexFile()
	if cfg.indexShared() {
		indexFile = ""
	}
	return metrics.New(metrics.Options{
		Index: idx, IndexFile: indexFile, Scrub: sc.Counters(), IngestQueue: ing.Queue, Logger: log,
	})
}

// installAdmin starts the background scrub (until ctx ends), mounts the
// admin endpoints on e, and returns them with their role (admin).
func installAdmin(ctx context.Context, e *echo.Echo, idx index.Engine, sc *scrub.Scrubber, met *metrics.Metrics, cfg *config, log *slog.Logger) []auth.Route {
	go sc.Run(ctx)
	// A PostgreSQL index is backed up by the database's own tools (its
	// standby, pg_basebackup, pg_dump), not through a node.
	backupHandler := func(c echo.Context) error {
		return echo.NewHTTPError(http.StatusNotImplemented,
			"the index is a PostgreSQL database: back it up with pg_basebackup or pg_dump (README: several nodes)")
	}
	if src, ok := idx.(backup.Source); ok {
		backupHandler = backup.Handler(src, cfg.data, log)
	}
	routes := []auth.Route{
		{Method: http.MethodGet, Path: metricsPath, Role: auth.Admin, Handler: echo.WrapHandler(met.Handler())},
		{Method: http.MethodPost, Path: backup.Path, Role: auth.Admin, Handler: backupHandler},
	}
	auth.Register(e, routes)
	return routes
}
