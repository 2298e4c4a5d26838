// Package patient keeps what the hospital's record says of each patient
// (HL7 v2 ADT, applied by the HL7 front door): demographics, merges and
// changes of identifier, as index records (index.RecordPatient) beside the
// index's study records, which it updates so that searches (QIDO-RS,
// C-FIND, FHIR) answer the current values. Stored objects are never
// rewritten: the values they hold stay recoverable from them, and each
// record keeps the history of the values it replaced.
//
// A merge (A40) moves the studies of the merged identifier to the
// surviving one and marks the merged record; later messages naming the
// merged identifier are refused (ErrMerged), and Resolve gives ingest the
// surviving identifier for images that still carry the old one. A change
// of identifier (A47) is the same move to an identifier that may be new.
//
// # Imports
//
// Package patient is an archive service: it may import index,
// dicomweb/kind and dicomweb/dicom; never a front door.
package patient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/minipacs/minipacs/dicomweb/dicom/jsonstr"
	"github.com/minipacs/minipacs/dicomweb/kind"
	"github.com/minipacs/minipacs/index"
)

// Key identifies a patient: Patient ID and Issuer of Patient ID.
type Key struct {
	ID     string `json:"id"`
	Issuer string `json:"issuer,omitempty"`
}

func (k Key) record() string { return k.ID + "\x00" + k.Issuer }

// Demographics are a patient's values as the record gives them (UTF-8;
// Name a DICOM PN, BirthDate DA, Sex M/F/O). An empty field is unknown
// (left as the images say).
type Demographics struct {
	Name      string `json:"name,omitempty"`
	BirthDate string `json:"birth_date,omitempty"`
	Sex       string `json:"sex,omitempty"`
}

// Change is an earlier state of a record, kept when a message changed it.
type Change struct {
	At    time.Time    `json:"at"`
	Event string       `json:"event"` // e.g. "ADT^A08 MSG123"
	Was   Demographics `json:"was"`
	WasID *Key         `json:"was_id,omitempty"` // for a change of identifier
}

// Record is the stored patient record.
type Record struct {
	Key
	Demographics
	// MergedInto is set once the record was merged into another (A40) or
	// its identifier changed (A47).
	MergedInto *Key      `json:"merged_into,omitempty"`
	History    []Change  `json:"history,omitempty"`
	Updated    time.Time `json:"updated"`
}

// Errors.
var (
	ErrInvalid = kind.New(kind.Invalid, "patient: invalid patient")
	// ErrMerged: the identifier was merged into another record; messages
	// must name the surviving one.
	ErrMerged = kind.New(kind.Conflict, "patient: identifier merged into another patient")
)

// maxHistory bounds the changes kept per record.
const maxHistory = 100

// Index is what the service needs of the index.
type Index interface {
	PutRecords(ctx context.Context, recs ...index.Record) error
	GetRecord(ctx context.Context, kind index.RecordKind, key string) ([]byte, error)
	UpdatePatient(ctx context.Context, u index.PatientUpdate) ([]string, error)
}

// Service applies patient messages. Writes of one patient are expected
// from one HL7 connection at a time; the service does not lock.
type Service struct {
	idx Index
	now func() time.Time
}

// New returns the patient service over idx.
func New(idx Index) *Service { return &Service{idx: idx, now: time.Now} }

// Get returns the record of k (index.ErrNotFound when none).
func (s *Service) Get(ctx context.Context, k Key) (*Record, error) {
	v, err := s.idx.GetRecord(ctx, index.RecordPatient, k.record())
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("patient: stored record: %w", err)
	}
	return &r, nil
}

// Resolve follows merges from k to the surviving identifier (k itself
// when it was never merged).
func (s *Service) Resolve(ctx context.Context, k Key) (Key, error) {
	k, _, err := s.resolve(ctx, k)
	return k, err
}

// resolve is Resolve with the surviving record (nil when it has none).
func (s *Service) resolve(ctx context.Context, k Key) (Key, *Record, error) {
	for range 16 {
		r, err := s.Get(ctx, k)
		if errors.Is(err, index.ErrNotFound) {
			return k, nil, nil
		}
		if err != nil {
			return k, nil, err
		}
		if r.MergedInto == nil {
			return k, r, nil
		}
		k = *r.MergedInto
	}
	return k, nil, fmt.Errorf("patient: merge chain too long at %q", k.ID)
}

