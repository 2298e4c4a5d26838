package web

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/security/auth"
	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/index/indextest"
)

// The studies of the IID tests (openIIDIndex).
const (
	iidS1 = indextest.UIDRoot + ".901" // P1^^^HOSP 2024-01-10 08:00 CT ACC1
	iidS2 = indextest.UIDRoot + ".902" // P1^^^HOSP 2024-01-10 14:30 MR ACC2
	iidS3 = indextest.UIDRoot + ".903" // P1^^^HOSP 2023-06-01 (no time) CT ACC3
	iidS4 = indextest.UIDRoot + ".904" // P1^^^OTHER 2024-02-01 09:00 CT ACC4
	iidS5 = indextest.UIDRoot + ".905" // P2^^^HOSP 2024-03-01 10:00 US ACC5
	// iidMany is the number of studies of patient MANY (2020-01-01 + i days).
	iidMany = 25
)

func iidManyUID(i int) string { return fmt.Sprintf("%s.950.%d", indextest.UIDRoot, i) }

// openIIDIndex opens an index holding the studies above.
func openIIDIndex(t *testing.T) *index.Index {
	t.Helper()
	ix, err := index.Open(t.Context(), filepath.Join(t.TempDir(), "index.db"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	study := func(n int, uid, pid, issuer, date, tm, mod, acc string) {
		s := indextest.DefaultSpec(n)
		s.StudyUID, s.SeriesUID, s.SOPInstanceUID = uid, uid+".1", uid+".1.1"
		s.PatientID, s.IssuerOfPatientID = pid, issuer
		s.StudyDate, s.StudyTime, s.Modality, s.AccessionNumber = date, tm, mod, acc
		s.SOPClassUID = indextest.CTImageStorage
		if _, err := ix.Put(t.Context(), indextest.Build(s)); err != nil {
			t.Fatal(err)
		}
	}
	study(1, iidS1, "P1", "HOSP", "20240110", "080000", "CT", "ACC1")
	study(2, iidS2, "P1", "HOSP", "20240110", "143000", "MR", "ACC2")
	study(3, iidS3, "P1", "HOSP", "20230601", "", "CT", "ACC3")
	study(4, iidS4, "P1", "OTHER", "20240201", "0900", "CT", "ACC4")
	study(5, iidS5, "P2", "HOSP", "20240301", "100000", "US", "ACC5")
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range iidMany {
		study(100+i, iidManyUID(i), "MANY", "HOSP", base.AddDate(0, 0, i).Format("20060102"), "120000", "CR", fmt.Sprintf("M%d", i))
	}
	return ix
}

func viewerURL(uids ...string) string {
	return "/viewer/viewer?StudyInstanceUIDs=" + strings.Join(uids, ",")
}

// TestInvokeImageDisplay runs every request type and parameter of RAD-106
// against a real index: where each valid request sends the browser, and
// the 400 of each invalid one.
func TestInvokeImageDisplay(t *testing.T) {
	ix := openIIDIndex(t)
	e := echo.New()
	New(Config{Search: ix}).Install(e)

	var many []string
	for i := iidMany - 1; i >= iidMany-maxViewerStudies; i-- {
		many = append(many, iidManyUID(i))
	}
	const p = iidPath + "?"
	tests := []struct {
		name, query string
		status      int
		location    string // for 303
		body        string // substring of the body otherwise
	}{
		// STUDY by UID.
		{"study uid", "requestType=STUDY&studyUID=" + iidS1, 303, viewerURL(iidS1), ""},
		{"study uids most recent first", "requestType=STUDY&studyUID=" + iidS1 + "," + iidS2, 303, viewerURL(iidS2, iidS1), ""},
		{"study uids repeated once", "requestType=STUDY&studyUID=" + iidS1 + "," + iidS1, 303, viewerURL(iidS1), ""},
		{"study uids with spaces", "requestType=STUDY&studyUID=" + iidS3 + ",%20" + iidS5, 303, viewerURL(iidS5, iidS3), ""},
		{"study uid partly unknown", "requestType=STUDY&studyUID=1.2.999," + iidS3, 303, viewerURL(iidS3), ""},
		{"study uid unknown", "requestType=STUDY&studyUID=1.2.999", 404, "", "No study matches"},
		{"request type lower case", "requestType=study&studyUID=" + iidS1, 303, viewerURL(iidS1), ""},
		// STUDY by accession number.
		{"accession", "requestType=STUDY&accessionNumber=ACC1", 303, viewerURL(iidS1), ""},
		{"accessions", "requestType=STUDY&accessionNumber=ACC3,ACC1", 303, viewerURL(iidS1, iidS3), ""},
		{"accession unknown", "requestType=STUDY&accessionNumber=NOPE", 404, "", "No study matches"},
		{"accession is literal", "requestType=STUDY&accessionNumber=ACC*", 404, "", "No study matches"},
		// STUDY with patientID: the studies must be that patient's.
		{"study of the patient", "requestType=STUDY&studyUID=" + iidS1 + "&patientID=P1%5E%5E%5EHOSP", 303, viewerURL(iidS1), ""},
		{"study of another patient", "requestType=STUDY&studyUID=" + iidS1 + "&patientID=P2", 404, "", "No study matches"},
		{"study of another issuer", "requestType=STUDY&accessionNumber=ACC1&patientID=P1^^^OTHER", 404, "", "No study matches"},
		// Accepted and ignored.
		{"viewer options ignored", "requestType=STUDY&studyUID=" + iidS1 + "&viewerType=IHE_BIR&diagnosticQuality=true&keyImagesOnly=FALSE", 303, viewerURL(iidS1), ""},
		{"unknown parameters ignored", "requestType=STUDY&studyUID=" + iidS1 + "&access_token=x&vendorThing=1", 303, viewerURL(iidS1), ""},

		// PATIENT.
		{"patient with issuer", "requestType=PATIENT&patientID=P1%5E%5E%5EHOSP", 303, viewerURL(iidS2, iidS1, iidS3), ""},
		{"patient in every issuer", "requestType=PATIENT&patientID=P1", 303, viewerURL(iidS4, iidS2, iidS1, iidS3), ""},
		{"patient issuer as HD", "requestType=PATIENT&patientID=P1^^^HOSP%261.2.3%26ISO", 303, viewerURL(iidS2, iidS1, iidS3), ""},
		{"patient issuer universal ID only", "requestType=PATIENT&patientID=P1^^^%26OTHER%26ISO", 303, viewerURL(iidS4), ""},
		{"patient unknown", "requestType=PATIENT&patientID=NOPE", 404, "", "No study matches"},
		{"patient unknown issuer", "requestType=PATIENT&patientID=P2^^^OTHER", 404, "", "No study matches"},
		{"most recent 1", "requestType=PATIENT&patientID=P1^^^HOSP&mostRecentResults=1", 303, viewerURL(iidS2), ""},
		{"most recent 2", "requestType=PATIENT&patientID=P1^^^HOSP&mostRecentResults=2", 303, viewerURL(iidS2, iidS1), ""},
		{"most recent more than found", "requestType=PATIENT&patientID=P1^^^HOSP&mostRecentResults=50", 303, viewerURL(iidS2, iidS1, iidS3), ""},
		{"modality", "requestType=PATIENT&patientID=P1^^^HOSP&modalitiesInStudy=MR", 303, viewerURL(iidS2), ""},
		{"modalities", "requestType=PATIENT&patientID=P1&modalitiesInStudy=ct,US", 303, viewerURL(iidS4, iidS1, iidS3), ""},
		{"modality absent", "requestType=PATIENT&patientID=P1&modalitiesInStudy=MG", 404, "", "No study matches"},
		{"lower date", "requestType=PATIENT&patientID=P1^^^HOSP&lowerDateTime=2024-01-01", 303, viewerURL(iidS2, iidS1), ""},
		{"upper date includes its day", "requestType=PATIENT&patientID=P1^^^HOSP&upperDateTime=2024-01-10", 303, viewerURL(iidS2, iidS1, iidS3), ""},
		{"upper date", "requestType=PATIENT&patientID=P1^^^HOSP&upperDateTime=2023-12-31", 303, viewerURL(iidS3), ""},
		{"lower date time", "requestType=PATIENT&patientID=P1^^^HOSP&lowerDateTime=2024-01-10T09:00:00", 303, viewerURL(iidS2), ""},
		{"upper date time", "requestType=PATIENT&patientID=P1^^^HOSP&upperDateTime=2024-01-10T09:00", 303, viewerURL(iidS1, iidS3), ""},
		{"equal bounds", "requestType=PATIENT&patientID=P1&lowerDateTime=2024-01-10T08:00:00&upperDateTime=2024-01-10T08:00:00.000", 303, viewerURL(iidS1), ""},
		{"short stored time", "requestType=PATIENT&patientID=P1&lowerDateTime=2024-02-01T09:00:00&upperDateTime=2024-02-01T09:00:00", 303, viewerURL(iidS4), ""},
		{"date range and modality and most recent", "requestType=PATIENT&patientID=P1&lowerDateTime=2023-01-01&upperDateTime=2024-01-31T23:59:59&modalitiesInStudy=CT&mostRecentResults=1", 303, viewerURL(iidS1), ""},
		{"empty date range", "requestType=PATIENT&patientID=P1&lowerDateTime=2025-01-01", 404, "", "No study matches"},
		{"many studies: a list", "requestType=PATIENT&patientID=MANY", 200, "", `<h1>25 studies</h1>`},
		{"many studies cut to open together", fmt.Sprintf("requestType=PATIENT&patientID=MANY&mostRecentResults=%d", maxViewerStudies), 303, viewerURL(many...), ""},

		// Invalid requests.
		{"no parameters", "", 400, "", "requestType is required"},
		{"unknown request type", "requestType=SERIES&studyUID=" + iidS1, 400, "", "requestType must be STUDY or PATIENT"},
		{"study without key", "requestType=STUDY", 400, "", "needs studyUID or accessionNumber"},
		{"study with both keys", "requestType=STUDY&studyUID=" + iidS1 + "&accessionNumber=ACC1", 400, "", "not both"},
		{"study uid invalid", "requestType=STUDY&studyUID=1..2", 400, "", "studyUID has an invalid value"},
		{"study uid letters", "requestType=STUDY&studyUID=abc", 400, "", "studyUID has an invalid value"},
		{"study uid empty", "requestType=STUDY&studyUID=", 400, "", "studyUID has an empty value"},
		{"study uid list with a hole", "requestType=STUDY&studyUID=" + iidS1 + ",", 400, "", "studyUID has an empty value"},
		{"study uid too many", "requestType=STUDY&studyUID=" + strings.Repeat("1.2,", maxIIDListValues) + "1.2", 400, "", "more than 100 values"},
		{"study uid twice", "requestType=STUDY&studyUID=" + iidS1 + "&studyUID=" + iidS2, 400, "", "studyUID is given more than once"},
		{"accession too long", "requestType=STUDY&accessionNumber=12345678901234567", 400, "", "accessionNumber has an invalid value"},
		{"accession with issuer", "requestType=STUDY&accessionNumber=ACC1^ISSUER", 400, "", "accessionNumber has an invalid value"},
		{"accession with backslash", "requestType=STUDY&accessionNumber=A%5CB", 400, "", "accessionNumber has an invalid value"},
		{"study with a date", "requestType=STUDY&studyUID=" + iidS1 + "&lowerDateTime=2024-01-01", 400, "", "lowerDateTime applies to requestType=PATIENT only"},
		{"study with modalities", "requestType=STUDY&studyUID=" + iidS1 + "&modalitiesInStudy=CT", 400, "", "modalitiesInStudy applies to requestType=PATIENT only"},
		{"study with most recent", "requestType=STUDY&studyUID=" + iidS1 + "&mostRecentResults=1", 400, "", "mostRecentResults applies"},
		{"patient without ID", "requestType=PATIENT", 400, "", "needs patientID"},
		{"patient with empty ID", "requestType=PATIENT&patientID=", 400, "", "needs patientID"},
		{"patient with only an issuer", "requestType=PATIENT&patientID=^^^HOSP", 400, "", "patientID must be"},
		{"patient ID too long", "requestType=PATIENT&patientID=" + strings.Repeat("9", 65), 400, "", "patientID must be"},
		{"patient with study UID", "requestType=PATIENT&patientID=P1&studyUID=" + iidS1, 400, "", "apply to requestType=STUDY only"},
		{"patient with accession", "requestType=PATIENT&patientID=P1&accessionNumber=ACC1", 400, "", "apply to requestType=STUDY only"},
		{"most recent zero", "requestType=PATIENT&patientID=P1&mostRecentResults=0", 400, "", "mostRecentResults must be a positive integer"},
		{"most recent negative", "requestType=PATIENT&patientID=P1&mostRecentResults=-2", 400, "", "mostRecentResults must be a positive integer"},
		{"most recent not a number", "requestType=PATIENT&patientID=P1&mostRecentResults=all", 400, "", "mostRecentResults must be a positive integer"},
		{"lower date DICOM form", "requestType=PATIENT&patientID=P1&lowerDateTime=20240101", 400, "", "lowerDateTime is not an ISO 8601"},
		{"upper date impossible", "requestType=PATIENT&patientID=P1&upperDateTime=2024-02-30", 400, "", "upperDateTime is not an ISO 8601"},
		{"reversed dates", "requestType=PATIENT&patientID=P1&lowerDateTime=2024-02-01&upperDateTime=2024-01-01", 400, "", "lowerDateTime is after upperDateTime"},
		{"reversed times", "requestType=PATIENT&patientID=P1&lowerDateTime=2024-01-10T10:00&upperDateTime=2024-01-10T09:00", 400, "", "lowerDateTime is after upperDateTime"},
		{"modality invalid", "requestType=PATIENT&patientID=P1&modalitiesInStudy=C-T", 400, "", "modalitiesInStudy has an invalid value"},
		{"diagnostic quality not boolean", "requestType=PATIENT&patientID=P1&diagnosticQuality=yes", 400, "", "diagnosticQuality must be true or false"},
		{"key images not boolean", "requestType=STUDY&studyUID=" + iidS1 + "&keyImagesOnly=1", 400, "", "keyImagesOnly must be true or false"},
		{"viewer type too long", "requestType=STUDY&studyUID=" + iidS1 + "&viewerType=" + strings.Repeat("x", 65), 400, "", "viewerType is too long"},
		{"bad encoding", "requestType=PATIENT&patientID=%zz", 400, "", "not valid URL encoding"},
		{"input never echoed", "requestType=PATIENT&patientID=<script>alert(1)</script>&mostRecentResults=<b>", 400, "", "mostRecentResults must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				rec := request(e, method, p+tt.query, nil)
				if rec.Code != tt.status {
					t.Fatalf("%s: status %d, want %d; body %q", method, rec.Code, tt.status, rec.Body.String())
				}
				if got := rec.Header().Get("Location"); got != tt.location {
					t.Errorf("%s: Location %q, want %q", method, got, tt.location)
				}
				if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
					t.Errorf("%s: Cache-Control %q", method, cc)
				}
				if method == http.MethodHead {
					if rec.Body.Len() != 0 {
						t.Errorf("HEAD has a body")
					}
					continue
				}
				body := rec.Body.String()
				if !strings.Contains(body, tt.body) {
					t.Errorf("body %q does not contain %q", body, tt.body)
				}
				for _, secret := range []string{"<script>", "<b>", "P1", "MANY", "NOPE", "ACC"} {
					if tt.status >= 400 && strings.Contains(body, secret) {
						t.Errorf("the error echoes the request: %q", body)
					}
				}
			}
		})
	}
}

