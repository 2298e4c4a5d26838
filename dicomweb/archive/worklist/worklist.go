package worklist

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/dicomweb/kind"
	"github.com/minipacs/minipacs/index"
)

// Statuses of a scheduled procedure step (PS3.3 C.4.10,
// ScheduledProcedureStepStatus).
const (
	Scheduled    = "SCHEDULED"
	InProgress   = "STARTED"
	Completed    = "COMPLETED"
	Discontinued = "DISCONTINUED"
)

// Order is one scheduled procedure step of an order, with what a modality
// needs to know of the patient and the requested procedure. String values
// are UTF-8; dates DA (YYYYMMDD), times TM (HHMMSS), names PN
// (Family^Given^Middle^Prefix^Suffix).
type Order struct {
	PlacerOrder string `json:"placer_order"` // ORC-2 / OBR-2
	FillerOrder string `json:"filler_order,omitempty"`
	StepID      string `json:"step_id"` // ScheduledProcedureStepID

	AccessionNumber               string `json:"accession,omitempty"`
	RequestedProcedureID          string `json:"requested_procedure_id,omitempty"`
	RequestedProcedureDescription string `json:"requested_procedure,omitempty"`
	StudyInstanceUID              string `json:"study_uid,omitempty"`
	ReferringPhysicianName        string `json:"referring_physician,omitempty"`

	PatientID         string `json:"patient_id"`
	IssuerOfPatientID string `json:"issuer,omitempty"`
	PatientName       string `json:"patient_name,omitempty"`
	PatientBirthDate  string `json:"birth_date,omitempty"`
	PatientSex        string `json:"sex,omitempty"`

	Modality                string `json:"modality,omitempty"`
	StationAETitle          string `json:"station_aet,omitempty"`
	StartDate               string `json:"start_date,omitempty"`
	StartTime               string `json:"start_time,omitempty"`
	PerformingPhysicianName string `json:"performing_physician,omitempty"`
	StepDescription         string `json:"step_description,omitempty"`

	Status  string    `json:"status"`
	Updated time.Time `json:"updated"`
	// Studies are the studies received with the order's accession number
	// (Arrived).
	Studies []string `json:"studies,omitempty"`
}

// Key is the order's record key.
func (o *Order) Key() string { return o.PlacerOrder + "\x00" + o.StepID }

// Errors of Put.
var (
	ErrInvalid  = kind.New(kind.Invalid, "worklist: invalid order")
	ErrNotFound = kind.New(kind.NotFound, "worklist: no such order")
)

// Index is what the worklist needs of the index: its records.
type Index interface {
	PutRecords(ctx context.Context, recs ...index.Record) error
	GetRecord(ctx context.Context, kind index.RecordKind, key string) ([]byte, error)
	ForEachRecord(ctx context.Context, kind index.RecordKind, prefix string, fn func(key string, value []byte) error) error
}

// Service stores and searches the worklist. It is safe for concurrent use
// (the index serialises writes); a read-modify-write of one order (Put
// keeping the Study Instance UID, SetStatus) is not atomic against a
// concurrent write of the same order, which one HL7 connection at a time
// per order never does.
type Service struct {
	idx Index
	now func() time.Time
}

// New returns the worklist over idx.
func New(idx Index) *Service { return &Service{idx: idx, now: time.Now} }

// Get returns one order.
func (s *Service) Get(ctx context.Context, placer, step string) (*Order, error) {
	o := &Order{PlacerOrder: placer, StepID: step}
	v, err := s.idx.GetRecord(ctx, index.RecordOrder, o.Key())
	if errors.Is(err, index.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, placer)
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(v, o); err != nil {
		return nil, fmt.Errorf("worklist: stored order %q: %w", placer, err)
	}
	return o, nil
}

// Put creates or replaces an order, durably, together with extra records
// (the HL7 journal entry of the message that carried it) in one
// transaction. An order without Study Instance UID keeps the one it had,
// or gets a new one; an empty status is Scheduled.
func (s *Service) Put(ctx context.Context, o Order, extra ...index.Record) (*Order, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if o.StudyInstanceUID == "" {
		if old, err := s.Get(ctx, o.PlacerOrder, o.StepID); err == nil && old.StudyInstanceUID != "" {
			o.StudyInstanceUID = old.StudyInstanceUID
		} else {
			o.StudyInstanceUID = newUID()
		}
	}
	if o.Status == "" {
		o.Status = Scheduled
	}
	o.Updated = s.now().UTC()
	v, err := json.Marshal(&o)
	if err != nil {
		return nil, err
	}
	recs := append([]index.Record{{Kind: index.RecordOrder, Key: o.Key(), Value: v}}, extra...)
	if err := s.idx.PutRecords(ctx, recs...); err != nil {
		return nil, fmt.Errorf("worklist: put order: %w", err)
	}
	return &o, nil
}

