package fhir

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/kind"
	"github.com/minipacs/minipacs/dicomweb/security/auth"
	"github.com/minipacs/minipacs/index"
)

// Index is what the facade needs of the archive's index.
type Index interface {
	Search(ctx context.Context, q index.Query, fn func(*index.Result) error) error
}

// AccessKind says what a request did with patient data.
type AccessKind uint8

const (
	// AccessRead: one resource read (Patient, ImagingStudy, …).
	AccessRead AccessKind = iota + 1
	// AccessSearched: a search.
	AccessSearched
)

// StudyAccess is one study (or, for Patient resources, one patient: no
// StudyUID) that a request touched.
type StudyAccess struct {
	StudyUID                     string
	PatientID, IssuerOfPatientID string
	PatientName                  string
	AccessionNumber              string
}

// AccessEvent is one request's access to patient data.
type AccessEvent struct {
	Kind   AccessKind
	Status int
	// Resource is the resource type read or searched ("Patient",
	// "ImagingStudy", …); Query the request path and query of a search.
	Resource, Query string
	Studies         []StudyAccess
}

// Auditor records access events: Access is called once per request to a
// resource of patient data (not for metadata and the Endpoint), after
// the handler.
type Auditor interface {
	Access(ctx context.Context, r *http.Request, ev AccessEvent)
}

// PatientFilter returns, for a request, the test of which patients it may
// see, or nil when it may see all (the same hook as dicomweb's).
type PatientFilter func(ctx context.Context) func(patientID, issuer string) bool

// Records serves the resources that come from HL7 v2 reports and orders
// (DiagnosticReport, ServiceRequest; NewRecords). Errors of kind.NotFound
// answer 404, kind.Invalid 400 (for Search, when returned before its
// first result). allow is the request's patient restriction (nil: all
// patients), which Records must apply. Search is given only the
// parameters that Types lists (the facade warns of the others).
type Records interface {
	// Types lists the resource types served, with their search
	// parameters (name to FHIR search type), for the CapabilityStatement.
	Types() map[string]map[string]string
	// Read returns the resource of type typ with id.
	Read(ctx context.Context, typ, id string, allow func(patientID, issuer string) bool) (json.RawMessage, error)
	// Search calls fn for each resource of type typ that params select
	// (without _count, _offset and _format), in a stable order, until fn
	// returns an error.
	Search(ctx context.Context, typ string, params url.Values, allow func(patientID, issuer string) bool, fn func(id string, resource json.RawMessage) error) error
}

// Config configures the FHIR facade.
type Config struct {
	Index  Index
	Logger *slog.Logger
	// Prefix is the path the facade is mounted at ("/fhir").
	Prefix string
	// BaseURL is the external URL of the FHIR root (fullUrl, links); when
	// empty it is derived from each request's Host and Prefix.
	BaseURL string
	// DICOMwebURL is the external URL of the DICOMweb root, the address of
	// the Endpoint; when empty it is derived from each request's Host and
	// "/dicomweb".
	DICOMwebURL string
	// Auditor, when set, receives one AccessEvent per request for patient
	// data.
	Auditor Auditor
	// PatientFilter, when set, limits each request to the patients it
	// allows: others are left out of searches and are 404 when read.
	PatientFilter PatientFilter
	// Records serves DiagnosticReport and ServiceRequest (nil: none).
	Records Records
	// Location is the zone of DICOM dates and times of studies without a
	// TimezoneOffsetFromUTC (nil: ImagingStudy.started is then only a date).
	Location *time.Location
	// MaxInstances caps the instances listed in one ImagingStudy
	// (numberOfInstances still counts all; default 10000).
	MaxInstances int
}

// Paging limits (_count).
const (
	DefaultCount = 50
	MaxCount     = 500
)

// Server holds the FHIR handlers.
type Server struct {
	idx      Index
	log      *slog.Logger
	prefix   string
	base     string
	dwURL    string
	audit    Auditor
	patients PatientFilter
	records  Records
	loc      *time.Location
	maxInst  int
	started  time.Time
}

// New returns the FHIR facade.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "/fhir"
	}
	if cfg.MaxInstances <= 0 {
		cfg.MaxInstances = 10000
	}
	return &Server{
		idx: cfg.Index, log: cfg.Logger.With("component", "fhir"),
		prefix: strings.TrimRight(cfg.Prefix, "/"), base: strings.TrimRight(cfg.BaseURL, "/"),
		dwURL: strings.TrimRight(cfg.DICOMwebURL, "/"), audit: cfg.Auditor, patients: cfg.PatientFilter,
		records: cfg.Records, loc: cfg.Location, maxInst: cfg.MaxInstances, started: time.Now().UTC(),
	}
}