// Update records the demographics of k (A01, A04, A05, A08, A28, A31) and
// gives them to the index's studies of k. Refused with ErrMerged for a
// merged identifier. Applying the same update again changes nothing.
func (s *Service) Update(ctx context.Context, k Key, d Demographics, event string) error {
	if err := check(k, d); err != nil {
		return err
	}
	r, err := s.Get(ctx, k)
	switch {
	case errors.Is(err, index.ErrNotFound):
		r = &Record{Key: k}
	case err != nil:
		return err
	case r.MergedInto != nil:
		return fmt.Errorf("%w (%s)", ErrMerged, event)
	}
	if _, err := s.idx.UpdatePatient(ctx, index.PatientUpdate{PatientID: k.ID, IssuerOfPatientID: k.Issuer, Attrs: Attrs(d)}); err != nil {
		return fmt.Errorf("patient: update studies: %w", err)
	}
	if r.Demographics == merge(r.Demographics, d) && !r.Updated.IsZero() {
		return nil // the same message again
	}
	r.remember(s.now(), event, nil)
	r.Demographics = merge(r.Demographics, d)
	return s.put(ctx, r)
}

// Merge moves the studies of merged to survivor (A40; with a survivor
// that has no record yet, a change of identifier, A47), gives them the
// survivor's demographics d, and marks merged. Merging again is a success
// with no effect; merging a record merged elsewhere is ErrMerged.
func (s *Service) Merge(ctx context.Context, survivor Key, d Demographics, merged Key, event string) error {
	if err := check(survivor, d); err != nil {
		return err
	}
	if err := check(merged, Demographics{}); err != nil {
		return err
	}
	if survivor == merged {
		return fmt.Errorf("%w: merge of a patient into itself", ErrInvalid)
	}
	old, err := s.Get(ctx, merged)
	switch {
	case errors.Is(err, index.ErrNotFound):
		old = &Record{Key: merged}
	case err != nil:
		return err
	case old.MergedInto != nil && *old.MergedInto == survivor:
		// Done before: the studies moved then; any that arrived since
		// were filed under the survivor by Resolve.
		return nil
	case old.MergedInto != nil:
		return fmt.Errorf("%w (%s)", ErrMerged, event)
	}
	sur, err := s.Get(ctx, survivor)
	switch {
	case errors.Is(err, index.ErrNotFound):
		sur = &Record{Key: survivor}
	case err != nil:
		return err
	case sur.MergedInto != nil:
		return fmt.Errorf("%w: the surviving identifier (%s)", ErrMerged, event)
	}
	sur.Demographics = merge(sur.Demographics, d)
	attrs := Attrs(sur.Demographics)
	_, err = s.idx.UpdatePatient(ctx, index.PatientUpdate{
		PatientID: merged.ID, IssuerOfPatientID: merged.Issuer, Attrs: attrs,
		NewPatientID: survivor.ID, NewIssuer: survivor.Issuer, IDAttrs: idAttrs(survivor),
	})
	if err != nil {
		return fmt.Errorf("patient: move studies: %w", err)
	}
	// The studies already under the survivor take its demographics too.
	if _, err := s.idx.UpdatePatient(ctx, index.PatientUpdate{PatientID: survivor.ID, IssuerOfPatientID: survivor.Issuer, Attrs: attrs}); err != nil {
		return fmt.Errorf("patient: update studies: %w", err)
	}
	now := s.now()
	old.remember(now, event, nil)
	old.MergedInto = &survivor
	old.Updated = now.UTC()
	sur.remember(now, event, &merged)
	sur.Updated = now.UTC()
	return s.put(ctx, old, sur)
}

// Current is the record's view of a patient for ingest
// (ingest.Patients): the identifier its studies are under (after merges)
// and the attributes to index, those of the surviving record's known
// demographics plus, when merged, the surviving identifier's.
func (s *Service) Current(ctx context.Context, id, issuer string) (string, string, []index.Attr, error) {
	k := Key{ID: id, Issuer: issuer}
	if id == "" {
		return id, issuer, nil, nil
	}
	// One record read per instance ingested (two after a merge).
	to, r, err := s.resolve(ctx, k)
	if err != nil {
		return id, issuer, nil, err
	}
	var attrs []index.Attr
	if r != nil {
		attrs = Attrs(r.Demographics)
	}
	if to != k {
		attrs = append(attrs, idAttrs(to)...)
	}
	return to.ID, to.Issuer, attrs, nil
}

