package fhir

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/minipacs/minipacs/dicomweb/archive/report"
	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
)

// DiagnosticReport is a FHIR R4 DiagnosticReport.
type DiagnosticReport struct {
	ResourceType       string            `json:"resourceType"`
	ID                 string            `json:"id"`
	Meta               *Meta             `json:"meta,omitempty"`
	Identifier         []Identifier      `json:"identifier,omitempty"`
	Status             string            `json:"status"`
	Category           []CodeableConcept `json:"category,omitempty"`
	Code               CodeableConcept   `json:"code"`
	Subject            *Reference        `json:"subject,omitempty"`
	EffectiveDateTime  string            `json:"effectiveDateTime,omitempty"`
	Issued             string            `json:"issued,omitempty"`
	ResultsInterpreter []Reference       `json:"resultsInterpreter,omitempty"`
	ImagingStudy       []Reference       `json:"imagingStudy,omitempty"`
	PresentedForm      []Attachment      `json:"presentedForm,omitempty"`
}

// Attachment is a FHIR Attachment with inline data.
type Attachment struct {
	ContentType string `json:"contentType,omitempty"`
	Data        string `json:"data,omitempty"`
	Size        int    `json:"size,omitempty"`
	Title       string `json:"title,omitempty"`
}

// DiagnosticReportID is the FHIR id of the report with that ID (the
// filler or placer order number), in the form of PatientLogicalID.
func DiagnosticReportID(reportID string) string { return keyID(reportID) }

// Code systems of DiagnosticReport.
const (
	systemReportStatus = "http://hl7.org/fhir/diagnostic-report-status"
	systemLOINC        = "http://loinc.org"
	systemV2_0074      = "http://terminology.hl7.org/CodeSystem/v2-0074"
)

// reportStatuses are the codes of DiagnosticReport.status.
var reportStatuses = map[string]bool{"registered": true, "partial": true, "preliminary": true, "final": true,
	"amended": true, "corrected": true, "appended": true, "cancelled": true, "entered-in-error": true, "unknown": true}

// reportStatus is the FHIR status of a report (the report statuses are
// FHIR codes already).
func reportStatus(s string) string {
	if reportStatuses[s] {
		return s
	}
	return "unknown"
}

// diagnosticReportOf is the DiagnosticReport of a report.
func diagnosticReportOf(r *report.Report) *DiagnosticReport {
	title := strings.TrimSpace(r.Title)
	if title == "" {
		title = strings.TrimSpace(r.Code)
	}
	if title == "" {
		title = "Diagnostic imaging study"
	}
	dr := &DiagnosticReport{
		ResourceType: "DiagnosticReport", ID: DiagnosticReportID(r.ID), Meta: metaOf(r.Updated),
		Identifier: []Identifier{{Use: "usual", Value: r.ID, Type: &CodeableConcept{Text: "Filler or placer order number"}}},
		Status:     reportStatus(r.Status),
		Category:   []CodeableConcept{{Coding: []Coding{{System: systemV2_0074, Code: "RAD", Display: "Radiology"}}}},
		// The universal service ID of the report is of no known code
		// system: the text, with the LOINC code of any imaging report.
		Code: CodeableConcept{Coding: []Coding{{System: systemLOINC, Code: "18748-4", Display: "Diagnostic imaging study"}},
			Text: title},
		EffectiveDateTime: fhirInstant(r.Observed),
		Issued:            fhirInstant(r.Issued),
	}
	if r.AccessionNumber != "" {
		dr.Identifier = append(dr.Identifier, typedIdentifier("ACSN", "Accession ID", r.AccessionNumber))
	}
	if r.PatientID != "" {
		dr.Subject = subjectOf(PatientKey{ID: r.PatientID, Issuer: r.IssuerOfPatientID}, r.PatientName)
	}
	if d := personDisplay(r.Author); d != "" {
		dr.ResultsInterpreter = []Reference{{Display: d}}
	}
	if part10.ValidUID(r.StudyInstanceUID) {
		dr.ImagingStudy = []Reference{{Reference: "ImagingStudy/" + ImagingStudyID(r.StudyInstanceUID)}}
	}
	if r.Text != "" {
		dr.PresentedForm = []Attachment{{ContentType: "text/plain; charset=utf-8",
			Data: base64.StdEncoding.EncodeToString([]byte(r.Text)), Size: len(r.Text), Title: title}}
	}
	return dr
}

