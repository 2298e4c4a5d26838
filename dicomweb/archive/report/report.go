// Package report keeps the diagnostic reports a RIS sends (HL7 v2 ORU^R01,
// applied by the HL7 front door) as index records (index.RecordReport),
// linked to their study by Study Instance UID or accession number, for the
// study browser and the FHIR DiagnosticReport resource. It knows nothing
// of HL7 or FHIR.
//
// A report is keyed by its filler order number (or placer order number)
// and, for amendments, replaced under the same key: the record holds the
// latest version and its status (preliminary, final, corrected,
// cancelled).
//
// # Imports
//
// Package report is an archive service: it may import index and
// dicomweb/kind; never a front door.
package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/minipacs/minipacs/dicomweb/kind"
	"github.com/minipacs/minipacs/index"
)

// Report statuses (HL7 v2 OBR-25 result status, FHIR DiagnosticReport
// status).
const (
	Preliminary = "preliminary"
	Final       = "final"
	Corrected   = "corrected"
	Cancelled   = "cancelled"
)

// Report is one diagnostic report.
type Report struct {
	ID                string    `json:"id"` // filler (or placer) order number
	AccessionNumber   string    `json:"accession,omitempty"`
	StudyInstanceUID  string    `json:"study_uid,omitempty"`
	PatientID         string    `json:"patient_id,omitempty"`
	IssuerOfPatientID string    `json:"issuer,omitempty"`
	PatientName       string    `json:"patient_name,omitempty"`
	Code              string    `json:"code,omitempty"` // universal service ID (OBR-4)
	Title             string    `json:"title,omitempty"`
	Status            string    `json:"status"`
	Text              string    `json:"text"` // the report's text, lines joined by "\n"
	Observed          time.Time `json:"observed,omitzero"`
	Issued            time.Time `json:"issued,omitzero"`
	Author            string    `json:"author,omitempty"` // principal result interpreter (PN)
	Updated           time.Time `json:"updated"`
}

// Errors.
var (
	ErrInvalid  = kind.New(kind.Invalid, "report: invalid report")
	ErrNotFound = kind.New(kind.NotFound, "report: no such report")
)

// maxText bounds a report's text.
const maxText = 1 << 20

// Index is what the service needs of the index: its records.
type Index interface {
	PutRecords(ctx context.Context, recs ...index.Record) error
	GetRecord(ctx context.Context, kind index.RecordKind, key string) ([]byte, error)
	ForEachRecord(ctx context.Context, kind index.RecordKind, prefix string, fn func(key string, value []byte) error) error
}

// Service stores and reads reports.
type Service struct {
	idx Index
	now func() time.Time
}

// New returns the report service over idx.
func New(idx Index) *Service { return &Service{idx: idx, now: time.Now} }

// Put stores r (replacing an earlier version with its ID) durably,
// together with extra records in one transaction.
func (s *Service) Put(ctx context.Context, r Report, extra ...index.Record) error {
	switch {
	case r.ID == "" || strings.ContainsRune(r.ID, 0):
		return fmt.Errorf("%w: no report ID", ErrInvalid)
	case r.AccessionNumber == "" && r.StudyInstanceUID == "":
		return fmt.Errorf("%w: neither accession number nor Study Instance UID", ErrInvalid)
	case len(r.Text) > maxText:
		return fmt.Errorf("%w: text of %d bytes", ErrInvalid, len(r.Text))
	}
	if r.Status == "" {
		r.Status = Final
	}
	r.Updated = s.now().UTC()
	v, err := json.Marshal(&r)
	if err != nil {
		return err
	}
	return s.idx.PutRecords(ctx, append([]index.Record{{Kind: index.RecordReport, Key: r.ID, Value: v}}, extra...)...)
}

// Get returns the report with that ID.
func (s *Service) Get(ctx context.Context, id string) (*Report, error) {
	v, err := s.idx.GetRecord(ctx, index.RecordReport, id)
	if errors.Is(err, index.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("report: stored report %q: %w", id, err)
	}
	return &r, nil
}

// Find calls fn for every report of a study: those naming its Study
// Instance UID or its accession number (either may be "" to not match on
// it), and, when patientID is not "", every report of that patient.
func (s *Service) Find(ctx context.Context, studyUID, accession, patientID string, fn func(*Report) error) error {
	return s.idx.ForEachRecord(ctx, index.RecordReport, "", func(key string, v []byte) error {
		var r Report
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("report: stored report %q: %w", key, err)
		}
		if (studyUID != "" && r.StudyInstanceUID == studyUID) || (accession != "" && r.AccessionNumber == accession) ||
			(patientID != "" && r.PatientID == patientID) {
			return fn(&r)
		}
		return nil
	})
}