// Routes lists the facade's routes with the role each needs: the
// CapabilityStatement is Public, reads and searches need Reader, and
// writes (refused with 405: the facade is read-only) need Reader too, so
// that an anonymous client learns nothing before it authenticates.
func (s *Server) Routes() []auth.Route {
	var rs []auth.Route
	add := func(method, path string, role auth.Role, h echo.HandlerFunc) {
		rs = append(rs, auth.Route{Method: method, Path: s.prefix + path, Role: role, Handler: h})
	}
	add(http.MethodGet, "/metadata", auth.Public, s.metadata)
	add(http.MethodGet, "/:type", auth.Reader, s.search)
	add(http.MethodGet, "/:type/:id", auth.Reader, s.read)
	add(http.MethodPost, "", auth.Reader, s.readOnly)
	add(http.MethodPost, "/:type", auth.Reader, s.readOnly)
	for _, m := range []string{http.MethodPut, http.MethodPatch, http.MethodDelete} {
		add(m, "/:type", auth.Reader, s.readOnly)
		add(m, "/:type/:id", auth.Reader, s.readOnly)
	}
	return rs
}

// Install registers Routes on e.
func (s *Server) Install(e *echo.Echo) { auth.Register(e, s.Routes()) }

// fhirBase is the external URL of the FHIR root for this request.
func (s *Server) fhirBase(r *http.Request) string {
	if s.base != "" {
		return s.base
	}
	return origin(r) + s.prefix
}

func (s *Server) dicomwebBase(r *http.Request) string {
	if s.dwURL != "" {
		return s.dwURL
	}
	return origin(r) + "/dicomweb"
}

func origin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// allow is the request's patient restriction (nil: all).
func (s *Server) allow(ctx context.Context) func(id, issuer string) bool {
	if s.patients == nil {
		return nil
	}
	return s.patients(ctx)
}

// report gives one event to the auditor.
func (s *Server) report(c echo.Context, k AccessKind, typ string, status int, studies []StudyAccess) {
	if s.audit == nil {
		return
	}
	ev := AccessEvent{Kind: k, Status: status, Resource: typ, Studies: studies}
	if k == AccessSearched {
		ev.Query = c.Request().URL.RequestURI()
	}
	s.audit.Access(c.Request().Context(), c.Request(), ev)
}

func accessOf(st *study, withStudy bool) StudyAccess {
	a := StudyAccess{PatientID: st.Patient.ID, IssuerOfPatientID: st.Patient.Issuer, PatientName: st.Name}
	if withStudy {
		a.StudyUID, a.AccessionNumber = st.UID, st.Accession
	}
	return a
}

// readOnly answers every write: 405.
func (s *Server) readOnly(c echo.Context) error {
	if _, ok := s.format(c); !ok {
		return nil
	}
	c.Response().Header().Set("Allow", http.MethodGet)
	return s.outcome(c, http.StatusMethodNotAllowed, "not-supported", "this FHIR server is read-only")
}

// resourceTypes are the types served from the archive.
var resourceTypes = []string{"Endpoint", "ImagingStudy", "Patient"}

// read serves GET /fhir/{type}/{id}.
func (s *Server) read(c echo.Context) error {
	mime, ok := s.format(c)
	if !ok {
		return nil
	}
	typ, id := c.Param("type"), c.Param("id")
	ctx := c.Request().Context()
	switch typ {
	case "Endpoint":
		if id != EndpointID {
			return s.outcome(c, http.StatusNotFound, "not-found", "no Endpoint with this id")
		}
		return s.writeJSON(c, mime, http.StatusOK, s.endpoint(c.Request()))
	case "Patient":
		st, err := s.findPatient(ctx, id)
		return s.answerRead(c, mime, typ, st, false, err, func() any { return patientOf(st) })
	case "ImagingStudy":
		st, err := s.findStudy(ctx, id)
		if err != nil {
			return s.answerRead(c, mime, typ, st, true, err, nil)
		}
		is, err := s.imagingStudy(ctx, c.Request(), st)
		return s.answerRead(c, mime, typ, st, true, err, func() any { return is })
	}
	if s.recordType(typ) {
		return s.readRecord(c, mime, typ, id)
	}
	return s.outcome(c, http.StatusNotFound, "not-supported", "resource type not supported")
}

// answerRead writes the resource that build makes, or the error, and
// audits the read.
func (s *Server) answerRead(c echo.Context, mime, typ string, st *study, withStudy bool, err error, build func() any) error {
	status := http.StatusOK
	var studies []StudyAccess
	if err == nil {
		studies = []StudyAccess{accessOf(st, withStudy)}
		s.writeJSON(c, mime, status, build())
	} else {
		status = s.failure(c, err, typ+" read")
	}
	s.report(c, AccessRead, typ, status, studies)
	return nil
}

