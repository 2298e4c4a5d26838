package index

import (
	"time"

	"github.com/minipacs/minipacs/dicomweb/kind"
)

// ErrNotFound is returned when a study, series or instance is not indexed.
var ErrNotFound = kind.New(kind.NotFound, "index: not found")

// ErrConflict is returned by Put when the SOP Instance UID is already
// indexed with different content (different SHA-256).
var ErrConflict = kind.New(kind.Conflict, "index: instance already stored with different content")

// ErrUnavailable is returned by an engine whose database cannot be
// reached or cannot take writes now (index/postgres during a failover);
// the call may succeed when sent again.
var ErrUnavailable = kind.New(kind.Unavailable, "index: database unavailable")

// ErrClosed is returned by every call after Close.
var ErrClosed = kind.New(kind.Unavailable, "index: closed")

// Attr is one attribute as QIDO-RS needs it: its values for matching and its
// DICOM JSON for answering.
type Attr struct {
	Tag uint32
	VR  string
	// Values are the decoded (UTF-8) string forms of the values: for PN the
	// whole value "Alphabetic=Ideographic=Phonetic" as decoded (empty
	// trailing groups dropped), for numbers their text, for DA/TM/DT the
	// text as stored, for UI the UID without padding. An empty value inside
	// a multi-valued attribute is "".
	Values []string
	// JSON is the attribute's DICOM JSON value object, e.g.
	// {"vr":"PN","Value":[{"Alphabetic":"Doe^John"}]}.
	JSON []byte
}

// Instance is everything the index keeps about one stored instance. It is
// built by ingest from the parsed object.
type Instance struct {
	StudyUID, SeriesUID, SOPInstanceUID, SOPClassUID string
	TransferSyntaxUID                                string
	// PatientID and IssuerOfPatientID identify the patient (both may be
	// empty; the pair is the key).
	PatientID, IssuerOfPatientID string
	// PatientFromRecord says the patient attributes of Study come from a
	// patient record (HL7 ADT), not from the object: Metadata then gives
	// them in place of the object's (see UpdatePatient).
	PatientFromRecord bool

	// ObjectKey is the storage key of the object; SHA256 and Size describe
	// the stored bytes.
	ObjectKey string
	SHA256    [32]byte
	Size      int64

	// Attributes per QIDO level. Study holds the patient and study level
	// attributes, Series the series level, Instance the instance level.
	// Each is sorted by tag. StudyInstanceUID, SeriesInstanceUID and
	// SOPInstanceUID appear at their own level.
	Study, Series, Instance []Attr

	// Metadata is the instance's whole DICOM JSON object (PS3.18 F), bulk
	// values as BulkDataURI relative to the DICOMweb base
	// ("studies/.../bulkdata/...").
	Metadata []byte
	// Layout is the opaque serialised part10.Layout (frames, bulk values).
	Layout []byte

	Stored time.Time
}

// Ref is what retrieval needs to know about one instance.
type Ref struct {
	StudyUID, SeriesUID, SOPInstanceUID, SOPClassUID string
	TransferSyntaxUID                                string
	ObjectKey                                        string
	SHA256                                           [32]byte
	Size                                             int64
	Layout                                           []byte
}

// PutResult tells what Put did.
type PutResult struct {
	// Existed is true when an identical instance (same SHA-256) was already
	// indexed: nothing was changed.
	Existed bool
	// PatientMismatch is true when the study already existed with a
	// different patient (PatientID/IssuerOfPatientID) or different patient
	// demographics; the study keeps its first values.
	PatientMismatch bool
	// ExistingObjectKey is, when Existed, the object key of the instance
	// already indexed; if it differs from the new Instance.ObjectKey, the
	// caller's new object is not referenced and may be deleted.
	ExistingObjectKey string
	// ReplacedObjectKey is, with Options.Replace, the object key of the
	// instance that this Put replaced (empty if none, or if it equals the
	// new key). The caller deletes that object after Put returns.
	ReplacedObjectKey string
}

// Level is a QIDO query level.
type Level int

const (
	LevelStudy Level = iota
	LevelSeries
	LevelInstance
)

// MatchKind is how one query key matches (PS3.4 C.2.2.2).
type MatchKind int

const (
	// MatchSingle: exact value (PN: case/accent-insensitive, trailing
	// padding and empty trailing components ignored).
	MatchSingle MatchKind = iota
	// MatchWildcard: Values[0] contains '*' and/or '?'.
	MatchWildcard
	// MatchRange: Low and/or High (DA, TM, DT), inclusive; an empty bound
	// is open.
	MatchRange
	// MatchList: any of Values (UID lists, value lists).
	MatchList
)

// Filter is one matching key of a query.
type Filter struct {
	Tag    uint32
	VR     string
	Kind   MatchKind
	Values []string
	Low    string
	High   string
}

// Query is a QIDO-RS search, already parsed and validated.
type Query struct {
	Level Level
	// StudyUID and SeriesUID are fixed by the path (may be empty).
	StudyUID, SeriesUID string
	Filters             []Filter
	// Fuzzy enables fuzzy matching of PN values: a key matches when every
	// component of the key is a prefix of some name component, case and
	// accent insensitive.
	Fuzzy         bool
	Limit, Offset int // Limit 0 means no limit
	// Encoded asks for results in encoded form: Search leaves the Study,
	// Series and Instance fields of each Result nil and carries the same
	// attributes undecoded, for Result.Attrs and Result.Reader. A writer
	// that only copies each attribute's DICOM JSON (qido) reads that form
	// with far fewer allocations.
	Encoded bool
	// Reuse lets Search reuse the memory of the results of one batch for
	// the next (see Search): a Result, its attributes and their values
	// are then valid only until fn returns. For a caller that copies each
	// result out (qido writes it), this makes a search allocate a batch's
	// worth instead of all its results.
	Reuse bool
}

// Result is one match. The levels above the query level are filled too:
// a series match carries its study's attributes, an instance match its
// series' and study's. Computed attributes are included at their level:
// study ModalitiesInStudy (00080061), SOPClassesInStudy (00080062),
// NumberOfStudyRelatedSeries (00201206), NumberOfStudyRelatedInstances
// (00201208); series NumberOfSeriesRelatedInstances (00201209).
//
// Study, Series and Instance hold the attributes of each level, sorted by
// tag; for a Query.Encoded search they are nil and the attributes are in
// an encoded form instead. Attrs and Reader work on both forms.
type Result struct {
	Study, Series, Instance []Attr
	// enc holds, for an encoded result, each level's attributes as attr
	// list entries without the leading count (see doc.go), computed
	// attributes merged in; nil for a level without attributes.
	enc     [3][]byte
	encoded bool
}
