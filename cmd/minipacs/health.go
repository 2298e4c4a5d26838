package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/security/auth"
	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/storage"
)

// healthRoutes are the probes of an orchestrator, public: /healthz answers
// while the process serves, /readyz while the index and the object store
// answer too.
func healthRoutes(idx index.Engine, store storage.Store, log *slog.Logger) []auth.Route {
	healthz := func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") }
	readyz := func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
		defer cancel()
		if err := idx.Ping(ctx); err != nil {
			return c.String(http.StatusServiceUnavailable, "index not ready\n")
		}
		if p, ok := store.(storage.Pinger); ok {
			if err := p.Ping(ctx); err != nil {
				log.Warn("readiness: object store unreachable", "err", err)
				return c.String(http.StatusServiceUnavailable, "object store unreachable\n")
			}
		}
		return c.String(http.StatusOK, "ready\n")
	}
	return []auth.Route{
		{Method: http.MethodGet, Path: "/healthz", Role: auth.Public, Handler: healthz},
		{Method: http.MethodGet, Path: "/readyz", Role: auth.Public, Handler: readyz},
	}
}
