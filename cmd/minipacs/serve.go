package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb"
	"github.com/minipacs/minipacs/dicomweb/archive/ingest"
	"github.com/minipacs/minipacs/dicomweb/archive/patient"
	"github.com/minipacs/minipacs/dicomweb/archive/report"
	"github.com/minipacs/minipacs/dicomweb/archive/retrieve"
	"github.com/minipacs/minipacs/dicomweb/archive/worklist"
	"github.com/minipacs/minipacs/dicomweb/fhir"
	"github.com/minipacs/minipacs/dicomweb/security/auth"
	"github.com/minipacs/minipacs/dicomweb/security/transport"
	"github.com/minipacs/minipacs/web"
)

// serve runs the archive until ctx is cancelled (SIGINT/SIGTERM), then
// stops accepting, drains the requests in flight and closes the index last.
func serve(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, log, err := setup("serve", args, stderr)
	if err != nil {
		return err
	}
	// Safe by default: no patient data on the network without
	// authentication and TLS (security.go).
	if err := cfg.sec.check(cfg.listen); err != nil {
		return err
	}
	if err := cfg.dimse.check(); err != nil { // dimse.go
		return err
	}
	if err := cfg.hl7.check(); err != nil { // hl7.go
		return err
	}
	if err := os.MkdirAll(cfg.data, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if cfg.memLimit < 0 {
		return fmt.Errorf("--memory-limit-bytes: negative")
	}
	if cfg.memLimit > 0 {
		// A soft limit for hosts with little memory: the steady state is
		// flat without it (no request's memory grows with the index), but
		// GOGC alone lets the heap reach twice the live heap of the busiest
		// moment and keep it for a while.
		debug.SetMemoryLimit(cfg.memLimit)
		log.Info("memory limit", "bytes", cfg.memLimit)
	}
	authn, err := cfg.sec.authenticator(ctx, log)
	if err != nil {
		return fmt.Errorf("authentication: %w", err)
	}
	// Browser sign-in (OIDC code flow + PKCE, server-side sessions).
	sessions, err := cfg.sec.sessions(authn, cfg.baseURL, log)
	if err != nil {
		return fmt.Errorf("browser sign-in: %w", err)
	}
	var loginRoutes []auth.Route
	if sessions != nil {
		loginRoutes = sessions.Routes()
	}
	aud, err := openAuditor(ctx, &cfg.sec, cfg.data, cfg.listen, log)
	if err != nil {
		return err
	}
	defer aud.Close()
	store, err := cfg.openStore(ctx)
	if err != nil {
		return fmt.Errorf("object store: %w", err)
	}
	idx, err := cfg.openIndex(ctx, "")
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	defer idx.Close()

	// The worklist (HL7 orders), and the link of arriving studies to their
	// orders (orders.go).
	wl := worklist.New(idx)
	// The patient records of HL7 ADT: new images are indexed under the
	// record's current identifier and demographics.
	patients := patient.New(idx)
	linker := newOrderLinker(idx, wl, log)
	linkCtx, stopLinker := context.WithCancel(ctx)
	defer stopLinker() // before idx.Close
	go linker.run(linkCtx)
	ing, err := ingest.New(store, idx, ingest.Config{
		OnStored:   linker.stored,
		Patients:   patients,
		SpoolDir:   filepath.Join(cfg.data, "spool"),
		Logger:     log,
		Ingest:     ingest.Limits{MaxPartBytes: cfg.maxPart, MaxConcurrentChecks: cfg.ingestConc},
		CrashPoint: os.Getenv("MINIPACS_CRASHPOINT"), // crash-consistency tests only
	})
	if err != nil {
		return err
	}
	// The background scrub (admin.go) and the metrics of everything, built
	// before the recovery so that its index commits are timed too.
	sc := newScrubber(idx, store, cfg, log)
	met := newMetrics(idx, sc, ing, cfg, log)
	idx.SetOnCommit(met.ObserveIndexCommit)
	if err := ing.Recover(ctx); err != nil {
		return err
	}
	// One retrieve service for every front door (its render cache is
	// shared).
	ret := retrieve.New(idx, store)
	// The DIMSE front door beside HTTP (dimse.go).
	stopDIMSE, dimseReloads, err := startDIMSE(ctx, &cfg.dimse, dimseServices{ing, idx, ret, wl}, aud, log)
	if err != nil {
		return err
	}
	defer stopDIMSE()
	// The HL7 v2 front door: orders to the worklist, results to reports
	// (hl7.go).
	reports := report.New(idx)
	stopHL7, hl7Reloads, err := startHL7(ctx, &cfg.hl7, hl7Services{idx, wl, reports, patients}, aud, log)
	if err != nil {
		return err
	}
	defer stopHL7()

	// Break-glass access of restricted readers (off unless
	// --break-glass-duration): grants widen the patient filter of every
	// front door below.
	bg, err := cfg.sec.breakGlassRegistry(idx, cfg.indexShared(), aud, log)
	if err != nil {
		return fmt.Errorf("break-glass: %w", err)
	}
	filter := patientFilter(bg)

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	// First of all middleware: it times every request, and sees the final
	// status of each (dicomweb/metrics).
	e.Pre(met.Middleware())
	var dwAudit dicomweb.Auditor
	authHooks := auth.Hooks{Logger: log}
	if aud != nil {
		dwAudit, authHooks.OnAuth = dicomwebAuditor{aud}, aud.OnAuth
	}
	dw := dicomweb.New(dicomweb.Config{
		Index: idx, Store: store, Ingester: ing, Retrieve: ret, Logger: log, BaseURL: cfg.baseURL,
		Auditor: dwAudit, StudyFilter: studyFilter(bg), Metrics: met,
		Limits: dicomweb.Limits{
			MaxRequestBytes: cfg.maxRequest, MaxParts: cfg.maxParts, QIDOMaxLimit: cfg.qidoMax,
		},
	})
	dw.Install(e)
	// The FHIR R4 facade at /fhir over the same index, with the same
	// authorization, patient restriction and audit trail (package fhir).
	var fhAudit fhir.Auditor
	if aud != nil {
		fhAudit = fhirAuditor{aud}
	}
	fh := fhir.New(fhir.Config{
		Index: idx, Logger: log, BaseURL: fhirBaseURL(cfg.baseURL), DICOMwebURL: cfg.baseURL,
		Auditor: fhAudit, PatientFilter: filter, Location: time.Local,
		Records: fhir.NewRecords(wl, reports, time.Local),
	})
	fh.Install(e)
	// Background scrub, GET /metrics, POST /admin/backup (admin.go).
	adminRoutes := installAdmin(ctx, e, idx, sc, met, cfg, log)
	// The study browser, OHIF at /viewer/, ZIP downloads and CORS (package web).
	origins, _ := web.ParseOrigins(cfg.corsOrigins) // checked by config.parse
	cors, err := web.CORS("/dicomweb", origins)
	if err != nil {
		return fmt.Errorf("--cors-origins: %w", err)
	}
	if cors != nil {
		e.Pre(cors)
	}
	// The ZIP download of a study is audited like a retrieve and obeys the
	// same per-patient restriction; an IHE Invoke Image Display launch is
	// audited like a search and opens only the patients the user may see.
	wb := web.New(web.Config{
		Index: idx, Store: store, Logger: log, ViewerDir: cfg.viewerDir, DICOMwebURL: cfg.baseURL,
		Search: idx, PatientFilter: filter, LaunchAudit: dw.AuditAs(dicomweb.AccessQueried),
		SignIn: sessions != nil,
	})
	wb.Install(e, dw.AuditAs(dicomweb.AccessRetrieved), dw.RestrictStudy)
	// Share links to one study (package share).
	shares, err := cfg.sec.shares(idx, authn, aud, cfg.baseURL, log)
	if err != nil {
		return fmt.Errorf("share links: %w", err)
	}
	shareRoutes := shares.Routes()
	auth.Register(e, shareRoutes)
	health := healthRoutes(idx, store, log)
	auth.Register(e, health)
	auth.Register(e, loginRoutes)
	bgRoutes := bg.Routes() // POST /auth/break-glass (reader), GET /admin/break-glass (admin)
	auth.Register(e, bgRoutes)

	if cfg.pprof != "" {
		go func() {
			mux := http.NewServeMux()
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
			psrv := &http.Server{Addr: cfg.pprof, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
			log.Info("profiling enabled", "addr", cfg.pprof)
			if err := psrv.ListenAndServe(); err != nil {
				log.Warn("profiling listener", "err", err)
			}
		}()
	}

	// Every route is declared in one table with the role it needs; a
	// route missing from it is a bug caught here, at start-up.
	table, err := auth.NewTable(auth.RulesOf(dw.Routes(), fh.Routes(), adminRoutes, wb.Routes(), health, loginRoutes, shareRoutes, bgRoutes)...)
	if err != nil {
		return err
	}
	if err := auth.CheckRoutes(e, table); err != nil {
		return fmt.Errorf("route table: %w", err)
	}
	e.Use(auth.Middleware(table, authn, authHooks))
	e.Use(bg.Middleware()) // counts each request's grant uses once
	e.Use(transport.Headers(cfg.sec.hstsMaxAge, cfg.sec.tlsEnabled()))

	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: cfg.sec.readHeaderTimeout,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    cfg.sec.maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	scheme := "http"
	reloads := append(append([]func() error{authn.Reload}, dimseReloads...), hl7Reloads...)
	if cfg.sec.tlsEnabled() {
		certs, err := transport.NewCertificate(cfg.sec.tlsCert, cfg.sec.tlsKey)
		if err != nil {
			return err
		}
		reloads = append(reloads, certs.Reload)
		srv.TLSConfig = certs.ServerConfig()
		ln = tls.NewListener(ln, srv.TLSConfig)
		scheme = "https"
	}
	reloadOnSIGHUP(ctx, log, reloads...)
	log.Info("minipacs listening", "addr", ln.Addr().String(), "scheme", scheme, "auth", authn.String(), "version", version, "storage", cfg.storage, "data", cfg.data)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: draining requests")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Warn("shutdown", "err", err)
	}
	log.Info("stopped")
	return nil
}