// failure writes the OperationOutcome of err and returns its status.
func (s *Server) failure(c echo.Context, err error, what string) int {
	var perr *paramError
	switch {
	case errors.As(err, &perr):
		s.outcome(c, http.StatusBadRequest, perr.code, perr.msg)
		return http.StatusBadRequest
	case errors.Is(err, kind.NotFound):
		s.outcome(c, http.StatusNotFound, "not-found", "resource not found")
		return http.StatusNotFound
	case errors.Is(err, kind.Invalid):
		s.outcome(c, http.StatusBadRequest, "invalid", "invalid request")
		return http.StatusBadRequest
	case errors.Is(err, context.Canceled):
		return 499
	}
	s.log.Error(what, "err", err)
	s.outcome(c, http.StatusInternalServerError, "exception", "internal error")
	return http.StatusInternalServerError
}

var errNotFound = kind.New(kind.NotFound, "fhir: not found")

// recordType reports whether Records serves typ.
func (s *Server) recordType(typ string) bool {
	if s.records == nil {
		return false
	}
	_, ok := s.records.Types()[typ]
	return ok
}

// endpoint is the one Endpoint resource: the DICOMweb service.
func (s *Server) endpoint(r *http.Request) *Endpoint {
	return &Endpoint{
		ResourceType: "Endpoint", ID: EndpointID, Status: "active",
		ConnectionType:  Coding{System: systemConnection, Code: "dicom-wado-rs", Display: "DICOM WADO-RS"},
		Name:            "minipacs DICOMweb (WADO-RS, QIDO-RS, STOW-RS)",
		PayloadType:     []CodeableConcept{{Coding: []Coding{{System: systemPayload, Code: "any", Display: "Any"}}, Text: "DICOM"}},
		PayloadMimeType: []string{"application/dicom"},
		Address:         s.dicomwebBase(r),
	}
}

// metadata serves the CapabilityStatement.
func (s *Server) metadata(c echo.Context) error {
	mime, ok := s.format(c)
	if !ok {
		return nil
	}
	return s.writeJSON(c, mime, http.StatusOK, s.capabilities(c.Request()))
}

type capParam struct {
	Name          string `json:"name"`
	Definition    string `json:"definition,omitempty"`
	Type          string `json:"type"`
	Documentation string `json:"documentation,omitempty"`
}

type capInteraction struct {
	Code string `json:"code"`
}

type capResource struct {
	Type        string           `json:"type"`
	Interaction []capInteraction `json:"interaction"`
	SearchParam []capParam       `json:"searchParam,omitempty"`
}

// capabilities is the CapabilityStatement of this server: the resources
// and search parameters it supports.
func (s *Server) capabilities(r *http.Request) map[string]any {
	interactions := []capInteraction{{"read"}, {"search-type"}}
	var res []capResource
	for _, typ := range resourceTypes {
		cr := capResource{Type: typ, Interaction: interactions}
		for _, name := range sortedKeys(searchParams[typ]) {
			p := searchParams[typ][name]
			cr.SearchParam = append(cr.SearchParam, capParam{Name: name, Type: p.typ, Definition: p.definition, Documentation: p.doc})
		}
		res = append(res, cr)
	}
	if s.records != nil {
		types := s.records.Types()
		for _, typ := range sortedKeys(types) {
			cr := capResource{Type: typ, Interaction: interactions}
			for _, name := range sortedKeys(types[typ]) {
				cr.SearchParam = append(cr.SearchParam, capParam{Name: name, Type: types[typ][name]})
			}
			res = append(res, cr)
		}
		sort.Slice(res, func(i, j int) bool { return res[i].Type < res[j].Type })
	}
	return map[string]any{
		"resourceType": "CapabilityStatement",
		"status":       "active",
		"date":         s.started.Format(time.RFC3339),
		"publisher":    "minipacs",
		"kind":         "instance",
		"software":     map[string]any{"name": "minipacs"},
		"implementation": map[string]any{
			"description": "minipacs FHIR R4 facade over the DICOM archive (read-only)",
			"url":         s.fhirBase(r),
		},
		"fhirVersion": "4.0.1",
		"format":      []string{"json"},
		"rest": []any{map[string]any{
			"mode":          "server",
			"documentation": "Read-only. Searches page with _count (default 50, at most 500) and _offset; unknown search parameters are ignored with a warning in an OperationOutcome entry, malformed values are 400.",
			"resource":      res,
		}},
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
