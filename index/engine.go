package index

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Engine is the metadata index as the archive uses it. Two engines
// implement it: the embedded bbolt Index of this package (the default) and
// the PostgreSQL index of package index/postgres, which several nodes
// share. Both pass one conformance suite (index/indextest): the same
// answers, result order and errors for the same calls.
type Engine interface {
	// Close waits for running calls and releases the engine.
	Close() error
	// Ping checks that the index is reachable and readable.
	Ping(ctx context.Context) error
	// Replaces reports the duplicate policy (Options.Replace).
	Replaces() bool
	// Commits and SetOnCommit feed the metrics (write transactions).
	Commits() (commits, puts uint64)
	SetOnCommit(f func(time.Duration))

	Put(ctx context.Context, inst *Instance) (PutResult, error)
	PutMany(ctx context.Context, insts []*Instance) ([]PutResult, []error)
	Delete(ctx context.Context, study, series, sop string) ([]string, error)

	Lookup(ctx context.Context, sopInstanceUID string) (*Ref, error)
	Instance(ctx context.Context, study, series, sop string) (*Ref, error)
	Refs(ctx context.Context, study, series string) ([]Ref, error)
	Metadata(ctx context.Context, study, series, sop string, fn func(json []byte) error) error
	Search(ctx context.Context, q Query, fn func(*Result) error) error
	Stats(ctx context.Context) (studies, series, instances int, err error)

	HasObject(ctx context.Context, key string) (bool, error)
	ForEachObject(ctx context.Context, fn func(key string) error) error
	ForEachInstance(ctx context.Context, fn func(ref Ref) error) error

	UpdatePatient(ctx context.Context, u PatientUpdate) ([]string, error)
	PatientAttrs(ctx context.Context, study string) ([]Attr, error)
	PatientVersion(ctx context.Context, study string) (time.Time, error)

	PutRecords(ctx context.Context, recs ...Record) error
	GetRecord(ctx context.Context, kind RecordKind, key string) ([]byte, error)
	ForEachRecord(ctx context.Context, kind RecordKind, prefix string, fn func(key string, value []byte) error) error
	CopyRecords(ctx context.Context, from RecordSource) (int, error)
}

var _ Engine = (*Index)(nil)

// ObjectGuard is implemented by an index that several nodes share
// (index/postgres). Objects are named by their content, so two nodes
// storing the same instance write the same key: without the guard, one
// node removing what it believes unreferenced (an aborted upload, a
// replaced or deleted instance, gc) could remove the object another node
// has just written and is about to index. Within one process the ingester
// serialises this itself.
type ObjectGuard interface {
	// ClaimObject records, before the object is written, that this node
	// will write key and index it; release (after the index commit or
	// the abort) ends the claim. It waits while a removal of key runs.
	ClaimObject(ctx context.Context, key string) (release func(), err error)
	// DeleteUnreferenced calls del, which removes the object from the
	// store, unless an instance references key or a node claims it;
	// claims of key wait meanwhile. It reports whether del ran.
	DeleteUnreferenced(ctx context.Context, key string, del func(ctx context.Context) error) (bool, error)
}

// Turns is implemented by an index that several nodes share
// (index/postgres): a periodic job that one node should run for all (the
// background scrub) takes a turn first.
type Turns interface {
	// TakeTurn gives the turn of the job name to this node when no other
	// node holds it and no node completed it within every; done ends the
	// turn, recording a completion when completed. A node that dies
	// loses its turn.
	TakeTurn(ctx context.Context, name string, every time.Duration) (done func(completed bool), ok bool, err error)
}

// RecordSource is where CopyRecords reads records from: another engine.
type RecordSource interface {
	ForEachRecord(ctx context.Context, kind RecordKind, prefix string, fn func(key string, value []byte) error) error
}

// RecordKinds lists every record kind.
func RecordKinds() []RecordKind { return slices.Clone(recordKinds) }

