package dicomweb

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/archive/ingest"
	"github.com/minipacs/minipacs/dicomweb/archive/query"
	"github.com/minipacs/minipacs/dicomweb/archive/retrieve"
	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/dicomweb/security/auth"
	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/storage"
)

// Index is what the handlers need of the metadata index.
type Index interface {
	Instance(ctx context.Context, study, series, sop string) (*index.Ref, error)
	Refs(ctx context.Context, study, series string) ([]index.Ref, error)
	Metadata(ctx context.Context, study, series, sop string, fn func(json []byte) error) error
	Search(ctx context.Context, q index.Query, fn func(*index.Result) error) error
	// PatientVersion is when a patient record last changed the study's
	// patient attributes (zero: never), for metadata ETags.
	PatientVersion(ctx context.Context, study string) (time.Time, error)
}

// Ingester is what STOW-RS and DELETE need of the ingest service: a batch
// per request (the server-wide ingest limits live in the ingester), and
// deletion (index entries, then objects).
type Ingester interface {
	Begin(ctx context.Context, studyUID string) *ingest.Batch
	Delete(ctx context.Context, study, series, sop string) (objects int, err error)
}

// StowObserver, when configured, is told the outcome of each STOW request
// (the metrics of package dicomweb/metrics).
type StowObserver interface {
	ObserveStow(stored, existed, failed int, bytes int64)
}

// Limits bound what a client may send in one request. The bounds shared
// by every upload (object size, parts checked and written at once) are the
// ingester's (ingest.Limits).
type Limits struct {
	// MaxRequestBytes caps a STOW request body (413 beyond; 0: no cap).
	MaxRequestBytes int64
	// MaxParts caps the number of parts in one STOW request.
	MaxParts int
	// QIDOMaxLimit caps QIDO's limit (a Warning says when it was clamped).
	QIDOMaxLimit int
}

// Config configures the DICOMweb service.
type Config struct {
	Index    Index
	Store    storage.Store
	Ingester Ingester
	Logger   *slog.Logger
	Limits   Limits
	// BaseURL, when set, is the external URL of the DICOMweb root used in
	// RetrieveURL and BulkDataURI (e.g. "https://pacs.example.org/dicomweb").
	// When empty it is derived from each request's Host.
	BaseURL string
	// Prefix is the path the service is mounted at ("/dicomweb").
	Prefix string
	// Auditor, when set, receives one AccessEvent per request.
	Auditor Auditor
	// PatientFilter, when set, limits each request to the patients it
	// allows (see access.go).
	PatientFilter PatientFilter
	// StudyFilter, when set, limits each request to the studies it allows
	// (see access.go).
	StudyFilter StudyFilter
	// Metrics, when set, counts STOW outcomes.
	Metrics StowObserver
	// Retrieve is the retrieve service that WADO-RS calls, shared with the
	// other front doors (nil: one built from Index and Store).
	Retrieve *retrieve.Service
}

// Server holds the DICOMweb handlers.
type Server struct {
	idx    Index
	store  storage.Store
	ing    Ingester
	log    *slog.Logger
	lim    Limits
	base   string
	prefix string
	ret    *retrieve.Service
	// audit receives one event per request (nil: none); patients restricts
	// what a request may see (nil: everything).
	audit    Auditor
	patients PatientFilter
	studies  StudyFilter
	metrics  StowObserver
}

// New returns the DICOMweb service.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	l := cfg.Limits
	if l.MaxParts <= 0 {
		l.MaxParts = 10000
	}
	if l.QIDOMaxLimit <= 0 {
		l.QIDOMaxLimit = 1000
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "/dicomweb"
	}
	if cfg.Retrieve == nil {
		cfg.Retrieve = retrieve.New(cfg.Index, cfg.Store)
	}
	return &Server{
		idx: cfg.Index, store: cfg.Store, ing: cfg.Ingester,
		log: cfg.Logger.With("component", "dicomweb"), lim: l,
		base: strings.TrimRight(cfg.BaseURL, "/"), prefix: strings.TrimRight(cfg.Prefix, "/"),
		ret:   cfg.Retrieve,
		audit: cfg.Auditor, patients: cfg.PatientFilter, studies: cfg.StudyFilter, metrics: cfg.Metrics,
	}
}

// Install configures e for minipacs (error handling, panic recovery) and
// registers the DICOMweb routes (Routes) under the prefix.
func (s *Server) Install(e *echo.Echo) {
	e.HTTPErrorHandler = errorHandler(s.log)
	e.Use(recoverMiddleware(s.log))
	// "/dicomweb/studies/" is "/dicomweb/studies": clients build URLs by
	// joining a configured root that may end in a slash.
	e.Pre(trimTrailingSlash)
	// Route-level middleware (e.Use would also run for unmatched requests).
	var mws []echo.MiddlewareFunc
	if s.audit != nil {
		mws = append(mws, s.auditMiddleware)
	}
	if s.patients != nil || s.studies != nil {
		mws = append(mws, s.restrictMiddleware)
	}
	auth.Register(e, s.Routes(), mws...)
}

