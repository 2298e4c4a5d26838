package dicomweb

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/index"
)

// Access to patient data, for the audit trail and per-patient restrictions.
//
// Every DICOMweb request ends in exactly one AccessEvent given to the
// Auditor (when one is configured), after its handler has run: the kind of
// access, the HTTP status, and the studies touched with their patient.
// PatientFilter, when set, hides studies of patients a request may not see:
// QIDO leaves them out, WADO and DELETE answer 404 as if they did not exist.
// StudyFilter does the same per study (a share link's session sees one
// study); when both are set a study must pass both.

// AccessKind says what a request did with patient data.
type AccessKind uint8

const (
	// AccessStored: STOW-RS received instances (audit 110104, action C).
	AccessStored AccessKind = iota + 1
	// AccessRetrieved: WADO-RS sent instances (110104, action R).
	AccessRetrieved
	// AccessRead: metadata, frames, bulk data, rendered (110103, action R).
	AccessRead
	// AccessQueried: a QIDO-RS search (110112).
	AccessQueried
	// AccessDeleted: DELETE of a study, series or instance (110105).
	AccessDeleted
)

// StudyAccess is one study a request touched.
type StudyAccess struct {
	StudyUID                     string
	PatientID, IssuerOfPatientID string
	PatientName                  string
	AccessionNumber              string
	// Instances is the number of instances stored or sent, when known.
	Instances int
}

// AccessEvent describes one request to the DICOMweb service.
type AccessEvent struct {
	Kind   AccessKind
	Status int
	// Level is the QIDO level ("study", "series", "instance").
	Level string
	// Query is the request path and query string of a search.
	Query   string
	Studies []StudyAccess
}

// Auditor records access events. Access is called once per request, after
// the handler, before the response is finished for requests that change
// data (so that a crash cannot lose the record of an acknowledged write).
type Auditor interface {
	Access(ctx context.Context, r *http.Request, ev AccessEvent)
}

// PatientFilter returns, for a request, the test of which patients it may
// see, or nil when it may see all.
type PatientFilter func(ctx context.Context) func(patientID, issuer string) bool

// StudyFilter returns, for a request, the test of which studies it may
// see (given the study's patient), or nil when it may see all.
type StudyFilter func(ctx context.Context) func(studyUID, patientID, issuer string) bool

// allowFunc is the request's combined patient and study filter (nil: all).
func (s *Server) allowFunc(ctx context.Context) func(study, id, issuer string) bool {
	var pf func(id, issuer string) bool
	var sf func(study, id, issuer string) bool
	if s.patients != nil {
		pf = s.patients(ctx)
	}
	if s.studies != nil {
		sf = s.studies(ctx)
	}
	switch {
	case pf == nil && sf == nil:
		return nil
	case sf == nil:
		return func(_, id, issuer string) bool { return pf(id, issuer) }
	case pf == nil:
		return sf
	}
	return func(study, id, issuer string) bool { return pf(id, issuer) && sf(study, id, issuer) }
}

// ctxStudies is the echo context key of the studies a handler touched.
const ctxStudies = "minipacs.studies"

// touched records that the request touched study (with n instances).
func touched(c echo.Context, study string, n int) {
	m, _ := c.Get(ctxStudies).(map[string]int)
	if m == nil {
		m = map[string]int{}
		c.Set(ctxStudies, m)
	}
	m[study] += n
}

// accessKind maps a route to its kind of access (0: none).
func accessKind(method, route string) (AccessKind, string) {
	switch {
	case method == http.MethodPost:
		return AccessStored, ""
	case method == http.MethodDelete:
		return AccessDeleted, ""
	case strings.HasSuffix(route, "/studies"):
		return AccessQueried, "study"
	case strings.HasSuffix(route, "/series"):
		return AccessQueried, "series"
	case strings.HasSuffix(route, "/instances"):
		return AccessQueried, "instance"
	case strings.HasSuffix(route, "/:study"), strings.HasSuffix(route, "/:series"), strings.HasSuffix(route, "/:instance"):
		return AccessRetrieved, ""
	}
	return AccessRead, ""
}

// auditMiddleware reports each request to the auditor exactly once: just
// before the response status is sent (so the record of an acknowledged
// write is made before the acknowledgement), or after the handler when it
// sent nothing.
func (s *Server) auditMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return s.audited(accessKind)(next)
}

