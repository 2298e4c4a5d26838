package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/index"
)

// IHE Invoke Image Display (IID, IHE RAD TF-2 RAD-106): an EHR opens the
// images of a patient or of studies with one GET of
//
//	/IHEInvokeImageDisplay?requestType=STUDY&studyUID=1.2.3,1.2.4
//	/IHEInvokeImageDisplay?requestType=STUDY&accessionNumber=A123,A124
//	/IHEInvokeImageDisplay?requestType=PATIENT&patientID=123^^^ISSUER
//	    [&lowerDateTime=2024-01-01T00:00:00][&upperDateTime=...]
//	    [&mostRecentResults=N][&modalitiesInStudy=CT,MR]
//
// plus, on either, viewerType, diagnosticQuality and keyImagesOnly, which
// are accepted and ignored (OHIF is the only viewer; it always shows the
// stored pixels, all images). The studies are looked up in the index, only
// those of patients the principal may see (Config.PatientFilter); one to
// maxViewerStudies of them open in OHIF (303 to
// /viewer/viewer?StudyInstanceUIDs=uid1,uid2), more give a page listing
// them, none gives 404; an invalid request gives 400 with the reason.
// Responses never echo the request and no log line holds its values.

// iidPath is the path IID prescribes.
const iidPath = "/IHEInvokeImageDisplay"

const (
	// maxViewerStudies is the most studies a launch opens in OHIF at once;
	// more are listed on a page, each opening on its own.
	maxViewerStudies = 20
	// maxIIDMatches bounds the studies a launch collects (to sort them by
	// date for mostRecentResults): more is an error that asks for a
	// narrower request.
	maxIIDMatches = 1000
	// maxIIDListValues bounds the values of a studyUID or accessionNumber
	// list.
	maxIIDListValues = 100
)

// Searcher is what IID needs of the index: the study-level search.
type Searcher interface {
	Search(ctx context.Context, q index.Query, fn func(*index.Result) error) error
}

// iidRequest is a validated IID request.
type iidRequest struct {
	patient                    bool     // requestType=PATIENT (else STUDY)
	studyUIDs, accessions      []string // STUDY
	patientID, issuer          string   // PATIENT; or a STUDY consistency check
	lowDate, lowTime           string   // lowerDateTime as DA and TM ("" open)
	highDate, highTime         string   // upperDateTime
	mostRecent                 int      // 0: all
	modalities                 []string // ModalitiesInStudy, any of
	diagnosticQuality, keyOnly bool     // accepted, not applied
	viewerType                 string   // accepted, not applied
	hasLowerDate, hasUpperDate bool
}

// iidError is an invalid request: its text explains it without echoing
// any of the request's values.
type iidError struct{ msg string }

func (e *iidError) Error() string { return e.msg }

func iidErrorf(msg string) error { return &iidError{msg: msg} }

// The parameters of RAD-106, by the request types that take them.
var (
	iidParams        = []string{"requestType", "studyUID", "accessionNumber", "patientID", "lowerDateTime", "upperDateTime", "mostRecentResults", "modalitiesInStudy", "viewerType", "diagnosticQuality", "keyImagesOnly"}
	iidPatientParams = []string{"lowerDateTime", "upperDateTime", "mostRecentResults", "modalitiesInStudy"}
)

