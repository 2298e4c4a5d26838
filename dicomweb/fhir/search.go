package fhir

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/index"
	"golang.org/x/text/unicode/norm"
)

// paramError is a client mistake in a search: 400 with an OperationOutcome
// (code is the issue type). Its message holds no request input but a
// validated parameter name.
type paramError struct{ code, msg string }

func (e *paramError) Error() string { return e.msg }

func invalid(name, format string, a ...any) error {
	return &paramError{"invalid", name + ": " + fmt.Sprintf(format, a...)}
}

// studySearch is a search over the study records of the index: index
// filters narrow the walk, and the predicates (which alone decide) test
// each study. Every parameter adds a predicate; where the index can match
// it exactly or more widely, it adds a filter too.
type studySearch struct {
	q     index.Query
	preds []func(*study) bool
}

// narrow adds an index filter unless one on the tag is there already
// (the predicates still decide).
func (f *studySearch) narrow(fl index.Filter) {
	for _, g := range f.q.Filters {
		if g.Tag == fl.Tag {
			return
		}
	}
	f.q.Filters = append(f.q.Filters, fl)
}

func (f *studySearch) test(st *study) bool {
	for _, p := range f.preds {
		if !p(st) {
			return false
		}
	}
	return true
}

// paramDef is one supported search parameter.
type paramDef struct {
	typ, definition, doc string
	// apply adds the parameter, each of whose values (one per
	// occurrence, ANDed) is a comma-separated list (ORed).
	apply func(f *studySearch, name string, values [][]string) error
}

// searchParams are the supported parameters per resource type.
var searchParams = map[string]map[string]paramDef{
	"Patient": {
		"_id":        {"token", "http://hl7.org/fhir/SearchParameter/Resource-id", "logical id", patientIDParam},
		"identifier": {"token", "http://hl7.org/fhir/SearchParameter/Patient-identifier", "Patient ID (0010,0020); system: the Issuer of Patient ID as a URI or urn:oid", identifierParam},
		"name":       {"string", "http://hl7.org/fhir/SearchParameter/Patient-name", "starts any name part, case and accent insensitive", nameParam(namePartAny)},
		"family":     {"string", "http://hl7.org/fhir/SearchParameter/individual-family", "starts the family name", nameParam(namePartFamily)},
		"given":      {"string", "http://hl7.org/fhir/SearchParameter/individual-given", "starts a given or middle name", nameParam(namePartGiven)},
		"birthdate":  {"date", "http://hl7.org/fhir/SearchParameter/individual-birthdate", "eq, ne, gt, lt, ge, le; date precision", dateParam(tagPatientBirthDate, func(st *study) string { return st.BirthDate })},
		"gender":     {"token", "http://hl7.org/fhir/SearchParameter/individual-gender", "male, female, other, unknown", genderParam},
	},
	"ImagingStudy": {
		"_id":        {"token", "http://hl7.org/fhir/SearchParameter/Resource-id", "logical id (the Study Instance UID)", studyIDParam},
		"identifier": {"token", "http://hl7.org/fhir/SearchParameter/ImagingStudy-identifier", "urn:dicom:uid|urn:oid:<Study Instance UID>, or the accession number", studyIdentifierParam},
		"patient":    {"reference", "http://hl7.org/fhir/SearchParameter/clinical-patient", "Patient/{id}", patientRefParam},
		"started":    {"date", "http://hl7.org/fhir/SearchParameter/ImagingStudy-started", "Study Date; eq, ne, gt, lt, ge, le; date precision", dateParam(tagStudyDate, func(st *study) string { return st.Date })},
		"modality":   {"token", "http://hl7.org/fhir/SearchParameter/ImagingStudy-modality", "DCM modality code (Modalities in Study)", modalityParam},
	},
	"Endpoint": {
		"_id": {"token", "http://hl7.org/fhir/SearchParameter/Resource-id", "logical id", nil},
	},
}

// resultParams are the result parameters understood by every search.
var resultParams = map[string]bool{"_count": true, "_offset": true, "_format": true}

// splitOr splits a parameter value on unescaped commas ("\," is a comma).
func splitOr(v string) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(v); i++ {
		switch {
		case v[i] == '\\' && i+1 < len(v) && (v[i+1] == ',' || v[i+1] == '\\' || v[i+1] == '|' || v[i+1] == '$'):
			cur.WriteByte(v[i+1])
			i++
		case v[i] == ',':
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(v[i])
		}
	}
	return append(out, cur.String())
}

