// Package indextest builds synthetic index.Instance values with realistic
// attributes and valid DICOM JSON, for tests and benchmarks of the index and
// of the code above it.
//
// Instance(i) is deterministic: the same i gives the same instance. By
// default every i is its own study with one series and one instance;
// patients are shared by three consecutive studies (i/3); names, dates,
// modalities and accession numbers vary with i. Options override any field.
//
// Conformance is the suite every index.Engine passes (bbolt is the
// reference), and Differential compares two engines on random data and
// random QIDO queries. Both read results through Result.Attrs (Row), so
// that engines may answer in decoded or encoded form.
package indextest

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minipacs/minipacs/index"
)

// UIDRoot prefixes every generated UID.
const UIDRoot = "1.2.826.0.1.3680043.10.1001"

// Well-known SOP classes.
const (
	CTImageStorage = "1.2.840.10008.5.1.4.1.1.2"
	MRImageStorage = "1.2.840.10008.5.1.4.1.1.4"
	USImageStorage = "1.2.840.10008.5.1.4.1.1.6.1"
	CRImageStorage = "1.2.840.10008.5.1.4.1.1.1"
	ExplicitVRLE   = "1.2.840.10008.1.2.1"
)

// Spec is everything Instance puts into an instance. Empty strings omit
// the attribute (except the UIDs, which are always set).
type Spec struct {
	StudyUID, SeriesUID, SOPInstanceUID, SOPClassUID string
	PatientID, IssuerOfPatientID                     string
	PatientName, PatientBirthDate, PatientSex        string
	StudyDate, StudyTime, AccessionNumber            string
	StudyDescription, StudyID, ReferringPhysician    string
	Modality, SeriesDescription, SeriesNumber        string
	InstanceNumber                                   string
	Rows, Columns                                    string
	// ImageType is multi-valued (e.g. ORIGINAL, PRIMARY, AXIAL).
	ImageType []string
	// Content varies the SHA-256 (and object key) for the same UIDs.
	Content string
	// Extra attributes per level, added to (or replacing) the generated.
	ExtraStudy, ExtraSeries, ExtraInstance []index.Attr
}

// Option changes the Spec before the instance is built.
type Option func(*Spec)

// Study sets the study UID.
func Study(uid string) Option { return func(s *Spec) { s.StudyUID = uid } }

// Series sets the series UID, its number and modality.
func Series(uid, number, modality string) Option {
	return func(s *Spec) { s.SeriesUID, s.SeriesNumber, s.Modality = uid, number, modality }
}

// SOP sets the SOP Instance UID and instance number.
func SOP(uid, number string) Option {
	return func(s *Spec) { s.SOPInstanceUID, s.InstanceNumber = uid, number }
}

// Patient sets the patient identity and name.
func Patient(id, issuer, name string) Option {
	return func(s *Spec) { s.PatientID, s.IssuerOfPatientID, s.PatientName = id, issuer, name }
}

// Date sets StudyDate and StudyTime.
func Date(date, tm string) Option { return func(s *Spec) { s.StudyDate, s.StudyTime = date, tm } }

// Modality sets the series modality.
func Modality(m string) Option { return func(s *Spec) { s.Modality = m } }

// Content varies the stored bytes (SHA-256) of the instance.
func Content(c string) Option { return func(s *Spec) { s.Content = c } }

var (
	lastNames = []string{"Müller", "Doe", "Smith", "García", "Ödegaard", "Nguyen", "O'Brien", "Dupont",
		"Rossi", "Kowalski", "Novák", "Schmidt", "Johansson", "Fernández", "Brown", "Lefèvre", "Yamada",
		"Papadopoulos", "Silva", "Jensen", "Łukasiewicz", "Durand", "Martin", "Wójcik", "Bianchi",
		"Kim", "Horváth", "Ivanova", "Dubois", "Andersson", "Pérez", "Moreau", "Weber", "Costa",
		"Nielsen", "Popescu", "Svoboda", "Janssen", "Fischer", "Hoffmann"}
	firstNames = []string{"Hans", "John", "Jane", "José", "Åsa", "Van An", "Liam", "Amélie", "Giulia",
		"Piotr", "Jiří", "Anna", "Lars", "Lucía", "Olivia", "Zoë", "Taro", "Eleni", "João", "Søren",
		"Zoé", "Emma", "Noah", "Mia", "Luca", "Minjun", "Bence", "Olga", "Léa", "Erik", "Sofía",
		"Chloé", "Felix", "Inês", "Freja", "Ioana", "Tomáš", "Daan", "Lena", "Paul"}
	modalities = []string{"CT", "MR", "US", "CR", "DX", "PT", "MG", "NM"}
	sopClasses = map[string]string{"CT": CTImageStorage, "MR": MRImageStorage, "US": USImageStorage}
	base       = time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)
)

// PatientName returns the default name of patient p ("Family^Given").
func PatientName(p int) string {
	return lastNames[p%len(lastNames)] + "^" + firstNames[(p/len(lastNames))%len(firstNames)]
}

