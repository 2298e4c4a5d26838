package web

import (
	"context"
	"embed"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/security/auth"
	"github.com/minipacs/minipacs/index"
)

//go:embed ui
var uiFiles embed.FS

// Index is what the ZIP download needs of the metadata index.
type Index interface {
	// Refs lists the instances of a study (series "") or of one series; it
	// fails with index.ErrNotFound when there are none.
	Refs(ctx context.Context, study, series string) ([]index.Ref, error)
}

// Store is what the ZIP download needs of the object store.
type Store interface {
	Get(ctx context.Context, key string) (io.ReadCloser, int64, error)
}

// Config configures the web handlers.
type Config struct {
	Index  Index
	Store  Store
	Logger *slog.Logger
	// ViewerDir is the directory of OHIF's built files (the dist/ folder of
	// the @ohif/app package). When it holds no index.html, /viewer/ shows
	// how to install the viewer.
	ViewerDir string
	// DICOMwebURL is the DICOMweb root that OHIF is configured with: an
	// absolute URL, or "" for /dicomweb on the origin the page came from.
	DICOMwebURL string
	// Search finds the studies of an IHE Invoke Image Display request
	// (iid.go); nil means Index, when it has a Search method.
	Search Searcher
	// PatientFilter gives, for a request, the test of which patients its
	// principal may see (nil test: all); IID opens only those.
	PatientFilter func(ctx context.Context) func(patientID, issuer string) bool
	// LaunchAudit, when set, wraps the IID route: an IID launch is a
	// search of patient data, audited as one (dicomweb's AuditAs).
	LaunchAudit echo.MiddlewareFunc
	// SignIn: browser sign-in (/auth/login, /auth/session) is on; OHIF's
	// generated configuration then sends a browser without a session
	// through the sign-in first. (The study browser asks /auth/session
	// itself.)
	SignIn bool
}

// Server holds the web handlers.
type Server struct {
	idx    Index
	store  Store
	log    *slog.Logger
	viewer *viewer
	ui     fs.FS

	search   Searcher
	patients func(ctx context.Context) func(patientID, issuer string) bool
	launch   echo.MiddlewareFunc
}

// New returns the web handlers.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ui, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		panic(err) // the embedded tree is fixed at compile time
	}
	log := cfg.Logger.With("component", "web")
	search := cfg.Search
	if sr, ok := cfg.Index.(Searcher); ok && search == nil {
		search = sr
	}
	return &Server{
		idx: cfg.Index, store: cfg.Store, log: log, ui: ui,
		viewer: newViewer(cfg.ViewerDir, viewerPrefix, cfg.DICOMwebURL, cfg.SignIn, log),
		search: search, patients: cfg.PatientFilter, launch: cfg.LaunchAudit,
	}
}

const (
	browserPrefix = "/web"
	viewerPrefix  = "/viewer"
)

// Install registers the routes (Routes) on e.
func (s *Server) Install(e *echo.Echo, protect ...echo.MiddlewareFunc) {
	auth.Register(e, s.Routes(protect...))
}

// Routes lists the routes of the web handlers, GET and HEAD each, with the
// role they need. The pages and OHIF's files are public: they hold no
// patient data, every datum comes through DICOMweb with the user's
// credentials. The ZIP download reads archive data directly: it needs
// reader, and protect wraps it (it should apply the same audit and
// per-patient restriction as the DICOMweb routes). IHE Invoke Image
// Display (/IHEInvokeImageDisplay, iid.go) searches the archive: it needs
// reader too, and applies Config.PatientFilter itself.
func (s *Server) Routes(protect ...echo.MiddlewareFunc) []auth.Route {
	var rs []auth.Route
	get := func(p string, role auth.Role, h echo.HandlerFunc) {
		for _, m := range []string{http.MethodGet, http.MethodHead} {
			rs = append(rs, auth.Route{Method: m, Path: p, Role: role, Handler: h})
		}
	}
	get("/", auth.Public, func(c echo.Context) error { return c.Redirect(http.StatusFound, browserPrefix+"/") })
	get(browserPrefix, auth.Public, s.page)
	get(browserPrefix+"/*", auth.Public, s.page)
	get(browserPrefix+"/studies/:study/zip", auth.Reader, applyMiddleware(s.zip, protect...))
	get(viewerPrefix, auth.Public, s.viewer.serve)
	get(viewerPrefix+"/*", auth.Public, s.viewer.serve)
	iid := s.invokeImageDisplay
	if s.launch != nil {
		iid = s.launch(iid)
	}
	get(iidPath, auth.Reader, iid)
	return rs
}

// applyMiddleware wraps h in mws, the first outermost (as echo does).
func applyMiddleware(h echo.HandlerFunc, mws ...echo.MiddlewareFunc) echo.HandlerFunc {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// browserCSP is the policy of the study browser: our own scripts and styles
// only, pictures from our origin or from blobs (thumbnails are fetched, then
// shown through object URLs).
const browserCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// securityHeaders sets the headers every page of ours carries.
func securityHeaders(h http.Header, csp string) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// page serves the embedded study browser.
func (s *Server) page(c echo.Context) error {
	name := strings.TrimPrefix(strings.TrimPrefix(c.Request().URL.Path, browserPrefix), "/")
	if name == "" {
		name = "index.html"
	}
	name = path.Clean(name)
	h := c.Response().Header()
	securityHeaders(h, browserCSP)
	f, err := s.ui.Open(name)
	if err != nil || strings.HasPrefix(name, ".") {
		if f != nil {
			f.Close()
		}
		return textError(c, http.StatusNotFound, "not found")
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		return textError(c, http.StatusNotFound, "not found")
	}
	if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
		h.Set(echo.HeaderContentType, ct)
	}
	// The files change with the binary: revalidate every time (they are
	// small, and embed.FS has no modification times).
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(c.Response(), c.Request(), name, st.ModTime(), f.(io.ReadSeeker))
	return nil
}

// textError writes a short text/plain error that never contains request
// input.
func textError(c echo.Context, status int, msg string) error {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	if c.Request().Method == http.MethodHead {
		return c.NoContent(status)
	}
	return c.String(status, msg+"\n")
}