// SetStatus changes the status of every step of an order (all steps when
// step is ""), with extra records in the same transaction; ErrNotFound
// when the order has no step.
func (s *Service) SetStatus(ctx context.Context, placer, step, status string, extra ...index.Record) error {
	var recs []index.Record
	prefix := placer + "\x00"
	if step != "" {
		prefix += step
	}
	err := s.idx.ForEachRecord(ctx, index.RecordOrder, prefix, func(key string, v []byte) error {
		var o Order
		if err := json.Unmarshal(v, &o); err != nil {
			return fmt.Errorf("worklist: stored order %q: %w", key, err)
		}
		if step != "" && o.StepID != step {
			return nil
		}
		o.Status, o.Updated = status, s.now().UTC()
		b, err := json.Marshal(&o)
		if err != nil {
			return err
		}
		recs = append(recs, index.Record{Kind: index.RecordOrder, Key: key, Value: b})
		return nil
	})
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return fmt.Errorf("%w: %s", ErrNotFound, placer)
	}
	return s.idx.PutRecords(ctx, append(recs, extra...)...)
}

// Arrived links the orders with accession number accession to a study
// that was stored with it, and marks those still scheduled or started as
// completed (the images arrived). It reports how many orders changed.
func (s *Service) Arrived(ctx context.Context, accession, studyUID string) (int, error) {
	if accession == "" || studyUID == "" {
		return 0, nil
	}
	var recs []index.Record
	err := s.idx.ForEachRecord(ctx, index.RecordOrder, "", func(key string, v []byte) error {
		var o Order
		if err := json.Unmarshal(v, &o); err != nil {
			return fmt.Errorf("worklist: stored order %q: %w", key, err)
		}
		if o.AccessionNumber != accession {
			return nil
		}
		changed := false
		if !slices.Contains(o.Studies, studyUID) {
			o.Studies, changed = append(o.Studies, studyUID), true
		}
		if o.Status == Scheduled || o.Status == InProgress {
			o.Status, changed = Completed, true
		}
		if !changed {
			return nil
		}
		o.Updated = s.now().UTC()
		b, err := json.Marshal(&o)
		if err != nil {
			return err
		}
		recs = append(recs, index.Record{Kind: index.RecordOrder, Key: key, Value: b})
		return nil
	})
	if err != nil || len(recs) == 0 {
		return 0, err
	}
	return len(recs), s.idx.PutRecords(ctx, recs...)
}

// check validates an order before it is stored.
func (o *Order) check() error {
	switch {
	case o.PlacerOrder == "":
		return fmt.Errorf("%w: no placer order number", ErrInvalid)
	case o.StepID == "":
		return fmt.Errorf("%w: no scheduled procedure step ID", ErrInvalid)
	case o.PatientID == "":
		return fmt.Errorf("%w: no patient ID", ErrInvalid)
	case strings.ContainsRune(o.PlacerOrder, 0) || strings.ContainsRune(o.StepID, 0):
		return fmt.Errorf("%w: NUL in an order key", ErrInvalid)
	case o.StudyInstanceUID != "" && !part10.ValidUID(o.StudyInstanceUID):
		return fmt.Errorf("%w: invalid Study Instance UID", ErrInvalid)
	case o.StartDate != "" && !validDA(o.StartDate):
		return fmt.Errorf("%w: invalid start date", ErrInvalid)
	}
	return nil
}

// validDA reports whether s is a DA value YYYYMMDD.
func validDA(s string) bool {
	_, err := time.Parse("20060102", s)
	return err == nil
}

// newUID returns a UID under 2.25 from 128 random bits (PS3.5 B.2).
func newUID() string {
	var b [16]byte
	rand.Read(b[:])
	return "2.25." + new(big.Int).SetBytes(b[:]).String()
}
