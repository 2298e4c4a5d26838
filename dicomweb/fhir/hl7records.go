package fhir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/minipacs/minipacs/dicomweb/archive/report"
	"github.com/minipacs/minipacs/dicomweb/archive/worklist"
	"github.com/minipacs/minipacs/dicomweb/kind"
)

// Orders is what NewRecords needs of the worklist (worklist.Service).
type Orders interface {
	Get(ctx context.Context, placer, step string) (*worklist.Order, error)
	Find(ctx context.Context, f worklist.Filter, fn func(*worklist.Order) error) error
}

// Reports is what NewRecords needs of the reports (report.Service).
type Reports interface {
	Get(ctx context.Context, id string) (*report.Report, error)
	Find(ctx context.Context, studyUID, accession, patientID string, fn func(*report.Report) error) error
}

// NewRecords returns the Records of the HL7-sourced records of the
// archive: ServiceRequest from the worklist orders, DiagnosticReport from
// the reports (a nil interface leaves its type out). loc is the zone of
// order start times (nil: occurrenceDateTime is then only a date), as
// Config.Location is for studies.
func NewRecords(orders Orders, reports Reports, loc *time.Location) Records {
	return &hl7Records{orders: orders, reports: reports, loc: loc}
}

// hl7Records serves ServiceRequest and DiagnosticReport.
type hl7Records struct {
	orders  Orders
	reports Reports
	loc     *time.Location
}

// recordSearchParams are the search parameters of both types.
var recordSearchParams = map[string]string{"_id": "token", "identifier": "token", "patient": "reference", "status": "token"}

// Types implements Records.
func (h *hl7Records) Types() map[string]map[string]string {
	types := map[string]map[string]string{}
	if h.orders != nil {
		types["ServiceRequest"] = recordSearchParams
	}
	if h.reports != nil {
		types["DiagnosticReport"] = recordSearchParams
	}
	return types
}

// Read implements Records.
func (h *hl7Records) Read(ctx context.Context, typ, id string, allow func(patientID, issuer string) bool) (json.RawMessage, error) {
	var res any
	switch {
	case typ == "ServiceRequest" && h.orders != nil:
		o, err := h.readOrder(ctx, id)
		if err != nil {
			return nil, err
		}
		if !allowed(allow, o.PatientID, o.IssuerOfPatientID) {
			return nil, errNotFound
		}
		noteAccess(ctx, orderAccess(o))
		res = serviceRequestOf(o, h.loc)
	case typ == "DiagnosticReport" && h.reports != nil:
		r, err := h.readReport(ctx, id)
		if err != nil {
			return nil, err
		}
		if !allowed(allow, r.PatientID, r.IssuerOfPatientID) {
			return nil, errNotFound
		}
		noteAccess(ctx, reportAccess(r))
		res = diagnosticReportOf(r)
	default:
		return nil, errNotFound
	}
	return json.Marshal(res)
}

// Search implements Records.
func (h *hl7Records) Search(ctx context.Context, typ string, params url.Values, allow func(patientID, issuer string) bool, fn func(id string, resource json.RawMessage) error) error {
	p, err := parseRecordParams(params)
	if err != nil {
		return err
	}
	switch {
	case typ == "ServiceRequest" && h.orders != nil:
		return h.searchOrders(ctx, p, allow, fn)
	case typ == "DiagnosticReport" && h.reports != nil:
		return h.searchReports(ctx, p, allow, fn)
	}
	return errNotFound
}

func allowed(allow func(patientID, issuer string) bool, id, issuer string) bool {
	return allow == nil || allow(id, issuer)
}

// recordParams are the parsed search parameters of a record search: for
// each parameter, one list per occurrence (ANDed) of values (ORed).
// Patient references are reduced to the Patient logical id.
type recordParams struct {
	ids, identifiers, patients, statuses [][]string
}