// remember appends the record's current state to its history.
func (r *Record) remember(at time.Time, event string, wasID *Key) {
	if r.Updated.IsZero() && wasID == nil {
		return // a new record has no earlier state
	}
	r.History = append(r.History, Change{At: at.UTC(), Event: event, Was: r.Demographics, WasID: wasID})
	if len(r.History) > maxHistory {
		r.History = r.History[len(r.History)-maxHistory:]
	}
}

func (s *Service) put(ctx context.Context, rs ...*Record) error {
	var recs []index.Record
	for _, r := range rs {
		if r.Updated.IsZero() {
			r.Updated = s.now().UTC()
		}
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		recs = append(recs, index.Record{Kind: index.RecordPatient, Key: r.record(), Value: v})
	}
	return s.idx.PutRecords(ctx, recs...)
}

// merge is old with the known values of d.
func merge(old, d Demographics) Demographics {
	if d.Name != "" {
		old.Name = d.Name
	}
	if d.BirthDate != "" {
		old.BirthDate = d.BirthDate
	}
	if d.Sex != "" {
		old.Sex = d.Sex
	}
	return old
}

func check(k Key, d Demographics) error {
	switch {
	case k.ID == "" || strings.ContainsAny(k.ID+k.Issuer, "\x00\\"):
		return fmt.Errorf("%w: patient identifier", ErrInvalid)
	case d.BirthDate != "" && !validDA(d.BirthDate):
		return fmt.Errorf("%w: birth date", ErrInvalid)
	case d.Sex != "" && d.Sex != "M" && d.Sex != "F" && d.Sex != "O":
		return fmt.Errorf("%w: sex", ErrInvalid)
	}
	return nil
}

func validDA(s string) bool {
	_, err := time.Parse("20060102", s)
	return err == nil
}

// Attrs are the index attributes of the known demographics of d (the
// form index.Instance holds: Values and DICOM JSON).
func Attrs(d Demographics) []index.Attr {
	var out []index.Attr
	if d.Name != "" {
		js := append(jsonstr.Append([]byte(`{"vr":"PN","Value":[{"Alphabetic":`), alphabetic(d.Name)), []byte(`}]}`)...)
		if groups := strings.SplitN(d.Name, "=", 3); len(groups) > 1 {
			js = pnJSON(groups)
		}
		out = append(out, index.Attr{Tag: 0x00100010, VR: "PN", Values: []string{d.Name}, JSON: js})
	}
	if d.BirthDate != "" {
		out = append(out, stringAttr(0x00100030, "DA", d.BirthDate))
	}
	if d.Sex != "" {
		out = append(out, stringAttr(0x00100040, "CS", d.Sex))
	}
	return out
}

// alphabetic is the first component group of a PN.
func alphabetic(pn string) string {
	a, _, _ := strings.Cut(pn, "=")
	return a
}

// pnJSON is the DICOM JSON of a PN with several component groups.
func pnJSON(groups []string) []byte {
	b := []byte(`{"vr":"PN","Value":[{`)
	first := true
	for i, name := range []string{"Alphabetic", "Ideographic", "Phonetic"} {
		if i >= len(groups) || groups[i] == "" {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = jsonstr.Append(append(jsonstr.Append(b, name), ':'), groups[i])
	}
	return append(b, "}]}"...)
}

func stringAttr(tag uint32, vr, v string) index.Attr {
	js := append(jsonstr.Append([]byte(`{"vr":"`+vr+`","Value":[`), v), "]}"...)
	return index.Attr{Tag: tag, VR: vr, Values: []string{v}, JSON: js}
}

// idAttrs are the PatientID and IssuerOfPatientID attributes of k.
func idAttrs(k Key) []index.Attr {
	out := []index.Attr{stringAttr(0x00100020, "LO", k.ID)}
	if k.Issuer != "" {
		out = append(out, stringAttr(0x00100021, "LO", k.Issuer))
	}
	return out
}