// token splits a token value: system|code, |code (no system) or code
// (any system).
func token(v string) (system string, hasSystem bool, code string) {
	if i := strings.IndexByte(v, '|'); i >= 0 {
		return v[:i], true, v[i+1:]
	}
	return "", false, v
}

func single(values [][]string) (string, bool) {
	if len(values) == 1 && len(values[0]) == 1 {
		return values[0][0], true
	}
	return "", false
}

// all makes a predicate true when, for every occurrence, one of its
// values passes test.
func all(values [][]string, test func(v string, st *study) bool) func(*study) bool {
	return func(st *study) bool {
		for _, or := range values {
			ok := false
			for _, v := range or {
				if test(v, st) {
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
}

func exact(tag uint32, vr, v string) index.Filter {
	return index.Filter{Tag: tag, VR: vr, Kind: index.MatchSingle, Values: []string{v}}
}

func patientIDParam(f *studySearch, name string, values [][]string) error {
	if v, ok := single(values); ok {
		if k, hashed, ok := parsePatientID(v); ok && !hashed && k.ID != "" {
			f.narrow(exact(tagPatientID, "LO", k.ID))
		}
	}
	f.preds = append(f.preds, all(values, func(v string, st *study) bool { return PatientLogicalID(st.Patient) == v }))
	return nil
}

// identifierMatches reports whether a patient's identifier matches a
// token: the value is the Patient ID; a system is the issuer's system
// (or the issuer as given); an empty system asks for no system.
func identifierMatches(k PatientKey, v string) bool {
	system, hasSystem, code := token(v)
	if k.ID == "" || code != k.ID {
		return false
	}
	if !hasSystem {
		return true
	}
	if system == "" {
		return issuerSystem(k.Issuer) == ""
	}
	return system == issuerSystem(k.Issuer) || system == k.Issuer
}

func identifierParam(f *studySearch, name string, values [][]string) error {
	if v, ok := single(values); ok {
		if _, _, code := token(v); code != "" {
			f.narrow(exact(tagPatientID, "LO", code))
		}
	}
	f.preds = append(f.preds, all(values, func(v string, st *study) bool { return identifierMatches(st.Patient, v) }))
	return nil
}

// fold is s in lower case without accents, for string search.
func fold(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

type namePart int

const (
	namePartAny namePart = iota
	namePartFamily
	namePartGiven
)

// nameParam searches the patient's name: a value matches when it starts
// one of the parts (FHIR string search: case and accent insensitive).
func nameParam(part namePart) func(f *studySearch, name string, values [][]string) error {
	return func(f *studySearch, name string, values [][]string) error {
		for i := range values {
			for j := range values[i] {
				values[i][j] = fold(values[i][j])
			}
		}
		f.preds = append(f.preds, all(values, func(v string, st *study) bool {
			n := humanName(st.Name)
			if n == nil {
				return false
			}
			var fields []string
			switch part {
			case namePartFamily:
				fields = []string{n.Family}
			case namePartGiven:
				fields = n.Given
			default:
				fields = append(append(append([]string{n.Family, n.Text}, n.Given...), n.Prefix...), n.Suffix...)
			}
			for _, s := range fields {
				if strings.HasPrefix(fold(s), v) {
					return true
				}
			}
			return false
		}))
		return nil
	}
}

// dateRange is a FHIR date parameter: its prefix and the first and last
// day (YYYYMMDD) of its value's precision.
type dateRange struct {
	prefix, lo, hi string
}

func parseDate(name, v string) (dateRange, error) {
	d := dateRange{prefix: "eq"}
	if len(v) >= 2 && v[0] >= 'a' && v[0] <= 'z' {
		d.prefix, v = v[:2], v[2:]
		switch d.prefix {
		case "eq", "ne", "gt", "lt", "ge", "le":
		default:
			return d, invalid(name, "unsupported date prefix (eq, ne, gt, lt, ge, le)")
		}
	}
	if strings.ContainsAny(v, "T") {
		return d, &paramError{"not-supported", name + ": only date precision (YYYY, YYYY-MM, YYYY-MM-DD) is supported"}
	}
	var y, m, day int
	var err error
	switch len(v) {
	case 4, 7, 10:
	default:
		return d, invalid(name, "not a date (YYYY, YYYY-MM or YYYY-MM-DD)")
	}
	parts := strings.Split(v, "-")
	nums := make([]int, len(parts))
	for i, p := range parts {
		if !allDigits(p) || (i == 0 && len(p) != 4) || (i > 0 && len(p) != 2) {
			return d, invalid(name, "not a date (YYYY, YYYY-MM or YYYY-MM-DD)")
		}
		nums[i], err = strconv.Atoi(p)
		if err != nil {
			return d, invalid(name, "not a date")
		}
	}
	y = nums[0]
	switch len(nums) {
	case 1:
		d.lo, d.hi = fmt.Sprintf("%04d0101", y), fmt.Sprintf("%04d1231", y)
	case 2:
		m = nums[1]
		if m < 1 || m > 12 {
			return d, invalid(name, "month out of range")
		}
		d.lo, d.hi = fmt.Sprintf("%04d%02d01", y, m), fmt.Sprintf("%04d%02d%02d", y, m, daysIn(y, m))
	case 3:
		m, day = nums[1], nums[2]
		if m < 1 || m > 12 || day < 1 || day > daysIn(y, m) {
			return d, invalid(name, "day or month out of range")
		}
		d.lo = fmt.Sprintf("%04d%02d%02d", y, m, day)
		d.hi = d.lo
	default:
		return d, invalid(name, "not a date")
	}
	return d, nil
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// match reports whether a day (YYYYMMDD) satisfies d.
func (d dateRange) match(day string) bool {
	switch d.prefix {
	case "ne":
		return day < d.lo || day > d.hi
	case "gt":
		return day > d.hi
	case "lt":
		return day < d.lo
	case "ge":
		return day >= d.lo
	case "le":
		return day <= d.hi
	}
	return day >= d.lo && day <= d.hi
}

// dateParam searches a DA attribute of the study record.
func dateParam(tag uint32, get func(*study) string) func(f *studySearch, name string, values [][]string) error {
	return func(f *studySearch, name string, values [][]string) error {
		ranges := make([][]dateRange, len(values))
		for i, or := range values {
			for _, v := range or {
				d, err := parseDate(name, v)
				if err != nil {
					return err
				}
				ranges[i] = append(ranges[i], d)
			}
		}
		if len(ranges) == 1 && len(ranges[0]) == 1 && ranges[0][0].prefix != "ne" {
			d := ranges[0][0]
			fl := index.Filter{Tag: tag, VR: "DA", Kind: index.MatchRange}
			switch d.prefix {
			case "eq":
				fl.Low, fl.High = d.lo, d.hi
			case "gt", "ge":
				fl.Low = d.lo
			case "lt", "le":
				fl.High = d.hi
			}
			f.narrow(fl)
		}
		f.preds = append(f.preds, func(st *study) bool {
			day := strings.ReplaceAll(fhirDate(get(st)), "-", "")
			if day == "" {
				return false
			}
			for _, or := range ranges {
				ok := false
				for _, d := range or {
					if d.match(day) {
						ok = true
						break
					}
				}
				if !ok {
					return false
				}
			}
			return true
		})
		return nil
	}
}

var genderCodes = map[string]string{"male": "M", "female": "F", "other": "O", "unknown": ""}

func genderParam(f *studySearch, name string, values [][]string) error {
	for _, or := range values {
		for _, v := range or {
			system, hasSystem, code := token(v)
			if hasSystem && system != "http://hl7.org/fhir/administrative-gender" {
				return invalid(name, "unknown system")
			}
			if _, ok := genderCodes[code]; !ok {
				return invalid(name, "not one of male, female, other, unknown")
			}
		}
	}
	if v, ok := single(values); ok {
		if _, _, code := token(v); genderCodes[code] != "" {
			f.narrow(exact(tagPatientSex, "CS", genderCodes[code]))
		}
	}
	f.preds = append(f.preds, all(values, func(v string, st *study) bool {
		_, _, code := token(v)
		return fhirGender(st.Sex) == code
	}))
	return nil
}

func studyIDParam(f *studySearch, name string, values [][]string) error {
	if v, ok := single(values); ok && part10.ValidUID(v) {
		f.narrow(exact(tagStudyUID, "UI", v))
	}
	f.preds = append(f.preds, all(values, func(v string, st *study) bool { return ImagingStudyID(st.UID) == v }))
	return nil
}

// studyIdentifier reads an ImagingStudy identifier token: a Study
// Instance UID (system urn:dicom:uid, or no system and an urn:oid: value)
// or an accession number (no system or an empty one). never is true for
// a token no identifier of ours can match (another system).
func studyIdentifier(v string) (uid, accession string, never bool) {
	system, hasSystem, code := token(v)
	switch {
	case hasSystem && system == systemDICOMUID:
		return strings.TrimPrefix(code, "urn:oid:"), "", false
	case hasSystem && system != "":
		return "", "", true
	case !hasSystem && strings.HasPrefix(code, "urn:oid:"):
		return strings.TrimPrefix(code, "urn:oid:"), "", false
	}
	return "", code, false
}

func studyIdentifierParam(f *studySearch, name string, values [][]string) error {
	for _, or := range values {
		for _, v := range or {
			if uid, _, _ := studyIdentifier(v); uid != "" && !part10.ValidUID(uid) {
				return invalid(name, "invalid UID")
			}
		}
	}
	if v, ok := single(values); ok {
		uid, acc, never := studyIdentifier(v)
		switch {
		case never:
		case uid != "":
			f.narrow(exact(tagStudyUID, "UI", uid))
		case acc != "":
			f.narrow(exact(tagAccession, "SH", acc))
		}
	}
	f.preds = append(f.preds, all(values, func(v string, st *study) bool {
		uid, acc, never := studyIdentifier(v)
		switch {
		case never:
			return false
		case uid != "":
			return st.UID == uid
		}
		return acc != "" && st.Accession == acc
	}))
	return nil
}

// patientRef reads a patient reference: Patient/{id}, {id}, or an
// absolute URL ending in Patient/{id}.
func patientRef(name, v string) (string, error) {
	if i := strings.LastIndex(v, "Patient/"); i >= 0 {
		v = v[i+len("Patient/"):]
	} else if strings.Contains(v, "/") {
		return "", invalid(name, "not a Patient reference")
	}
	if v == "" || strings.ContainsAny(v, "/") {
		return "", invalid(name, "not a Patient reference")
	}
	return v, nil
}

func patientRefParam(f *studySearch, name string, values [][]string) error {
	for i, or := range values {
		for j, v := range or {
			id, err := patientRef(name, v)
			if err != nil {
				return err
			}
			values[i][j] = id
		}
	}
	return patientIDParam(f, name, values)
}

func modalityParam(f *studySearch, name string, values [][]string) error {
	if v, ok := single(values); ok {
		if system, hasSystem, code := token(v); (!hasSystem || system == systemDCM) && code != "" {
			f.narrow(exact(tagModalitiesInStudy, "CS", code))
		}
	}
	f.preds = append(f.preds, all(values, func(v string, st *study) bool {
		system, hasSystem, code := token(v)
		if hasSystem && system != systemDCM {
			return false
		}
		for _, m := range st.Modalities {
			if m == code {
				return true
			}
		}
		return false
	}))
	return nil
}

// searchRequest is a parsed search: the study search, paging and the
// warnings about ignored parameters.
type searchRequest struct {
	f             studySearch
	count, offset int
	params        url.Values
	warnings      []Issue
}

// parseSearch validates the query of a search of typ.
func parseSearch(typ string, raw string) (*searchRequest, error) {
	params, err := url.ParseQuery(raw)
	if err != nil {
		return nil, &paramError{"invalid", "malformed query string"}
	}
	defs := searchParams[typ]
	sr := &searchRequest{count: DefaultCount, params: params}
	sr.f.q.Level = index.LevelStudy
	for _, name := range sortedKeys(params) {
		vals := params[name]
		base, modifier, hasModifier := strings.Cut(name, ":")
		switch {
		case name == "_count" || name == "_offset":
			n, err := strconv.Atoi(vals[len(vals)-1])
			if err != nil || n < 0 {
				return nil, invalid(name, "not a non-negative integer")
			}
			if name == "_offset" {
				sr.offset = n
			} else {
				sr.count = min(n, MaxCount)
			}
			continue
		case resultParams[name]:
			continue
		}
		def, known := defs[base]
		if !known {
			sr.warnings = append(sr.warnings, Issue{Severity: "warning", Code: "not-supported",
				Diagnostics: "search parameter ignored: not supported", Expression: []string{safeName(name)}})
			continue
		}
		if hasModifier {
			_ = modifier
			return nil, &paramError{"not-supported", base + ": modifiers are not supported"}
		}
		var values [][]string
		for _, v := range vals {
			if v == "" {
				continue // FHIR: an empty parameter value is ignored
			}
			values = append(values, splitOr(v))
		}
		if len(values) == 0 || def.apply == nil {
			if def.apply == nil && len(values) > 0 {
				v := values
				sr.f.preds = append(sr.f.preds, all(v, func(s string, _ *study) bool { return s == EndpointID }))
			}
			continue
		}
		if err := def.apply(&sr.f, base, values); err != nil {
			return nil, err
		}
	}
	return sr, nil
}

// safeName is a parameter name fit for an OperationOutcome: letters,
// digits and -_:. only, at most 64 characters.
func safeName(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.Map(func(r rune) rune {
		if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("-_:.", r)) {
			return r
		}
		return '?'
	}, s)
}

// errStop ends a walk early.
var errStop = errors.New("fhir: enough results")

// scanStudies walks the studies that f selects and the request may see.
func (s *Server) scanStudies(ctx context.Context, f *studySearch, allow func(id, issuer string) bool, fn func(*study) error) error {
	return s.idx.Search(ctx, f.q, func(r *index.Result) error {
		st := studyOf(r)
		if allow != nil && !allow(st.Patient.ID, st.Patient.Issuer) {
			return nil
		}
		if !f.test(st) {
			return nil
		}
		return fn(st)
	})
}

// findPatient finds the first study of the patient with the logical id.
func (s *Server) findPatient(ctx context.Context, id string) (*study, error) {
	f := &studySearch{q: index.Query{Level: index.LevelStudy}}
	if err := patientIDParam(f, "_id", [][]string{{id}}); err != nil {
		return nil, err
	}
	if _, _, ok := parsePatientID(id); !ok {
		return nil, errNotFound
	}
	return s.firstStudy(ctx, f)
}

// findStudy finds the study with the ImagingStudy id.
func (s *Server) findStudy(ctx context.Context, id string) (*study, error) {
	uid, ok := parseImagingStudyID(id)
	if !ok {
		return nil, errNotFound
	}
	f := &studySearch{q: index.Query{Level: index.LevelStudy}}
	studyIDParam(f, "_id", [][]string{{uid}})
	return s.firstStudy(ctx, f)
}

func (s *Server) firstStudy(ctx context.Context, f *studySearch) (*study, error) {
	var found *study
	err := s.scanStudies(ctx, f, s.allow(ctx), func(st *study) error {
		found = st
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	if found == nil {
		return nil, errNotFound
	}
	return found, nil
}

// imagingStudy builds the ImagingStudy of st: its series from a series
// search, their instances from an instance search (at most maxInst).
func (s *Server) imagingStudy(ctx context.Context, r *http.Request, st *study) (*ImagingStudy, error) {
	endpoint := []Reference{{Reference: "Endpoint/" + EndpointID}}
	is := &ImagingStudy{
		ResourceType: "ImagingStudy", ID: ImagingStudyID(st.UID), Identifier: studyIdentifiers(st),
		Status: "available", Subject: Reference{Reference: "Patient/" + PatientLogicalID(st.Patient)},
		Started: fhirDateTime(st.Date, st.Time, st.TZ, s.loc), Endpoint: endpoint,
		NumberOfSeries: st.NumSeries, NumberOfInstances: st.NumInstances, Description: st.Description,
	}
	if n := humanName(st.Name); n != nil {
		is.Subject.Display = n.Text
	}
	for _, m := range st.Modalities {
		is.Modality = append(is.Modality, Coding{System: systemDCM, Code: m})
	}
	pos := map[string]int{}
	err := s.idx.Search(ctx, index.Query{Level: index.LevelSeries, StudyUID: st.UID}, func(res *index.Result) error {
		se := seriesOf(res, s.loc, st.TZ)
		pos[se.UID] = len(is.Series)
		is.Series = append(is.Series, se)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fhir: series of a study: %w", err)
	}
	err = s.idx.Search(ctx, index.Query{Level: index.LevelInstance, StudyUID: st.UID, Limit: s.maxInst}, func(res *index.Result) error {
		series, in := instanceOf(res)
		if i, ok := pos[series]; ok {
			is.Series[i].Instance = append(is.Series[i].Instance, in)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fhir: instances of a study: %w", err)
	}
	sortSeries(is.Series)
	return is, nil
}

// search serves GET /fhir/{type}.
func (s *Server) search(c echo.Context) error {
	mime, ok := s.format(c)
	if !ok {
		return nil
	}
	typ := c.Param("type")
	if s.recordType(typ) {
		return s.searchRecords(c, mime, typ)
	}
	if _, ok := searchParams[typ]; !ok {
		return s.outcome(c, http.StatusNotFound, "not-supported", "resource type not supported")
	}
	r := c.Request()
	sr, err := parseSearch(typ, r.URL.RawQuery)
	if err != nil {
		status := s.failure(c, err, "search")
		if typ != "Endpoint" {
			s.report(c, AccessSearched, typ, status, nil)
		}
		return nil
	}
	base := s.fhirBase(r)
	ctx := r.Context()
	b := newBundle(c, mime)
	if len(sr.warnings) > 0 {
		b.add(bundleEntry{Resource: &OperationOutcome{ResourceType: "OperationOutcome", Issue: sr.warnings}, Search: entrySearch{Mode: "outcome"}})
	}
	var touched []StudyAccess
	n, more := 0, false
	// page gives each match in turn: true when it is on the page.
	page := func() (bool, error) {
		n++
		switch {
		case n <= sr.offset:
			return false, nil
		case n > sr.offset+sr.count && sr.count > 0:
			more = true
			return false, errStop
		case sr.count == 0:
			return false, nil
		}
		return true, nil
	}
	switch typ {
	case "Endpoint":
		if sr.f.test(&study{}) {
			if on, _ := page(); on {
				err = b.add(bundleEntry{FullURL: base + "/Endpoint/" + EndpointID, Resource: s.endpoint(r), Search: entrySearch{"match"}})
			}
		}
	case "Patient":
		seen := map[PatientKey]bool{}
		err = s.scanStudies(ctx, &sr.f, s.allow(ctx), func(st *study) error {
			if seen[st.Patient] {
				return nil
			}
			seen[st.Patient] = true
			on, err := page()
			if !on || err != nil {
				return err
			}
			touched = append(touched, accessOf(st, false))
			p := patientOf(st)
			return b.add(bundleEntry{FullURL: base + "/Patient/" + p.ID, Resource: p, Search: entrySearch{"match"}})
		})
	case "ImagingStudy":
		err = s.scanStudies(ctx, &sr.f, s.allow(ctx), func(st *study) error {
			on, err := page()
			if !on || err != nil {
				return err
			}
			touched = append(touched, accessOf(st, true))
			is, err := s.imagingStudy(ctx, r, st)
			if err != nil {
				return err
			}
			return b.add(bundleEntry{FullURL: base + "/ImagingStudy/" + is.ID, Resource: is, Search: entrySearch{"match"}})
		})
	}
	if err != nil && !errors.Is(err, errStop) {
		// The status is sent: the client sees a truncated body.
		s.log.Error("fhir search", "type", typ, "err", err)
		if typ != "Endpoint" {
			s.report(c, AccessSearched, typ, http.StatusInternalServerError, touched)
		}
		return nil
	}
	total := -1
	if !more {
		total = n
	}
	b.close(total, s.links(base, typ, sr, more))
	if typ != "Endpoint" {
		s.report(c, AccessSearched, typ, http.StatusOK, touched)
	}
	return nil
}

// links are the self and (when there are more results) next links of a
// search page.
func (s *Server) links(base, typ string, sr *searchRequest, more bool) []bundleLink {
	q := url.Values{}
	for k, v := range sr.params {
		if k != "_format" {
			q[k] = v
		}
	}
	q.Set("_count", strconv.Itoa(sr.count))
	q.Set("_offset", strconv.Itoa(sr.offset))
	links := []bundleLink{{"self", base + "/" + typ + "?" + q.Encode()}}
	if more {
		q.Set("_offset", strconv.Itoa(sr.offset+sr.count))
		links = append(links, bundleLink{"next", base + "/" + typ + "?" + q.Encode()})
	}
	return links
}