// TestInvokeImageDisplayList checks the page of a launch that matches more
// studies than open together: every study, most recent first, each linked
// to OHIF, its DICOM values as text.
func TestInvokeImageDisplayList(t *testing.T) {
	ix := openIIDIndex(t)
	e := echo.New()
	New(Config{Search: ix}).Install(e)
	rec := request(e, http.MethodGet, iidPath+"?requestType=PATIENT&patientID=MANY^^^HOSP", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	h := rec.Header()
	if !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Errorf("headers %v", h)
	}
	rows := regexp.MustCompile(`<tr data-study="([0-9.]+)"><td><a href="([^"]+)">([0-9-]+)</a></td><td>[^<]*</td><td>CR</td><td>M\d+</td></tr>`).FindAllStringSubmatch(rec.Body.String(), -1)
	if len(rows) != iidMany {
		t.Fatalf("%d rows, want %d:\n%s", len(rows), iidMany, rec.Body.String())
	}
	for i, r := range rows {
		n := iidMany - 1 - i
		date := time.Date(2020, 1, 1+n, 0, 0, 0, 0, time.UTC).Format("2006-01-02")
		if r[1] != iidManyUID(n) || r[2] != viewerURL(iidManyUID(n)) || r[3] != date {
			t.Errorf("row %d: %q %q %q; want study %d of %s", i, r[1], r[2], r[3], n, date)
		}
	}
}

