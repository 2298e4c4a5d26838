// Package metrics is the Prometheus exporter of minipacs: it builds one
// *prometheus.Registry (never the global default registry) holding every
// metric of the server, and serves it in the Prometheus exposition formats.
// It is an operations package that any front door (DICOMweb, and later
// DIMSE, HL7, FHIR) may use; it knows nothing of DICOM.
//
// Import rules: metrics must not import the DICOMweb front door (package
// dicomweb) nor any other front door (dimse, hl7, fhir, web, cmd), nor the
// dicom, security, stowclient and testkit rooms; it may read the archive
// services' counters (archive/scrub). The dicom room must not import
// metrics. TestRooms in package dicomweb checks both.
//
// # What it exports
//
// New(Options) builds a *Metrics from sources given as small interfaces or
// callbacks (each optional):
//
//   - Options.Index (Stats, Commits) and Options.IndexFile: index gauges;
//   - Options.Scrub (*scrub.Counters): the background scrub's counters;
//   - Options.IngestQueue: the STOW parts in each ingest stage (or later,
//     Metrics.RegisterIngestQueue, for an owner built after the Metrics).
//
// The owner then calls:
//
//   - Metrics.Middleware: an echo v4 middleware timing every request; install
//     it with e.Pre before any other middleware, so that it is outermost;
//   - Metrics.ObserveStow: after each STOW request, with its outcome;
//   - Metrics.ObserveIndexCommit: after each index group commit (give it to
//     index.(*Index).SetOnCommit);
//   - Metrics.Handler: the http.Handler of GET /metrics (protect it: it
//     reveals archive sizes); Metrics.Registry for tests or more metrics.
//
// # Metric families
//
// HTTP (Middleware):
//
//	minipacs_http_request_duration_seconds{method,route,status}  histogram
//
// method is the HTTP method (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS,
// CONNECT, TRACE; anything else "other"); route is echo's route pattern
// (c.Path(), e.g. /dicomweb/studies/:study/metadata), never the request path
// with its UIDs, and "other" when no route matched (404 or 405 of echo's
// router, or an answer given before routing); status is the status code
// the client received, including the one echo's error handler writes for
// an error a handler returned (see Middleware). The histogram's _count is
// the request counter.
//
// STOW (ObserveStow):
//
//	minipacs_stow_instances_total{outcome="stored|existed|failed"}  counter
//	minipacs_stow_bytes_total                                       counter
//
// Ingest queue (Options.IngestQueue):
//
//	minipacs_ingest_parts{stage="checking|writing"}  gauge
//
// Index (Options.Index, Options.IndexFile, ObserveIndexCommit):
//
//	minipacs_index_studies          gauge
//	minipacs_index_series           gauge
//	minipacs_index_instances        gauge
//	minipacs_index_commits_total    counter  group commits since start
//	minipacs_index_puts_total       counter  instances put since start
//	minipacs_index_file_bytes       gauge    size of the index file
//	minipacs_index_commit_seconds   histogram  duration of a group commit
//
// Scrub (Options.Scrub), the names the server exported before this
// package existed:
//
//	minipacs_scrub_objects_checked_total            counter
//	minipacs_scrub_bytes_checked_total              counter
//	minipacs_scrub_missing_total                    counter
//	minipacs_scrub_mismatch_total                   counter
//	minipacs_scrub_errors_total                     counter
//	minipacs_scrub_passes_total                     counter
//	minipacs_scrub_running                          gauge (0 or 1)
//	minipacs_scrub_last_completed_timestamp_seconds gauge (0: never)
//
// Runtime: the go_* families of the Go collector and the process_*
// families of the process collector.
//
// When the index cannot answer (closed, or slower than IndexTimeout), the
// index gauges are left out of that scrape and the error is logged; every
// other family is still served.
package metrics