// The rest of this file is what this package shares with other engines, so
// that they validate, normalise, match and answer exactly as bbolt does.

// Prepared is an Instance validated for indexing, with what an engine
// derives from it.
type Prepared struct {
	// In is the instance, its attributes sorted by tag.
	In *Instance
	// SortKey is the study's result order key: StudyDate as YYYYMMDD
	// ("00000000" when missing or invalid) then StudyTime as
	// HHMMSS.ffffff (doc.go).
	SortKey string
	// Demographics encodes what must agree between instances of a study
	// (PutResult.PatientMismatch when it does not).
	Demographics []byte
	// Modality is the series' modality, trimmed ("" when none).
	Modality string
	// SeriesNumber and InstanceNumber, when present.
	HasSeriesNumber, HasInstanceNumber bool
	SeriesNumber, InstanceNumber       int64
	// StudyAttrs, SeriesAttrs, InstanceAttrs and PatientAttrs are the
	// packed attr lists (UnpackAttrs reads them); PatientAttrs holds
	// group 0010 of the study attributes.
	StudyAttrs, SeriesAttrs, InstanceAttrs, PatientAttrs []byte
	// Metadata is the packed metadata (UnpackMetadata reads it).
	Metadata []byte
}

// Prepare validates an Instance as Put does (ErrInvalid) and derives what
// an engine stores.
func Prepare(in *Instance) (*Prepared, error) {
	p, err := prepare(in)
	if err != nil {
		return nil, err
	}
	return &Prepared{
		In: p.in, SortKey: string(p.sortKey[:]), Demographics: p.demo, Modality: p.modality,
		HasSeriesNumber: p.seriesHasNum, SeriesNumber: p.seriesNum,
		HasInstanceNumber: p.instHasNum, InstanceNumber: p.instNum,
		StudyAttrs: packAttrs(p.studyList), SeriesAttrs: packAttrs(p.seriesList),
		InstanceAttrs: packAttrs(p.instList), PatientAttrs: packAttrs(p.patientList),
		Metadata: encodeMetadata(nil, p.in.Metadata),
	}, nil
}

// PackAttrs encodes attributes (sorted by tag) as a packed attr list.
func PackAttrs(attrs []Attr) []byte { return packAttrs(appendAttrs(nil, attrs)) }

// UnpackAttrs decodes a packed attr list.
func UnpackAttrs(b []byte) ([]Attr, error) {
	list, err := packedAttrs{b: b}.list(nil)
	if err != nil {
		return nil, err
	}
	return decodeAttrList(list), nil
}

// UnpackMetadata appends the JSON of packed metadata (Prepared.Metadata)
// to dst.
func UnpackMetadata(dst, v []byte) ([]byte, error) {
	return appendMetadata(dst, v, func() (*seriesDict, error) {
		return nil, fmt.Errorf("metadata: %w: series dictionary outside bbolt", errCorrupt)
	})
}

// StudyKeys are the normalised values of a study's attributes that an
// engine indexes (doc.go: secondary study indexes): every candidate they
// give is checked by a Matcher, so they only need to be a superset.
type StudyKeys struct {
	// Date is StudyDate as YYYYMMDD ("" when missing or invalid).
	Date string
	// PatientID, Accession and Description (StudyDescription) are
	// trimmed as for matching.
	PatientID, Accession, Description string
	// Names are the normalised PatientName groups; Components their
	// components (fuzzy matching).
	Names, Components []string
}