// parseIID validates the query string of an IID request. Parameters that
// RAD-106 does not define (access_token, a vendor's own) are ignored.
func parseIID(rawQuery string) (*iidRequest, error) {
	vals, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, iidErrorf("the query string is not valid URL encoding")
	}
	for _, p := range iidParams {
		if len(vals[p]) > 1 {
			return nil, iidErrorf("parameter " + p + " is given more than once")
		}
	}
	get := func(p string) (string, bool) {
		v, ok := vals[p]
		if !ok {
			return "", false
		}
		return strings.TrimSpace(v[0]), true
	}
	r := &iidRequest{}
	rt, _ := get("requestType")
	switch strings.ToUpper(rt) {
	case "STUDY":
	case "PATIENT":
		r.patient = true
	case "":
		return nil, iidErrorf("requestType is required: STUDY or PATIENT")
	default:
		return nil, iidErrorf("requestType must be STUDY or PATIENT")
	}

	studyUID, hasUID := get("studyUID")
	accession, hasAcc := get("accessionNumber")
	pid, hasPID := get("patientID")
	if r.patient {
		if hasUID || hasAcc {
			return nil, iidErrorf("studyUID and accessionNumber apply to requestType=STUDY only")
		}
		if !hasPID || pid == "" {
			return nil, iidErrorf("requestType=PATIENT needs patientID")
		}
	} else {
		for _, p := range iidPatientParams {
			if _, ok := vals[p]; ok {
				return nil, iidErrorf(p + " applies to requestType=PATIENT only")
			}
		}
		switch {
		case hasUID && hasAcc:
			return nil, iidErrorf("requestType=STUDY takes studyUID or accessionNumber, not both")
		case !hasUID && !hasAcc:
			return nil, iidErrorf("requestType=STUDY needs studyUID or accessionNumber")
		}
	}
	if hasUID {
		if r.studyUIDs, err = splitList(studyUID, "studyUID", func(s string) bool { return part10.ValidUID(s) }); err != nil {
			return nil, err
		}
	}
	if hasAcc {
		if r.accessions, err = splitList(accession, "accessionNumber", validAccession); err != nil {
			return nil, err
		}
	}
	if hasPID { // required for PATIENT; for STUDY, the studies must be this patient's
		if r.patientID, r.issuer, err = parsePatientID(pid); err != nil {
			return nil, err
		}
	}
	if v, ok := get("lowerDateTime"); ok {
		if r.lowDate, r.lowTime, err = parseIIDDateTime(v); err != nil {
			return nil, iidErrorf("lowerDateTime is not an ISO 8601 date or date and time (2024-01-31T08:00:00)")
		}
		r.hasLowerDate = true
	}
	if v, ok := get("upperDateTime"); ok {
		if r.highDate, r.highTime, err = parseIIDDateTime(v); err != nil {
			return nil, iidErrorf("upperDateTime is not an ISO 8601 date or date and time (2024-01-31T18:00:00)")
		}
		if r.highTime == "" {
			r.highTime = "235959.999999" // a date alone includes its whole day
		}
		r.hasUpperDate = true
	}
	if r.hasLowerDate && r.hasUpperDate && r.lowDate+r.lowTime > r.highDate+r.highTime {
		return nil, iidErrorf("lowerDateTime is after upperDateTime")
	}
	if v, ok := get("mostRecentResults"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, iidErrorf("mostRecentResults must be a positive integer")
		}
		r.mostRecent = n
	}
	if v, ok := get("modalitiesInStudy"); ok {
		if r.modalities, err = splitList(strings.ToUpper(v), "modalitiesInStudy", validModality); err != nil {
			return nil, err
		}
	}
	if v, ok := get("viewerType"); ok {
		if len(v) > 64 {
			return nil, iidErrorf("viewerType is too long")
		}
		r.viewerType = v
	}
	for _, p := range []struct {
		name string
		dst  *bool
	}{{"diagnosticQuality", &r.diagnosticQuality}, {"keyImagesOnly", &r.keyOnly}} {
		if v, ok := get(p.name); ok {
			switch strings.ToLower(v) {
			case "true":
				*p.dst = true
			case "false":
			default:
				return nil, iidErrorf(p.name + " must be true or false")
			}
		}
	}
	return r, nil
}

// splitList splits a comma-separated parameter and validates each value.
func splitList(v, name string, valid func(string) bool) ([]string, error) {
	parts := strings.Split(v, ",")
	if len(parts) > maxIIDListValues {
		return nil, iidErrorf(name + " lists more than " + strconv.Itoa(maxIIDListValues) + " values")
	}
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, iidErrorf(name + " has an empty value")
		}
		if !valid(p) {
			return nil, iidErrorf(name + " has an invalid value")
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// validAccession accepts a DICOM Accession Number (SH: at most 16
// characters, no backslash or control character). An HL7 issuer
// ("A123^ISSUER") is refused rather than ignored: matching without it
// could open another issuer's study.
func validAccession(s string) bool {
	return len(s) <= 16 && !strings.ContainsAny(s, `\^`) && printable(s)
}

// validModality accepts a DICOM code string (CS) such as CT.
func validModality(s string) bool {
	if len(s) > 16 {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == ' ') {
			return false
		}
	}
	return true
}