// TestInvokeImageDisplayTimeZone: a date-time with a UTC offset is the
// server's local time of that instant (DICOM dates are local).
func TestInvokeImageDisplayTimeZone(t *testing.T) {
	ix := openIIDIndex(t)
	e := echo.New()
	New(Config{Search: ix}).Install(e)
	saved := time.Local
	time.Local = time.FixedZone("UTC+2", 2*3600)
	t.Cleanup(func() { time.Local = saved })
	for _, tt := range []struct{ query, location string }{
		// 07:30Z is 09:30 local: after S1 (08:00), before S2 (14:30).
		{"lowerDateTime=2024-01-10T07:30:00Z", viewerURL(iidS2)},
		{"upperDateTime=2024-01-10T07:30:00%2B00:00", viewerURL(iidS1, iidS3)},
		// 13:00+01:00 is 14:00 local.
		{"lowerDateTime=2024-01-10T13:00%2B01:00", viewerURL(iidS2)},
		// No offset: already local.
		{"lowerDateTime=2024-01-10T07:30:00", viewerURL(iidS2, iidS1)},
	} {
		rec := request(e, http.MethodGet, iidPath+"?requestType=PATIENT&patientID=P1^^^HOSP&"+tt.query, nil)
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != tt.location {
			t.Errorf("%s: %d %q, want %q", tt.query, rec.Code, rec.Header().Get("Location"), tt.location)
		}
	}
}