// StudyDate returns the default StudyDate of instance i: spread over ten
// years from 2015-01-01.
func StudyDate(i int) string {
	return base.AddDate(0, 0, (i*37)%3650).Format("20060102")
}

// DefaultSpec returns the Spec of Instance(i) before options.
func DefaultSpec(i int) Spec {
	p := i / 3
	study := fmt.Sprintf("%s.%d", UIDRoot, i)
	mod := modalities[i%len(modalities)]
	class := sopClasses[mod]
	if class == "" {
		class = CRImageStorage
	}
	return Spec{
		StudyUID: study, SeriesUID: study + ".1", SOPInstanceUID: study + ".1.1", SOPClassUID: class,
		PatientID: fmt.Sprintf("PID%06d", p), IssuerOfPatientID: "HOSP",
		PatientName:      PatientName(p),
		PatientBirthDate: base.AddDate(-20-p%60, 0, p%365).Format("20060102"),
		PatientSex:       []string{"F", "M", "O"}[p%3],
		StudyDate:        StudyDate(i),
		StudyTime:        fmt.Sprintf("%02d%02d%02d", 7+i%12, i%60, (i*7)%60),
		AccessionNumber:  fmt.Sprintf("ACC%08d", i),
		StudyDescription: mod + " " + []string{"HEAD", "CHEST", "ABDOMEN", "KNEE", "SPINE"}[i%5],
		StudyID:          strconv.Itoa(i),
		ReferringPhysician: lastNames[(i+7)%len(lastNames)] + "^" +
			firstNames[(i+3)%len(firstNames)] + "^^Dr",
		Modality: mod, SeriesDescription: "Series 1 " + mod, SeriesNumber: "1",
		InstanceNumber: "1", Rows: "512", Columns: "512",
		ImageType: []string{"ORIGINAL", "PRIMARY", "AXIAL"},
	}
}

// Instance builds instance i (see the package comment).
func Instance(i int, opts ...Option) *index.Instance {
	s := DefaultSpec(i)
	for _, o := range opts {
		o(&s)
	}
	return Build(s)
}

// Build turns a Spec into an Instance with attributes sorted per level,
// DICOM JSON per attribute and the whole DICOM JSON object as Metadata.
func Build(s Spec) *index.Instance {
	var study, series, inst []index.Attr
	add := func(list *[]index.Attr, tag uint32, vr string, vals ...string) {
		if len(vals) == 0 || (len(vals) == 1 && vals[0] == "") {
			return
		}
		*list = append(*list, Attr(tag, vr, vals...))
	}
	add(&study, 0x00080005, "CS", "ISO_IR 192")
	add(&study, 0x00080020, "DA", s.StudyDate)
	add(&study, 0x00080030, "TM", s.StudyTime)
	add(&study, 0x00080050, "SH", s.AccessionNumber)
	add(&study, 0x00080090, "PN", s.ReferringPhysician)
	add(&study, 0x00081030, "LO", s.StudyDescription)
	add(&study, 0x00100010, "PN", s.PatientName)
	add(&study, 0x00100020, "LO", s.PatientID)
	add(&study, 0x00100021, "LO", s.IssuerOfPatientID)
	add(&study, 0x00100030, "DA", s.PatientBirthDate)
	add(&study, 0x00100040, "CS", s.PatientSex)
	add(&study, 0x0020000D, "UI", s.StudyUID)
	add(&study, 0x00200010, "SH", s.StudyID)
	add(&series, 0x00080060, "CS", s.Modality)
	add(&series, 0x0008103E, "LO", s.SeriesDescription)
	add(&series, 0x0020000E, "UI", s.SeriesUID)
	add(&series, 0x00200011, "IS", s.SeriesNumber)
	add(&inst, 0x00080008, "CS", s.ImageType...)
	add(&inst, 0x00080016, "UI", s.SOPClassUID)
	add(&inst, 0x00080018, "UI", s.SOPInstanceUID)
	add(&inst, 0x00200013, "IS", s.InstanceNumber)
	add(&inst, 0x00280010, "US", s.Rows)
	add(&inst, 0x00280011, "US", s.Columns)
	study = merge(study, s.ExtraStudy)
	series = merge(series, s.ExtraSeries)
	inst = merge(inst, s.ExtraInstance)

	sum := sha256.Sum256([]byte(s.SOPInstanceUID + "\x00" + s.Content))
	in := &index.Instance{
		StudyUID: s.StudyUID, SeriesUID: s.SeriesUID, SOPInstanceUID: s.SOPInstanceUID,
		SOPClassUID: s.SOPClassUID, TransferSyntaxUID: ExplicitVRLE,
		PatientID: s.PatientID, IssuerOfPatientID: s.IssuerOfPatientID,
		ObjectKey: "obj/" + hex.EncodeToString(sum[:]),
		SHA256:    sum,
		Size:      int64(1024 + len(s.SOPInstanceUID)),
		Study:     study, Series: series, Instance: inst,
		Layout: []byte{1, 0, 0, 0, 1, 0x84, 0x03},
		Stored: base.Add(time.Duration(len(s.SOPInstanceUID)) * time.Second),
	}
	in.Metadata = metadataJSON(s, study, series, inst)
	return in
}

