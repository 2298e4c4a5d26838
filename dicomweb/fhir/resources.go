package fhir

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/minipacs/minipacs/index"
)

// FHIR R4 data types, as far as the facade writes them (empty fields are
// left out: FHIR JSON has no empty strings, arrays or objects).

// Coding is a FHIR Coding.
type Coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

// CodeableConcept is a FHIR CodeableConcept.
type CodeableConcept struct {
	Coding []Coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

// Reference is a FHIR Reference.
type Reference struct {
	Reference string `json:"reference,omitempty"`
	Display   string `json:"display,omitempty"`
}

// Identifier is a FHIR Identifier.
type Identifier struct {
	Use      string           `json:"use,omitempty"`
	Type     *CodeableConcept `json:"type,omitempty"`
	System   string           `json:"system,omitempty"`
	Value    string           `json:"value,omitempty"`
	Assigner *Reference       `json:"assigner,omitempty"`
}

// HumanName is a FHIR HumanName.
type HumanName struct {
	Use    string   `json:"use,omitempty"`
	Text   string   `json:"text,omitempty"`
	Family string   `json:"family,omitempty"`
	Given  []string `json:"given,omitempty"`
	Prefix []string `json:"prefix,omitempty"`
	Suffix []string `json:"suffix,omitempty"`
}

// Patient is a FHIR R4 Patient.
type Patient struct {
	ResourceType string       `json:"resourceType"`
	ID           string       `json:"id"`
	Identifier   []Identifier `json:"identifier,omitempty"`
	Name         []HumanName  `json:"name,omitempty"`
	Gender       string       `json:"gender"`
	BirthDate    string       `json:"birthDate,omitempty"`
}

// ImagingStudy is a FHIR R4 ImagingStudy.
type ImagingStudy struct {
	ResourceType      string        `json:"resourceType"`
	ID                string        `json:"id"`
	Identifier        []Identifier  `json:"identifier"`
	Status            string        `json:"status"`
	Modality          []Coding      `json:"modality,omitempty"`
	Subject           Reference     `json:"subject"`
	Started           string        `json:"started,omitempty"`
	Endpoint          []Reference   `json:"endpoint"`
	NumberOfSeries    int           `json:"numberOfSeries"`
	NumberOfInstances int           `json:"numberOfInstances"`
	Description       string        `json:"description,omitempty"`
	Series            []StudySeries `json:"series,omitempty"`
}

// StudySeries is one ImagingStudy.series.
type StudySeries struct {
	UID               string           `json:"uid"`
	Number            *int             `json:"number,omitempty"`
	Modality          Coding           `json:"modality"`
	Description       string           `json:"description,omitempty"`
	NumberOfInstances int              `json:"numberOfInstances"`
	Endpoint          []Reference      `json:"endpoint,omitempty"`
	BodySite          *Coding          `json:"bodySite,omitempty"`
	Started           string           `json:"started,omitempty"`
	Instance          []SeriesInstance `json:"instance,omitempty"`
}

// SeriesInstance is one ImagingStudy.series.instance.
type SeriesInstance struct {
	UID      string `json:"uid"`
	SOPClass Coding `json:"sopClass"`
	Number   *int   `json:"number,omitempty"`
}

// Endpoint is a FHIR R4 Endpoint.
type Endpoint struct {
	ResourceType    string            `json:"resourceType"`
	ID              string            `json:"id"`
	Status          string            `json:"status"`
	ConnectionType  Coding            `json:"connectionType"`
	Name            string            `json:"name,omitempty"`
	PayloadType     []CodeableConcept `json:"payloadType"`
	PayloadMimeType []string          `json:"payloadMimeType,omitempty"`
	Address         string            `json:"address"`
}

// Code systems and identifiers.
const (
	systemDCM        = "http://dicom.nema.org/resources/ontology/DCM"
	systemDICOMUID   = "urn:dicom:uid"
	systemRFC3986    = "urn:ietf:rfc:3986"
	systemV2_0203    = "http://terminology.hl7.org/CodeSystem/v2-0203"
	systemConnection = "http://terminology.hl7.org/CodeSystem/endpoint-connection-type"
	systemPayload    = "http://terminology.hl7.org/CodeSystem/endpoint-payload-type"
	// EndpointID is the id of the one Endpoint: the DICOMweb service.
	EndpointID = "dicomweb"
)

// DICOM tags read from the index.
const (
	tagPatientName       = 0x00100010
	tagPatientID         = 0x00100020
	tagIssuerOfPatientID = 0x00100021
	tagPatientBirthDate  = 0x00100030
	tagPatientSex        = 0x00100040
	tagStudyUID          = 0x0020000D
	tagStudyDate         = 0x00080020
	tagStudyTime         = 0x00080030
	tagAccession         = 0x00080050
	tagStudyDescription  = 0x00081030
	tagModalitiesInStudy = 0x00080061
	tagTimezoneOffset    = 0x00080201
	tagNumStudySeries    = 0x00201206
	tagNumStudyInstances = 0x00201208
	tagSeriesUID         = 0x0020000E
	tagSeriesNumber      = 0x00200011
	tagModality          = 0x00080060
	tagSeriesDescription = 0x0008103E
	tagBodyPartExamined  = 0x00180015
	tagSeriesDate        = 0x00080021
	tagSeriesTime        = 0x00080031
	tagNumSeriesInst     = 0x00201209
	tagSOPInstanceUID    = 0x00080018
	tagSOPClassUID       = 0x00080016
	tagInstanceNumber    = 0x00200013
)

// study is what the facade reads of one study-level index result.
type study struct {
	UID, Date, Time, TZ, Accession, Description string
	Modalities                                  []string
	NumSeries, NumInstances                     int
	Patient                                     PatientKey
	Name, BirthDate, Sex                        string
}

func first(a index.Attr) string {
	if len(a.Values) == 0 {
		return ""
	}
	return a.Values[0]
}

// studyOf reads a study-level (or lower) result's study attributes.
func studyOf(r *index.Result) *study {
	s := &study{}
	for _, a := range r.Attrs(index.LevelStudy) {
		v := first(a)
		switch a.Tag {
		case tagStudyUID:
			s.UID = v
		case tagStudyDate:
			s.Date = v
		case tagStudyTime:
			s.Time = v
		case tagTimezoneOffset:
			s.TZ = v
		case tagAccession:
			s.Accession = v
		case tagStudyDescription:
			s.Description = v
		case tagModalitiesInStudy:
			for _, m := range a.Values {
				if m != "" {
					s.Modalities = append(s.Modalities, m)
				}
			}
		case tagNumStudySeries:
			s.NumSeries, _ = strconv.Atoi(strings.TrimSpace(v))
		case tagNumStudyInstances:
			s.NumInstances, _ = strconv.Atoi(strings.TrimSpace(v))
		case tagPatientID:
			s.Patient.ID = v
		case tagIssuerOfPatientID:
			s.Patient.Issuer = v
		case tagPatientName:
			s.Name = v
		case tagPatientBirthDate:
			s.BirthDate = v
		case tagPatientSex:
			s.Sex = v
		}
	}
	return s
}

// nameParts splits a PN value's Alphabetic group (or, without one, the
// first non-empty group) into family, given, middle, prefix and suffix.
func nameParts(pn string) []string {
	groups := strings.Split(pn, "=")
	g := groups[0]
	if strings.Trim(g, "^ ") == "" {
		for _, o := range groups[1:] {
			if strings.Trim(o, "^ ") != "" {
				g = o
				break
			}
		}
	}
	parts := strings.SplitN(g, "^", 5)
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	for len(parts) < 5 {
		parts = append(parts, "")
	}
	return parts
}

// humanName is the FHIR name of a PN value (nil when empty): family,
// given (the given name and the middle names, split on spaces), prefix
// and suffix; text is the name as written, components joined by spaces.
func humanName(pn string) *HumanName {
	p := nameParts(pn)
	n := &HumanName{Use: "official", Family: p[0]}
	n.Given = append(strings.Fields(p[1]), strings.Fields(p[2])...)
	n.Prefix = strings.Fields(p[3])
	n.Suffix = strings.Fields(p[4])
	var text []string
	for _, s := range [][]string{n.Prefix, n.Given, {n.Family}, n.Suffix} {
		for _, w := range s {
			if w != "" {
				text = append(text, w)
			}
		}
	}
	if len(text) == 0 {
		return nil
	}
	n.Text = strings.Join(text, " ")
	return n
}

// fhirGender maps Patient's Sex.
func fhirGender(sex string) string {
	switch strings.TrimSpace(sex) {
	case "M":
		return "male"
	case "F":
		return "female"
	case "O":
		return "other"
	}
	return "unknown"
}

// fhirDate turns a DICOM DA (YYYYMMDD, or the old YYYY.MM.DD) into a FHIR
// date; "" when it is not a valid date.
func fhirDate(da string) string {
	da = strings.TrimSpace(da)
	if len(da) == 10 && da[4] == '.' && da[7] == '.' {
		da = da[:4] + da[5:7] + da[8:]
	}
	t, err := time.Parse("20060102", da)
	if err != nil || len(da) != 8 {
		return ""
	}
	return t.Format("2006-01-02")
}

// fhirDateTime combines a DA, a TM and a UTC offset (+HHMM) into a FHIR
// dateTime. FHIR wants a zone with every time: without the study's
// offset, loc (when set) gives it; else the date alone is returned.
func fhirDateTime(da, tm, tz string, loc *time.Location) string {
	d := fhirDate(da)
	if d == "" {
		return ""
	}
	tm = strings.TrimSpace(tm)
	frac := ""
	if i := strings.IndexByte(tm, '.'); i >= 0 {
		tm, frac = tm[:i], tm[i+1:]
	}
	if len(tm) == 8 && tm[2] == ':' && tm[5] == ':' {
		tm = tm[:2] + tm[3:5] + tm[6:]
	}
	if len(tm) < 2 || !allDigits(tm) || !allDigits(frac) {
		return d
	}
	for len(tm) < 6 {
		tm += "00"
	}
	clock, err := time.Parse("150405", tm[:6])
	if err != nil {
		return d
	}
	zone := ""
	if z := strings.TrimSpace(tz); len(z) == 5 && (z[0] == '+' || z[0] == '-') && allDigits(z[1:]) {
		zone = z[:3] + ":" + z[3:]
	} else if loc != nil {
		day, _ := time.ParseInLocation("2006-01-02 150405", d+" "+tm[:6], loc)
		zone = day.Format("-07:00")
	} else {
		return d
	}
	s := d + "T" + clock.Format("15:04:05")
	if frac != "" {
		s += "." + frac
	}
	return s + zone
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// patientIdentifier is the FHIR identifier of a patient key: value the
// Patient ID; system the issuer when it is a URI, urn:oid:<issuer> when it
// is an OID, else no system and the issuer as the assigner's display.
func patientIdentifier(k PatientKey) []Identifier {
	if k.ID == "" {
		return nil
	}
	id := Identifier{Use: "usual", Value: k.ID, System: issuerSystem(k.Issuer)}
	if k.Issuer != "" && id.System == "" {
		id.Assigner = &Reference{Display: k.Issuer}
	}
	return []Identifier{id}
}

// issuerSystem is the identifier system of an Issuer of Patient ID ("" when
// it is neither a URI nor an OID).
func issuerSystem(issuer string) string {
	switch {
	case issuer == "":
		return ""
	case isOID(issuer):
		return "urn:oid:" + issuer
	case strings.HasPrefix(issuer, "urn:") || strings.HasPrefix(issuer, "http://") || strings.HasPrefix(issuer, "https://"):
		if !strings.ContainsAny(issuer, " \t") {
			return issuer
		}
	}
	return ""
}

func isOID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range strings.Split(s, ".") {
		if c == "" || !allDigits(c) || (len(c) > 1 && c[0] == '0') {
			return false
		}
	}
	return strings.Contains(s, ".")
}

// patientOf is the Patient resource of a study's patient attributes.
func patientOf(s *study) *Patient {
	p := &Patient{ResourceType: "Patient", ID: PatientLogicalID(s.Patient),
		Identifier: patientIdentifier(s.Patient), Gender: fhirGender(s.Sex), BirthDate: fhirDate(s.BirthDate)}
	if n := humanName(s.Name); n != nil {
		p.Name = []HumanName{*n}
	}
	return p
}

// studyIdentifiers are the identifiers of an ImagingStudy: the Study
// Instance UID (system urn:dicom:uid) and the accession number (type ACSN).
func studyIdentifiers(s *study) []Identifier {
	ids := []Identifier{{Use: "official", System: systemDICOMUID, Value: "urn:oid:" + s.UID}}
	if s.Accession != "" {
		ids = append(ids, Identifier{Use: "usual", Value: s.Accession,
			Type: &CodeableConcept{Coding: []Coding{{System: systemV2_0203, Code: "ACSN"}}}})
	}
	return ids
}

// seriesOf reads one series-level result.
func seriesOf(r *index.Result, loc *time.Location, tz string) StudySeries {
	se := StudySeries{Modality: Coding{System: systemDCM}}
	var date, tm string
	for _, a := range r.Attrs(index.LevelSeries) {
		v := first(a)
		switch a.Tag {
		case tagSeriesUID:
			se.UID = v
		case tagSeriesNumber:
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
				se.Number = &n
			}
		case tagModality:
			se.Modality.Code = strings.TrimSpace(v)
		case tagSeriesDescription:
			se.Description = v
		case tagBodyPartExamined:
			if v = strings.TrimSpace(v); v != "" {
				se.BodySite = &Coding{Display: v}
			}
		case tagNumSeriesInst:
			se.NumberOfInstances, _ = strconv.Atoi(strings.TrimSpace(v))
		case tagSeriesDate:
			date = v
		case tagSeriesTime:
			tm = v
		}
	}
	if se.Modality.Code == "" {
		se.Modality = Coding{System: systemDCM, Code: "OT"}
	}
	if date != "" {
		se.Started = fhirDateTime(date, tm, tz, loc)
	}
	return se
}