func reportAccess(r *report.Report) StudyAccess {
	return StudyAccess{StudyUID: r.StudyInstanceUID, PatientID: r.PatientID, IssuerOfPatientID: r.IssuerOfPatientID,
		PatientName: r.PatientName, AccessionNumber: r.AccessionNumber}
}

// readReport finds the report with a DiagnosticReport id. A hashed id
// (a report ID over 48 bytes) is not found: report.Service cannot list
// every report; searches by patient or accession still give it.
func (h *hl7Records) readReport(ctx context.Context, id string) (*report.Report, error) {
	raw, hashed, ok := parseKeyID(id)
	if !ok || hashed {
		return nil, errNotFound
	}
	r, err := h.reports.Get(ctx, raw)
	return r, notFound(err)
}

// searchReports gives the reports that the parameters and allow select.
// The reports are found through the first of _id (report.Get),
// identifier (report.Get of the value, then report.Find by accession
// number) and patient (report.Find by Patient ID), one value after the
// other; every parameter then tests each. Without any of the three, the
// search is refused (too-costly): the reports cannot be listed.
func (h *hl7Records) searchReports(ctx context.Context, p recordParams, allow func(string, string) bool, fn func(string, json.RawMessage) error) error {
	statuses, err := statusCodes(p.statuses, systemReportStatus, reportStatuses)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	give := func(r *report.Report) error {
		if seen[r.ID] {
			return nil
		}
		seen[r.ID] = true
		id := DiagnosticReportID(r.ID)
		patient := PatientLogicalID(PatientKey{ID: r.PatientID, Issuer: r.IssuerOfPatientID})
		status := reportStatus(r.Status)
		if !allowed(allow, r.PatientID, r.IssuerOfPatientID) ||
			!everyOcc(p.ids, func(v string) bool { return v == id }) ||
			!everyOcc(p.patients, func(v string) bool { return r.PatientID != "" && v == patient }) ||
			!everyOcc(statuses, func(v string) bool { return v == status }) ||
			!everyOcc(p.identifiers, func(v string) bool {
				code, ok := plainToken(v)
				return ok && (code == r.ID || code == r.AccessionNumber)
			}) {
			return nil
		}
		return emit(ctx, fn, id, diagnosticReportOf(r), reportAccess(r))
	}
	get := func(key string) error {
		r, err := h.reports.Get(ctx, key)
		if err != nil {
			return notFoundOK(err)
		}
		return give(r)
	}
	switch {
	case len(p.ids) > 0:
		for _, v := range p.ids[0] {
			if raw, hashed, ok := parseKeyID(v); ok && !hashed {
				if err := get(raw); err != nil {
					return err
				}
			}
		}
	case len(p.identifiers) > 0:
		for _, v := range p.identifiers[0] {
			code, ok := plainToken(v)
			if !ok {
				continue
			}
			if err := get(code); err != nil {
				return err
			}
			if err := h.reports.Find(ctx, "", code, "", give); err != nil {
				return err
			}
		}
	case len(p.patients) > 0:
		for _, v := range p.patients[0] {
			if k, hashed, ok := parsePatientID(v); ok && !hashed && k.ID != "" {
				if err := h.reports.Find(ctx, "", "", k.ID, give); err != nil {
					return err
				}
			}
		}
	default:
		return &paramError{"too-costly", "a DiagnosticReport search needs _id, identifier or patient"}
	}
	return nil
}

// notFoundOK is nil for a NotFound error, else err.
func notFoundOK(err error) error {
	if notFound(err) == errNotFound {
		return nil
	}
	return err
}