// parseRecordParams reads the search parameters (the facade has taken
// out the result parameters and the unknown ones, which it warns of).
func parseRecordParams(params url.Values) (recordParams, error) {
	var p recordParams
	for _, name := range sortedKeys(params) {
		base, _, hasModifier := strings.Cut(name, ":")
		var dst *[][]string
		switch base {
		case "_id":
			dst = &p.ids
		case "identifier":
			dst = &p.identifiers
		case "patient":
			dst = &p.patients
		case "status":
			dst = &p.statuses
		default:
			continue
		}
		if hasModifier {
			return p, &paramError{"not-supported", base + ": modifiers are not supported"}
		}
		for _, v := range params[name] {
			if v == "" {
				continue // FHIR: an empty parameter value is ignored
			}
			or := splitOr(v)
			if base == "patient" {
				for i, ref := range or {
					id, err := patientRef(base, ref)
					if err != nil {
						return p, err
					}
					or[i] = id
				}
			}
			*dst = append(*dst, or)
		}
	}
	return p, nil
}

// statusCodes checks the status values against the codes of the type's
// value set (system, when given, the value set's code system) and
// returns the codes.
func statusCodes(values [][]string, system string, codes map[string]bool) ([][]string, error) {
	out := make([][]string, len(values))
	for i, or := range values {
		for _, v := range or {
			sys, hasSystem, code := token(v)
			if hasSystem && sys != system {
				return nil, invalid("status", "unknown system")
			}
			if !codes[code] {
				return nil, invalid("status", "not a status code")
			}
			out[i] = append(out[i], code)
		}
	}
	return out, nil
}

// everyOcc reports whether, for every occurrence, one of its values
// passes test.
func everyOcc(values [][]string, test func(v string) bool) bool {
	for _, or := range values {
		ok := false
		for _, v := range or {
			if test(v) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// plainToken reads a token for an identifier without a system: its code,
// or ok false when it names a system (no identifier of ours has one).
func plainToken(v string) (code string, ok bool) {
	system, _, code := token(v)
	return code, system == "" && code != ""
}

// notFound maps the NotFound errors of the services to errNotFound.
func notFound(err error) error {
	if errors.Is(err, kind.NotFound) {
		return errNotFound
	}
	return err
}

// fhirInstant formats a time as a FHIR instant (or dateTime): "" when zero.
func fhirInstant(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}

// Meta is a FHIR Meta (lastUpdated only).
type Meta struct {
	LastUpdated string `json:"lastUpdated,omitempty"`
}

func metaOf(t time.Time) *Meta {
	if t.IsZero() {
		return nil
	}
	return &Meta{LastUpdated: fhirInstant(t.UTC())}
}

// subjectOf is the Patient reference of a patient key, with the name as
// display.
func subjectOf(k PatientKey, name string) *Reference {
	ref := &Reference{Reference: "Patient/" + PatientLogicalID(k)}
	if n := humanName(name); n != nil {
		ref.Display = n.Text
	}
	return ref
}

// personDisplay is the display of a PN value: the name as written, or the
// value itself when it has no name parts.
func personDisplay(pn string) string {
	if n := humanName(pn); n != nil {
		return n.Text
	}
	return strings.TrimSpace(pn)
}

// typedIdentifier is an identifier without system of a v2-0203 type.
func typedIdentifier(code, display, value string) Identifier {
	return Identifier{Use: "usual", Value: value,
		Type: &CodeableConcept{Coding: []Coding{{System: systemV2_0203, Code: code, Display: display}}}}
}

// accessKey is the context key of the accessLog of a request.
type accessKey struct{}

// accessLog collects what a Records call touched, for the audit trail:
// pending is what the resource being handed over (Read's, or the one of
// Search's current fn call) touched.
type accessLog struct{ pending []StudyAccess }

func withAccessLog(ctx context.Context) (context.Context, *accessLog) {
	l := &accessLog{}
	return context.WithValue(ctx, accessKey{}, l), l
}

// take returns and clears the pending accesses.
func (l *accessLog) take() []StudyAccess {
	p := l.pending
	l.pending = nil
	return p
}

// noteAccess records that the resource being built touched a.
func noteAccess(ctx context.Context, a StudyAccess) {
	if l, ok := ctx.Value(accessKey{}).(*accessLog); ok {
		l.pending = append(l.pending, a)
	}
}

// emit marshals a resource for fn, noting its access first.
func emit(ctx context.Context, fn func(string, json.RawMessage) error, id string, res any, a StudyAccess) error {
	b, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("fhir: %w", err)
	}
	noteAccess(ctx, a)
	return fn(id, b)
}