// KeysOf returns the index keys of study attributes.
func KeysOf(study []Attr) StudyKeys {
	var k StudyKeys
	if a := attrByTag(study, tagStudyDate); a != nil && len(a.Values) > 0 {
		if d, ok := normDA(a.Values[0]); ok {
			k.Date = d
		}
	}
	first := func(tag uint32, vr string) string {
		if a := attrByTag(study, tag); a != nil && len(a.Values) > 0 {
			return cleanValue(vr, a.Values[0])
		}
		return ""
	}
	k.PatientID, k.Accession = first(tagPatientID, "LO"), first(tagAccessionNumber, "SH")
	k.Description = first(tagStudyDescription, "LO")
	if a := attrByTag(study, tagPatientName); a != nil {
		for _, v := range a.Values {
			for _, g := range pnGroups(v) {
				if g != "" && !slices.Contains(k.Names, g) {
					k.Names = append(k.Names, g)
				}
				for _, c := range nameComponents(g) {
					if !slices.Contains(k.Components, c) {
						k.Components = append(k.Components, c)
					}
				}
			}
		}
	}
	return k
}

// NormPN normalises a person name group (or a pattern) for matching:
// accents removed, upper case, components trimmed (doc.go).
func NormPN(s string) string { return normPN(s) }

// NameComponents splits a normalised name group into its components, as
// fuzzy matching does.
func NameComponents(group string) []string { return nameComponents(group) }

// CleanValue trims a value as matching does for its VR.
func CleanValue(vr, s string) string { return cleanValue(vr, s) }

// NormDate returns a DA value as YYYYMMDD, or false when it is not one.
func NormDate(s string) (string, bool) { return normDA(s) }

// CheckQuery checks what Search checks before running a query.
func CheckQuery(q Query) error {
	if q.Limit < 0 || q.Offset < 0 {
		return fmt.Errorf("index: search: negative limit or offset")
	}
	if q.Level < LevelStudy || q.Level > LevelInstance {
		return fmt.Errorf("index: search: bad level %d", q.Level)
	}
	return nil
}

// Matcher applies the filters of a query to results, exactly as Search
// does.
type Matcher struct {
	ms    []matcher
	never bool
}

// NewMatcher compiles the filters of q.
func NewMatcher(q Query) *Matcher {
	m := &Matcher{}
	m.ms, m.never = compileQuery(q)
	return m
}

// Never reports whether no result can match (an invalid range bound).
func (m *Matcher) Never() bool { return m.never }

// Match reports whether a result matches every filter; each filter looks
// its tag up at the lowest level of r that has attributes, then the levels
// above. r carries the computed attributes at their levels (ComputedStudy,
// ComputedSeries).
func (m *Matcher) Match(r *Result) bool {
	if m.never {
		return false
	}
	for i := range m.ms {
		c := &m.ms[i]
		a, ok := lookupResult(r, c.tag)
		var raw rawAttr
		if ok {
			raw = rawValues(a.Tag, a.VR, a.Values)
		}
		if !c.match(raw, ok) {
			return false
		}
	}
	return true
}

func lookupResult(r *Result, tag uint32) (Attr, bool) {
	for _, attrs := range [][]Attr{r.Instance, r.Series, r.Study} {
		if i, ok := slices.BinarySearchFunc(attrs, tag, func(a Attr, t uint32) int {
			switch {
			case a.Tag < t:
				return -1
			case a.Tag > t:
				return 1
			}
			return 0
		}); ok {
			return attrs[i], true
		}
	}
	return Attr{}, false
}

// ComputedStudy returns the computed study attributes of a study-level
// result (ModalitiesInStudy, SOPClassesInStudy, NumberOfStudyRelatedSeries,
// NumberOfStudyRelatedInstances): modalities and SOP classes sorted
// bytewise, without duplicates or empty values.
func ComputedStudy(modalities, sopClasses []string, series, instances int) []Attr {
	return []Attr{
		computedAttr(tagModalitiesInStudy, "CS", modalities...),
		computedAttr(tagSOPClassesInStudy, "UI", sopClasses...),
		computedAttr(tagNumStudySeries, "IS", strconv.Itoa(series)),
		computedAttr(tagNumStudyInstances, "IS", strconv.Itoa(instances)),
	}
}