// Routes lists the DICOMweb routes under the prefix, each with the role
// it needs: reader searches and retrieves, writer stores, admin deletes.
// Install registers them; the server's authorization table is built from
// them (auth.RulesOf).
func (s *Server) Routes() []auth.Route {
	var rs []auth.Route
	add := func(method, path string, role auth.Role, h echo.HandlerFunc) {
		rs = append(rs, auth.Route{Method: method, Path: s.prefix + path, Role: role, Handler: h})
	}
	const (
		study    = "/studies/:study"
		series   = study + "/series/:series"
		instance = series + "/instances/:instance"
		frames   = instance + "/frames/:frames"
	)
	// STOW-RS
	add(http.MethodPost, "/studies", auth.Writer, s.stow)
	add(http.MethodPost, study, auth.Writer, s.stow)

	// QIDO-RS
	add(http.MethodGet, "/studies", auth.Reader, s.search(index.LevelStudy))
	add(http.MethodGet, "/series", auth.Reader, s.search(index.LevelSeries))
	add(http.MethodGet, "/instances", auth.Reader, s.search(index.LevelInstance))
	add(http.MethodGet, study+"/series", auth.Reader, s.search(index.LevelSeries))
	add(http.MethodGet, study+"/instances", auth.Reader, s.search(index.LevelInstance))
	add(http.MethodGet, series+"/instances", auth.Reader, s.search(index.LevelInstance))

	// WADO-RS
	add(http.MethodGet, study, auth.Reader, s.retrieve)
	add(http.MethodGet, series, auth.Reader, s.retrieve)
	add(http.MethodGet, instance, auth.Reader, s.retrieve)

	add(http.MethodGet, study+"/metadata", auth.Reader, s.metadata)
	add(http.MethodGet, series+"/metadata", auth.Reader, s.metadata)
	add(http.MethodGet, instance+"/metadata", auth.Reader, s.metadata)

	add(http.MethodGet, frames, auth.Reader, s.frames)
	add(http.MethodGet, instance+"/bulkdata/*", auth.Reader, s.bulkdata)

	for _, kind := range []string{"/rendered", "/thumbnail"} {
		h := s.rendered(kind == "/thumbnail")
		for _, base := range []string{study, series, instance, frames} {
			add(http.MethodGet, base+kind, auth.Reader, h)
		}
	}

	// Deletion
	add(http.MethodDelete, study, auth.Admin, s.delete)
	add(http.MethodDelete, series, auth.Admin, s.delete)
	add(http.MethodDelete, instance, auth.Admin, s.delete)
	return rs
}

// baseURL is the external URL of the DICOMweb root for this request.
func (s *Server) baseURL(r *http.Request) string {
	if s.base != "" {
		return s.base
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + s.prefix
}

// uids validates the UIDs named in the path: 400 before any storage access.
func uids(c echo.Context) (study, series, instance string, err error) {
	study, series, instance = c.Param("study"), c.Param("series"), c.Param("instance")
	for _, u := range []string{study, series, instance} {
		if u != "" && !part10.ValidUID(u) {
			return "", "", "", badRequest("invalid UID in the path")
		}
	}
	return study, series, instance, nil
}

// qidoOptions are the query parser options of this server.
func (s *Server) qidoOptions() query.Options {
	return query.Options{MaxLimit: s.lim.QIDOMaxLimit}
}

// trimTrailingSlash routes "/x/" as "/x".
func trimTrailingSlash(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := c.Request().URL
		if len(u.Path) > 1 && strings.HasSuffix(u.Path, "/") {
			u.Path = strings.TrimRight(u.Path, "/")
			if u.Path == "" {
				u.Path = "/"
			}
			if u.RawPath != "" {
				u.RawPath = strings.TrimRight(u.RawPath, "/")
			}
		}
		return next(c)
	}
}

// acceptOf is the Accept of a request: the "accept" query parameter when
// present (PS3.18 §8.3.3.1: it replaces the header), else the header. In a
// query, an unescaped '+' arrives as a space ("application/dicom json"):
// it is put back in the media type.
func acceptOf(c echo.Context) string {
	vals := c.QueryParams()["accept"]
	if len(vals) == 0 {
		return c.Request().Header.Get("Accept")
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		typ, params, _ := strings.Cut(v, ";")
		out[i] = strings.ReplaceAll(strings.TrimSpace(typ), " ", "+")
		if params != "" {
			out[i] += ";" + params
		}
	}
	return strings.Join(out, ",")
}