// merge adds extra attributes, replacing same-tag ones, keeping tag order.
func merge(list, extra []index.Attr) []index.Attr {
	for _, a := range extra {
		i, found := slices.BinarySearchFunc(list, a.Tag, func(x index.Attr, t uint32) int {
			switch {
			case x.Tag < t:
				return -1
			case x.Tag > t:
				return 1
			}
			return 0
		})
		if found {
			list[i] = a
		} else {
			list = slices.Insert(list, i, a)
		}
	}
	return list
}

// Attr builds an attribute with its DICOM JSON. PN values are
// "Alphabetic=Ideographic=Phonetic"; IS, DS and binary-number VRs become
// JSON numbers; an empty value inside a multi-valued attribute is null.
func Attr(tag uint32, vr string, values ...string) index.Attr {
	type object struct {
		VR    string `json:"vr"`
		Value []any  `json:"Value,omitempty"`
	}
	obj := object{VR: vr}
	var vs []any
	for _, v := range values {
		switch {
		case v == "":
			vs = append(vs, nil)
		case vr == "PN":
			groups := strings.SplitN(v, "=", 3)
			pn := map[string]string{}
			for i, g := range groups {
				if g != "" {
					pn[[]string{"Alphabetic", "Ideographic", "Phonetic"}[i]] = g
				}
			}
			vs = append(vs, pn)
		case isNumber(vr):
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				vs = append(vs, json.Number(strconv.FormatFloat(f, 'g', -1, 64)))
			} else {
				vs = append(vs, v)
			}
		default:
			vs = append(vs, v)
		}
	}
	obj.Value = vs
	b, err := json.Marshal(obj)
	if err != nil {
		panic(err) // only maps, strings and numbers: cannot fail
	}
	return index.Attr{Tag: tag, VR: vr, Values: slices.Clone(values), JSON: b}
}

func isNumber(vr string) bool {
	switch vr {
	case "IS", "DS", "US", "UL", "SS", "SL", "FL", "FD", "SV", "UV":
		return true
	}
	return false
}

// metadataJSON is the instance's whole DICOM JSON object.
func metadataJSON(s Spec, levels ...[]index.Attr) []byte {
	var all []index.Attr
	for _, l := range levels {
		all = append(all, l...)
	}
	slices.SortFunc(all, func(a, b index.Attr) int { return cmp.Compare(a.Tag, b.Tag) })
	var b strings.Builder
	b.WriteByte('{')
	for _, a := range all {
		fmt.Fprintf(&b, "%q:%s,", fmt.Sprintf("%08X", a.Tag), a.JSON)
	}
	fmt.Fprintf(&b, `"7FE00010":{"vr":"OW","BulkDataURI":"studies/%s/series/%s/instances/%s/bulkdata/7FE00010"}}`,
		s.StudyUID, s.SeriesUID, s.SOPInstanceUID)
	return []byte(b.String())
}

// Populate puts the instances gen(0) ... gen(n-1) into ix from 64
// concurrent writers (so that group commit batches them), stopping at the
// first error.
func Populate(ctx context.Context, ix *index.Index, n int, gen func(i int) *index.Instance) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if _, err := ix.Put(ctx, gen(i)); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// NamedQuery is a search with a name (benchmarks).
type NamedQuery struct {
	Name string
	Q    index.Query
}

// StudyQueries are the study-level searches of the index benchmarks
// (cmd/benchindex, scripts/bench-compare's QIDO rows, index/postgres),
// with the values of DefaultSpec(s): its patient, date month, modality
// and accession number.
func StudyQueries(s int) []NamedQuery {
	spec := DefaultSpec(s)
	name := spec.PatientName
	t, _ := time.Parse("20060102", spec.StudyDate[:6]+"01")
	first, last := t.Format("20060102"), t.AddDate(0, 1, -1).Format("20060102")
	filter := func(tag uint32, vr string, kind index.MatchKind, v string) []index.Filter {
		return []index.Filter{{Tag: tag, VR: vr, Kind: kind, Values: []string{v}}}
	}
	return []NamedQuery{
		{"pn_exact", index.Query{Limit: 25, Filters: filter(0x00100010, "PN", index.MatchSingle, name)}},
		{"pn_wildcard", index.Query{Limit: 25, Filters: filter(0x00100010, "PN", index.MatchWildcard, name[:3]+"*")}},
		{"pid", index.Query{Limit: 25, Filters: filter(0x00100020, "LO", index.MatchSingle, spec.PatientID)}},
		{"date_month", index.Query{Limit: 25, Filters: []index.Filter{{Tag: 0x00080020, VR: "DA", Kind: index.MatchRange, Low: first, High: last}}}},
		{"all", index.Query{Limit: 25}},
		{"all100", index.Query{Limit: 100}},
		{"modality", index.Query{Limit: 25, Filters: filter(0x00080061, "CS", index.MatchSingle, spec.Modality)}},
		{"accession", index.Query{Limit: 25, Filters: filter(0x00080050, "SH", index.MatchSingle, spec.AccessionNumber)}},
	}
}