func printable(s string) bool {
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// parsePatientID reads an HL7 CX patient identifier, "ID^^^ISSUER": the
// ID is its first component; the issuer its fourth, an HD whose namespace
// ID (or, without one, universal ID) is compared with Issuer of Patient
// ID (0010,0021). Without an issuer the ID matches in every issuer.
func parsePatientID(v string) (id, issuer string, err error) {
	comps := strings.Split(v, "^")
	id = strings.TrimSpace(comps[0])
	if id == "" || len(id) > 64 || strings.Contains(id, `\`) || !printable(id) {
		return "", "", iidErrorf("patientID must be ID or ID^^^ISSUER, the ID at most 64 characters")
	}
	if len(comps) >= 4 {
		hd := strings.Split(comps[3], "&")
		issuer = strings.TrimSpace(hd[0])
		if issuer == "" && len(hd) > 1 {
			issuer = strings.TrimSpace(hd[1])
		}
	}
	if len(issuer) > 64 || strings.Contains(issuer, `\`) || !printable(issuer) {
		return "", "", iidErrorf("patientID has an invalid issuer")
	}
	return id, issuer, nil
}

// iidDateTimeLayouts are the ISO 8601 forms lowerDateTime and
// upperDateTime may take.
var iidDateTimeLayouts = []string{
	"2006-01-02T15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04Z07:00", "2006-01-02T15:04",
	"2006-01-02",
}

// parseIIDDateTime turns an ISO 8601 date or date-time into a DICOM date
// and time (time "" for a date alone). A UTC offset converts the instant
// to the server's local time, the time zone DICOM's StudyDate and
// StudyTime are assumed to be in; without one the value is that local
// time already.
func parseIIDDateTime(v string) (da, tm string, err error) {
	for _, layout := range iidDateTimeLayouts {
		t, err := time.Parse(layout, v)
		if err != nil {
			continue
		}
		if strings.HasSuffix(layout, "Z07:00") {
			t = t.In(time.Local)
		}
		if layout == "2006-01-02" {
			return t.Format("20060102"), "", nil
		}
		return t.Format("20060102"), t.Format("150405.000000"), nil
	}
	return "", "", errors.New("not an ISO 8601 date-time")
}

// Study-level tags IID reads and filters on.
const (
	tagStudyDate         = 0x00080020
	tagStudyTime         = 0x00080030
	tagAccessionNumber   = 0x00080050
	tagModalitiesInStudy = 0x00080061
	tagStudyDescription  = 0x00081030
	tagPatientID         = 0x00100020
	tagIssuerOfPatientID = 0x00100021
	tagStudyInstanceUID  = 0x0020000D
)

// query is the index search of r: the UIDs, accession numbers, patient,
// date range (by day: the times are compared on each result, see keep)
// and modalities.
func (r *iidRequest) query() index.Query {
	q := index.Query{Level: index.LevelStudy}
	add := func(tag uint32, vr string, vals []string) {
		k := index.MatchSingle
		if len(vals) > 1 {
			k = index.MatchList
		}
		q.Filters = append(q.Filters, index.Filter{Tag: tag, VR: vr, Kind: k, Values: vals})
	}
	if len(r.studyUIDs) > 0 {
		add(tagStudyInstanceUID, "UI", r.studyUIDs)
	}
	if len(r.accessions) > 0 {
		add(tagAccessionNumber, "SH", r.accessions)
	}
	if r.patientID != "" {
		add(tagPatientID, "LO", []string{r.patientID})
		if r.issuer != "" {
			add(tagIssuerOfPatientID, "LO", []string{r.issuer})
		}
	}
	if r.hasLowerDate || r.hasUpperDate {
		q.Filters = append(q.Filters, index.Filter{Tag: tagStudyDate, VR: "DA", Kind: index.MatchRange, Low: r.lowDate, High: r.highDate})
	}
	if len(r.modalities) > 0 {
		q.Filters = append(q.Filters, index.Filter{Tag: tagModalitiesInStudy, VR: "CS", Kind: index.MatchList, Values: r.modalities})
	}
	return q
}

// iidStudy is one study a launch found, as the list page shows it.
type iidStudy struct {
	UID, Date, Time, Description, Accession string
	Modalities                              []string
	patientID, issuer                       string
}

// when is the study's date and time, comparable as a string.
func (s *iidStudy) when() string {
	t := s.Time
	if i := strings.IndexByte(t, '.'); i >= 0 {
		t = t[:i]
	}
	t = strings.ReplaceAll(t, ":", "") // ACR-NEMA style times
	if len(t) < 6 {
		t += "000000"[len(t):] // 0800 is 080000
	}
	return s.Date + t
}

// keep applies the time of day of the date range: the index compared
// days only. A study without a time is kept when its day is in range.
func (r *iidRequest) keep(s *iidStudy) bool {
	if s.Time == "" {
		return true
	}
	w := s.when()
	if r.hasLowerDate && r.lowTime != "" && s.Date == r.lowDate && w < r.lowDate+strings.SplitN(r.lowTime, ".", 2)[0] {
		return false
	}
	if r.hasUpperDate && s.Date == r.highDate && w > r.highDate+strings.SplitN(r.highTime, ".", 2)[0] {
		return false
	}
	return true
}

func studyOfResult(res *index.Result) iidStudy {
	var s iidStudy
	rd := res.Reader(index.LevelStudy)
	for {
		a, ok := rd.Next()
		if !ok {
			return s
		}
		var first string
		vals := a.Values()
		if len(vals) > 0 {
			first = vals[0]
		}
		switch a.Tag {
		case tagStudyInstanceUID:
			s.UID = first
		case tagStudyDate:
			s.Date = first
		case tagStudyTime:
			s.Time = first
		case tagAccessionNumber:
			s.Accession = first
		case tagStudyDescription:
			s.Description = first
		case tagModalitiesInStudy:
			s.Modalities = vals
		case tagPatientID:
			s.patientID = first
		case tagIssuerOfPatientID:
			s.issuer = first
		}
	}
}

// errTooMany stops a search that found more than maxIIDMatches studies.
var errTooMany = errors.New("iid: too many studies")

// findStudies runs r on the index, keeping only the studies of patients
// the request's principal may see, most recent first (then by UID), cut
// to mostRecentResults.
func (s *Server) findStudies(ctx context.Context, r *iidRequest) ([]iidStudy, error) {
	var allow func(id, issuer string) bool
	if s.patients != nil {
		allow = s.patients(ctx)
	}
	var out []iidStudy
	err := s.search.Search(ctx, r.query(), func(res *index.Result) error {
		st := studyOfResult(res)
		if st.UID == "" || !r.keep(&st) || (allow != nil && !allow(st.patientID, st.issuer)) {
			return nil
		}
		if len(out) == maxIIDMatches {
			return errTooMany
		}
		out = append(out, st)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b iidStudy) int {
		if c := cmp.Compare(b.when(), a.when()); c != 0 {
			return c
		}
		return cmp.Compare(a.UID, b.UID)
	})
	if r.mostRecent > 0 && len(out) > r.mostRecent {
		out = out[:r.mostRecent]
	}
	return out, nil
}

// invokeImageDisplay handles GET /IHEInvokeImageDisplay.
func (s *Server) invokeImageDisplay(c echo.Context) error {
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	r, err := parseIID(c.Request().URL.RawQuery)
	if err != nil {
		var ie *iidError
		if errors.As(err, &ie) {
			return textError(c, http.StatusBadRequest, "Invalid IHE Invoke Image Display request: "+ie.msg+".")
		}
		return err
	}
	if s.search == nil {
		return textError(c, http.StatusServiceUnavailable, "Image display is not available: no index.")
	}
	studies, err := s.findStudies(c.Request().Context(), r)
	switch {
	case errors.Is(err, errTooMany):
		return textError(c, http.StatusBadRequest, "Invalid IHE Invoke Image Display request: more than "+
			strconv.Itoa(maxIIDMatches)+" studies match; narrow it with lowerDateTime, upperDateTime, modalitiesInStudy or mostRecentResults.")
	case err != nil:
		return err
	}
	// Counts only: the request's values are patient data.
	s.log.Debug("iid: launch", "patient_request", r.patient, "studies", len(studies))
	switch {
	case len(studies) == 0:
		return textError(c, http.StatusNotFound, "No study matches this image display request (or you may not see it).")
	case len(studies) <= maxViewerStudies:
		uids := make([]string, len(studies))
		for i, st := range studies {
			uids[i] = st.UID
		}
		return c.Redirect(http.StatusSeeOther, ohifStudiesURL(uids...))
	}
	return s.iidList(c, studies)
}

// ohifStudiesURL is OHIF's viewer route for the studies: UIDs need no
// escaping (digits and dots), OHIF splits the list on commas.
func ohifStudiesURL(uids ...string) string {
	return viewerPrefix + "/viewer?StudyInstanceUIDs=" + strings.Join(uids, ",")
}

var iidListPage = template.Must(template.New("list").Funcs(template.FuncMap{
	"viewerURL": func(uid string) string { return ohifStudiesURL(uid) },
	"date": func(da string) string {
		if len(da) == 8 {
			return da[:4] + "-" + da[4:6] + "-" + da[6:]
		}
		return da
	},
	"join": strings.Join,
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Studies — minipacs</title>
<link rel="stylesheet" href="/web/app.css"></head>
<body><main>
<h1>{{len .}} studies</h1>
<p>More studies match than open together; choose one (most recent first).</p>
<table id="iid-studies"><thead><tr><th>Date</th><th>Description</th><th>Modalities</th><th>Accession</th></tr></thead>
<tbody>{{range .}}<tr data-study="{{.UID}}"><td><a href="{{viewerURL .UID}}">{{date .Date}}</a></td><td>{{.Description}}</td><td>{{join .Modalities ", "}}</td><td>{{.Accession}}</td></tr>
{{end}}</tbody></table>
</main></body></html>
`))

// iidList is the page of a launch that matched more studies than open
// together in OHIF: each links to OHIF with that study.
func (s *Server) iidList(c echo.Context, studies []iidStudy) error {
	h := c.Response().Header()
	securityHeaders(h, browserCSP)
	h.Set("Cache-Control", "no-store")
	h.Set(echo.HeaderContentType, "text/html; charset=utf-8")
	if c.Request().Method == http.MethodHead {
		return c.NoContent(http.StatusOK)
	}
	c.Response().WriteHeader(http.StatusOK)
	if err := iidListPage.Execute(c.Response(), studies); err != nil {
		return fmt.Errorf("iid: list page: %w", err)
	}
	return nil
}