// TestInvokeImageDisplayAuth runs the route behind the real auth
// middleware, as the server does: reader is needed, and a principal
// restricted to some patients opens only theirs.
func TestInvokeImageDisplayAuth(t *testing.T) {
	ix := openIIDIndex(t)
	tokens := filepath.Join(t.TempDir(), "tokens")
	lines := "ehr " + auth.HashToken("mpt_ehr") + " reader\n" +
		"ward " + auth.HashToken("mpt_ward") + " reader patients=P2^^^HOSP\n" +
		"modality " + auth.HashToken("mpt_modality") + " writer\n"
	if err := os.WriteFile(tokens, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	authn, err := auth.New(t.Context(), auth.Config{APITokensFile: tokens, AllowQueryToken: true})
	if err != nil {
		t.Fatal(err)
	}
	var audited []string
	srv := New(Config{
		Search: ix,
		PatientFilter: func(ctx context.Context) func(string, string) bool {
			p := auth.FromContext(ctx)
			if p == nil || p.Restriction == nil {
				return nil
			}
			return p.AllowsPatient
		},
		LaunchAudit: func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				err := next(c)
				audited = append(audited, fmt.Sprint(c.Response().Status))
				return err
			}
		},
	})
	table, err := auth.NewTable(auth.RulesOf(srv.Routes())...)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	srv.Install(e)
	if err := auth.CheckRoutes(e, table); err != nil {
		t.Fatal(err)
	}
	e.Use(auth.Middleware(table, authn, auth.Hooks{}))

	p1 := iidPath + "?requestType=PATIENT&patientID=P1^^^HOSP"
	p2 := iidPath + "?requestType=PATIENT&patientID=P2^^^HOSP"
	s1 := iidPath + "?requestType=STUDY&studyUID=" + iidS1 + "," + iidS5
	tests := []struct {
		name, target, token string
		status              int
		location            string
	}{
		{"no credential", p1, "", 401, ""},
		{"writer only", p1, "mpt_modality", 403, ""},
		{"reader", p1, "mpt_ehr", 303, viewerURL(iidS2, iidS1, iidS3)},
		{"token in the query", p1 + "&access_token=mpt_ehr", "", 303, viewerURL(iidS2, iidS1, iidS3)},
		{"restricted: another patient", p1, "mpt_ward", 404, ""},
		{"restricted: own patient", p2, "mpt_ward", 303, viewerURL(iidS5)},
		{"restricted: studies filtered", s1, "mpt_ward", 303, viewerURL(iidS5)},
		{"unrestricted: both studies", s1, "mpt_ehr", 303, viewerURL(iidS5, iidS1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.token != "" {
				h.Set("Authorization", "Bearer "+tt.token)
			}
			rec := request(e, http.MethodGet, tt.target, h)
			if rec.Code != tt.status || rec.Header().Get("Location") != tt.location {
				t.Fatalf("%d %q, want %d %q", rec.Code, rec.Header().Get("Location"), tt.status, tt.location)
			}
			if tt.status == 401 && !strings.Contains(rec.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without a challenge")
			}
		})
	}
	// Only the requests that reached the route are audited (the middleware
	// refused the others).
	if want := []string{"303", "303", "404", "303", "303", "303"}; strings.Join(audited, ",") != strings.Join(want, ",") {
		t.Errorf("audited %v, want %v", audited, want)
	}
	// Declared: reader, GET and HEAD.
	n := 0
	for _, r := range srv.Routes() {
		if r.Path == iidPath {
			n++
			if r.Role != auth.Reader {
				t.Errorf("%s %s: role %v", r.Method, r.Path, r.Role)
			}
		}
	}
	if n != 2 {
		t.Errorf("%d IID routes, want GET and HEAD", n)
	}
}