// ComputedSeries returns NumberOfSeriesRelatedInstances.
func ComputedSeries(instances int) Attr {
	return computedAttr(tagNumSeriesInstances, "IS", strconv.Itoa(instances))
}

// WithAttrs returns attrs (sorted by tag) with each of add in place of the
// attribute of its tag or inserted in order; attrs is not modified.
func WithAttrs(attrs []Attr, add ...Attr) []Attr {
	out := slices.Clone(attrs)
	for _, a := range add {
		out = SetAttr(out, a)
	}
	return out
}

// PatientOverlay puts a patient record's attributes (group 0010) into
// metadata objects, as Metadata does for studies whose patient comes from
// a record.
type PatientOverlay struct{ members []member }

// NewPatientOverlay builds the overlay of the group 0010 attributes among
// attrs (sorted by tag); nil when there are none.
func NewPatientOverlay(attrs []Attr) *PatientOverlay {
	o := &PatientOverlay{}
	for _, a := range attrs {
		if a.Tag>>16 != 0x0010 {
			continue
		}
		var m member
		copy(m.key[:], fmt.Sprintf("%08X", a.Tag))
		m.val = a.JSON
		o.members = append(o.members, m)
	}
	return o
}

// Apply appends obj with the overlay's members in place of its own to dst.
func (o *PatientOverlay) Apply(dst, obj []byte) []byte {
	if o == nil {
		return append(dst, obj...)
	}
	return overlayMembers(dst, obj, o.members)
}

// Check validates an update as UpdatePatient does (ErrInvalid).
func (u *PatientUpdate) Check() error {
	for _, a := range u.Attrs {
		if a.Tag>>16 != 0x0010 {
			return fmt.Errorf("%w: (%08X) is not a patient attribute", ErrInvalid, a.Tag)
		}
	}
	if u.NewPatientID != "" && len(u.IDAttrs) == 0 {
		return fmt.Errorf("%w: a move without PatientID attributes", ErrInvalid)
	}
	return nil
}

// Apply returns a study's attributes and patient identifier after the
// update (attrs is not modified), and the study's new demographics.
func (u *PatientUpdate) Apply(attrs []Attr, pid, issuer string) (out []Attr, newPID, newIssuer string, demo []byte, err error) {
	out = slices.Clone(attrs)
	for _, a := range u.Attrs {
		if a.Tag != tagPatientID && a.Tag != tagIssuerOfPatientID {
			out = SetAttr(out, a)
		}
	}
	out = slices.DeleteFunc(out, func(a Attr) bool { return slices.Contains(u.Remove, a.Tag) })
	if u.NewPatientID != "" {
		pid, issuer = u.NewPatientID, u.NewIssuer
		out = slices.DeleteFunc(out, func(a Attr) bool { return a.Tag == tagIssuerOfPatientID })
		for _, a := range u.IDAttrs {
			out = SetAttr(out, a)
		}
	}
	if n := len(appendAttrs(nil, out)); n > maxAttrList {
		return nil, "", "", nil, fmt.Errorf("%w: attributes of more than %d bytes", ErrInvalid, maxAttrList)
	}
	return out, pid, issuer, demographics(pid, issuer, out), nil
}

// PatientGroup returns the group 0010 attributes among attrs.
func PatientGroup(attrs []Attr) []Attr {
	var out []Attr
	for _, a := range attrs {
		if a.Tag>>16 == 0x0010 {
			out = append(out, a)
		}
	}
	return out
}

// MaxRecordKey bounds record keys (PutRecords refuses longer ones).
const MaxRecordKey = maxRecordKey

// CheckRecord validates a record write as PutRecords does.
func CheckRecord(r Record) error {
	if !slices.Contains(recordKinds, r.Kind) {
		return fmt.Errorf("%w: unknown record kind %q", ErrInvalid, r.Kind)
	}
	if r.Key == "" || len(r.Key) > maxRecordKey {
		return fmt.Errorf("%w: bad record key", ErrInvalid)
	}
	return nil
}
