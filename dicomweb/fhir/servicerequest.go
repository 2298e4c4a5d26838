package fhir

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/minipacs/minipacs/dicomweb/archive/worklist"
)

// ServiceRequest is a FHIR R4 ServiceRequest.
type ServiceRequest struct {
	ResourceType       string           `json:"resourceType"`
	ID                 string           `json:"id"`
	Meta               *Meta            `json:"meta,omitempty"`
	Identifier         []Identifier     `json:"identifier,omitempty"`
	Status             string           `json:"status"`
	Intent             string           `json:"intent"`
	Code               *CodeableConcept `json:"code,omitempty"`
	Subject            Reference        `json:"subject"`
	OccurrenceDateTime string           `json:"occurrenceDateTime,omitempty"`
	Requester          *Reference       `json:"requester,omitempty"`
}

// ServiceRequestID is the FHIR id of the order with that placer order
// number and scheduled procedure step ID (its worklist key, placer NUL
// step, in the form of PatientLogicalID: base64 with the FHIR id alphabet
// when at most 48 bytes, else "h" and 40 hex digits of its SHA-256).
func ServiceRequestID(placer, step string) string { return keyID(placer + "\x00" + step) }

// systemRequestStatus is the code system of ServiceRequest.status.
const systemRequestStatus = "http://hl7.org/fhir/request-status"

// requestStatuses are the codes of ServiceRequest.status.
var requestStatuses = map[string]bool{"draft": true, "active": true, "on-hold": true, "revoked": true,
	"completed": true, "entered-in-error": true, "unknown": true}

// allOrderStatuses are the worklist statuses, for a Find of every order.
var allOrderStatuses = []string{worklist.Scheduled, worklist.InProgress, worklist.Completed, worklist.Discontinued}

// requestStatus maps a scheduled procedure step status.
func requestStatus(s string) string {
	switch s {
	case worklist.Scheduled, worklist.InProgress:
		return "active"
	case worklist.Completed:
		return "completed"
	case worklist.Discontinued:
		return "revoked"
	}
	return "unknown"
}

// serviceRequestOf is the ServiceRequest of an order.
func serviceRequestOf(o *worklist.Order, loc *time.Location) *ServiceRequest {
	sr := &ServiceRequest{
		ResourceType: "ServiceRequest", ID: ServiceRequestID(o.PlacerOrder, o.StepID), Meta: metaOf(o.Updated),
		Status: requestStatus(o.Status), Intent: "order",
		Subject:            *subjectOf(PatientKey{ID: o.PatientID, Issuer: o.IssuerOfPatientID}, o.PatientName),
		OccurrenceDateTime: fhirDateTime(o.StartDate, o.StartTime, "", loc),
	}
	for _, id := range []struct{ code, display, value string }{
		{"PLAC", "Placer Identifier", o.PlacerOrder},
		{"FILL", "Filler Identifier", o.FillerOrder},
		{"ACSN", "Accession ID", o.AccessionNumber},
	} {
		if id.value != "" {
			sr.Identifier = append(sr.Identifier, typedIdentifier(id.code, id.display, id.value))
		}
	}
	text := strings.TrimSpace(o.RequestedProcedureDescription)
	if text == "" {
		text = strings.TrimSpace(o.StepDescription)
	}
	if text != "" {
		sr.Code = &CodeableConcept{Text: text}
	}
	if d := personDisplay(o.ReferringPhysicianName); d != "" {
		sr.Requester = &Reference{Display: d}
	}
	return sr
}

func orderAccess(o *worklist.Order) StudyAccess {
	return StudyAccess{StudyUID: o.StudyInstanceUID, PatientID: o.PatientID, IssuerOfPatientID: o.IssuerOfPatientID,
		PatientName: o.PatientName, AccessionNumber: o.AccessionNumber}
}

// readOrder finds the order with a ServiceRequest id: by its key, or, for
// the hashed form, by a scan of the orders.
func (h *hl7Records) readOrder(ctx context.Context, id string) (*worklist.Order, error) {
	raw, hashed, ok := parseKeyID(id)
	if !ok {
		return nil, errNotFound
	}
	if !hashed {
		placer, step, found := strings.Cut(raw, "\x00")
		if !found || strings.Contains(step, "\x00") {
			return nil, errNotFound
		}
		o, err := h.orders.Get(ctx, placer, step)
		return o, notFound(err)
	}
	var found *worklist.Order
	err := h.orders.Find(ctx, worklist.Filter{Statuses: allOrderStatuses}, func(o *worklist.Order) error {
		if ServiceRequestID(o.PlacerOrder, o.StepID) == id {
			found = o
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	if found == nil {
		return nil, errNotFound
	}
	return found, nil
}

// searchOrders walks every order (in key order) and gives those that the
// parameters and allow select.
func (h *hl7Records) searchOrders(ctx context.Context, p recordParams, allow func(string, string) bool, fn func(string, json.RawMessage) error) error {
	statuses, err := statusCodes(p.statuses, systemRequestStatus, requestStatuses)
	if err != nil {
		return err
	}
	return h.orders.Find(ctx, worklist.Filter{Statuses: allOrderStatuses}, func(o *worklist.Order) error {
		id := ServiceRequestID(o.PlacerOrder, o.StepID)
		patient := PatientLogicalID(PatientKey{ID: o.PatientID, Issuer: o.IssuerOfPatientID})
		status := requestStatus(o.Status)
		if !allowed(allow, o.PatientID, o.IssuerOfPatientID) ||
			!everyOcc(p.ids, func(v string) bool { return v == id }) ||
			!everyOcc(p.patients, func(v string) bool { return v == patient }) ||
			!everyOcc(statuses, func(v string) bool { return v == status }) ||
			!everyOcc(p.identifiers, func(v string) bool {
				code, ok := plainToken(v)
				return ok && (code == o.PlacerOrder || code == o.FillerOrder || code == o.AccessionNumber)
			}) {
			return nil
		}
		return emit(ctx, fn, id, serviceRequestOf(o, h.loc), orderAccess(o))
	})
}
