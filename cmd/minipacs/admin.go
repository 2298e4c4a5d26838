package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/archive/scrub"
	"github.com/minipacs/minipacs/dicomweb/security/auth"
	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/index/backup"
	"github.com/minipacs/minipacs/storage"
)

// Admin endpoints of the server (reliability tools):
//
//	GET  /metrics        Prometheus text format: scrub and index counters
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

// installAdmin starts the background scrub (until ctx ends), mounts the
// admin endpoints on e, and returns them with their role (admin).
func installAdmin(ctx context.Context, e *echo.Echo, idx *index.Index, store storage.Store, cfg *config, log *slog.Logger) []auth.Route {
	sc := scrub.NewScrubber(idx, store, scrub.ScrubConfig{
		Interval: cfg.scrub.interval, BytesPerSecond: int64(cfg.scrub.rateMB * 1e6), Logger: log,
	})
	go sc.Run(ctx)
	routes := []auth.Route{
		{Method: http.MethodGet, Path: metricsPath, Role: auth.Admin, Handler: metricsHandler(idx, sc.Counters())},
		{Method: http.MethodPost, Path: backup.Path, Role: auth.Admin, Handler: backup.Handler(idx, cfg.data, log)},
	}
	auth.Register(e, routes)
	return routes
}

// metricsHandler writes the scrub counters and the index counters in the
// Prometheus text exposition format.
func metricsHandler(idx *index.Index, sc *scrub.Counters) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 5*time.Second)
		defer cancel()
		studies, series, instances, err := idx.Stats(ctx)
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		commits, puts := idx.Commits()
		c.Response().Header().Set(echo.HeaderContentType, "text/plain; version=0.0.4; charset=utf-8")
		c.Response().WriteHeader(http.StatusOK)
		w := c.Response()
		for _, m := range []struct {
			name, typ, help string
			v               uint64
		}{
			{"minipacs_index_studies", "gauge", "Studies in the index.", uint64(studies)},
			{"minipacs_index_series", "gauge", "Series in the index.", uint64(series)},
			{"minipacs_index_instances", "gauge", "Instances in the index.", uint64(instances)},
			{"minipacs_index_commits_total", "counter", "Group commits (write transactions) of the index since start.", commits},
			{"minipacs_index_puts_total", "counter", "Instances put into the index since start.", puts},
		} {
			fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", m.name, m.help, m.name, m.typ, m.name, m.v)
		}
		return sc.WriteMetrics(w)
	}
}