// instanceOf reads one instance-level result.
func instanceOf(r *index.Result) (series string, in SeriesInstance) {
	for _, a := range r.Attrs(index.LevelSeries) {
		if a.Tag == tagSeriesUID {
			series = first(a)
		}
	}
	for _, a := range r.Attrs(index.LevelInstance) {
		v := first(a)
		switch a.Tag {
		case tagSOPInstanceUID:
			in.UID = v
		case tagSOPClassUID:
			in.SOPClass = Coding{System: systemRFC3986, Code: "urn:oid:" + v}
		case tagInstanceNumber:
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
				in.Number = &n
			}
		}
	}
	return series, in
}

// sortSeries orders series by number (those without one last), then UID,
// and each series' instances the same way.
func sortSeries(ss []StudySeries) {
	less := func(a, b *int, ua, ub string) bool {
		switch {
		case a != nil && b != nil && *a != *b:
			return *a < *b
		case (a == nil) != (b == nil):
			return a != nil
		}
		return ua < ub
	}
	sort.SliceStable(ss, func(i, j int) bool { return less(ss[i].Number, ss[j].Number, ss[i].UID, ss[j].UID) })
	for k := range ss {
		in := ss[k].Instance
		sort.SliceStable(in, func(i, j int) bool { return less(in[i].Number, in[j].Number, in[i].UID, in[j].UID) })
	}
}