// AuditAs is the audit middleware for a route outside this package that
// serves patient data of the study in its :study parameter (the ZIP
// download): one AccessEvent of kind per request. It does nothing without
// an Auditor.
func (s *Server) AuditAs(kind AccessKind) echo.MiddlewareFunc {
	if s.audit == nil {
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	return s.audited(func(string, string) (AccessKind, string) { return kind, "" })
}

// audited reports each request, of the kind classify gives its method and
// route, to the auditor (see auditMiddleware).
func (s *Server) audited(classify func(method, route string) (AccessKind, string)) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			kind, level := classify(c.Request().Method, c.Path())
			if kind == 0 {
				return next(c)
			}
			done := false
			report := func(status int) {
				if done {
					return
				}
				done = true
				s.audit.Access(c.Request().Context(), c.Request(), s.accessEvent(c, kind, level, status))
			}
			c.Response().Before(func() { report(c.Response().Status) })
			err := next(c)
			if err != nil {
				status, _ := statusOf(err)
				report(status)
			} else {
				report(http.StatusOK)
			}
			return err
		}
	}
}

// accessEvent builds the event of the request in c.
func (s *Server) accessEvent(c echo.Context, kind AccessKind, level string, status int) AccessEvent {
	ev := AccessEvent{Kind: kind, Status: status, Level: level}
	if kind == AccessQueried {
		ev.Query = c.Request().URL.RequestURI()
	}
	studies, _ := c.Get(ctxStudies).(map[string]int)
	if p := c.Param("study"); p != "" && (len(studies) == 0 || kind == AccessQueried) {
		studies = map[string]int{p: 0}
	}
	uids := make([]string, 0, len(studies))
	for uid := range studies {
		uids = append(uids, uid)
	}
	sort.Strings(uids)
	ctx := c.Request().Context()
	for _, uid := range uids {
		sa := StudyAccess{StudyUID: uid, Instances: studies[uid]}
		s.fillPatient(ctx, &sa)
		ev.Studies = append(ev.Studies, sa)
	}
	return ev
}

// studyAttrs reads a study's patient attributes from the index.
func (s *Server) studyAttrs(ctx context.Context, study string) (sa StudyAccess, found bool, err error) {
	sa.StudyUID = study
	q := index.Query{Level: index.LevelStudy, StudyUID: study, Limit: 1}
	err = s.idx.Search(ctx, q, func(r *index.Result) error {
		found = true
		sa = StudyOf(r)
		sa.StudyUID = study
		return nil
	})
	return sa, found, err
}

// StudyOf reads the patient and accession of a search result's study (the
// audit view of a study, also for the other front doors).
func StudyOf(r *index.Result) StudyAccess {
	var sa StudyAccess
	for _, a := range r.Attrs(index.LevelStudy) {
		if len(a.Values) == 0 {
			continue
		}
		switch a.Tag {
		case 0x0020000D:
			sa.StudyUID = a.Values[0]
		case 0x00100020:
			sa.PatientID = a.Values[0]
		case 0x00100021:
			sa.IssuerOfPatientID = a.Values[0]
		case 0x00100010:
			sa.PatientName = a.Values[0]
		case 0x00080050:
			sa.AccessionNumber = a.Values[0]
		}
	}
	return sa
}

func (s *Server) fillPatient(ctx context.Context, sa *StudyAccess) {
	if got, ok, err := s.studyAttrs(ctx, sa.StudyUID); err == nil && ok {
		got.Instances = sa.Instances
		*sa = got
	}
}

// allowStudy answers 404 when the request may not see the study or its
// patient.
func (s *Server) allowStudy(ctx context.Context, study string) error {
	if study == "" {
		return nil
	}
	allow := s.allowFunc(ctx)
	if allow == nil {
		return nil
	}
	sa, found, err := s.studyAttrs(ctx, study)
	if err != nil {
		return err
	}
	if !found || !allow(study, sa.PatientID, sa.IssuerOfPatientID) {
		return errNotFound
	}
	return nil
}

// restrictMiddleware applies the patient and study restrictions to every
// route that names a study.
func (s *Server) restrictMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if study := c.Param("study"); study != "" && c.Request().Method != http.MethodPost {
			if err := s.allowStudy(c.Request().Context(), study); err != nil {
				return err
			}
		}
		return next(c)
	}
}

// errStopSearch ends a search early.
var errStopSearch = errors.New("enough results")

// restrictResults wraps a search callback so that only results of allowed
// patients reach it, applying limit and offset after the filter (the
// index applies none: see search).
func restrictResults(allow func(study, id, issuer string) bool, limit, offset int, fn func(*index.Result) error) func(*index.Result) error {
	seen := 0
	return func(r *index.Result) error {
		if sa := StudyOf(r); !allow(sa.StudyUID, sa.PatientID, sa.IssuerOfPatientID) {
			return nil
		}
		seen++
		if seen <= offset {
			return nil
		}
		if limit > 0 && seen > offset+limit {
			return errStopSearch
		}
		return fn(r)
	}
}

// RestrictStudy is restrictMiddleware for routes outside this package
// that serve the study in their :study parameter (the ZIP download).
func (s *Server) RestrictStudy(next echo.HandlerFunc) echo.HandlerFunc {
	return s.restrictMiddleware(next)
}
