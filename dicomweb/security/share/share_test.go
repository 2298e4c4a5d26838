package share_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb"
	"github.com/minipacs/minipacs/dicomweb/security/audit"
	"github.com/minipacs/minipacs/dicomweb/security/auth"
	"github.com/minipacs/minipacs/dicomweb/security/share"
	"github.com/minipacs/minipacs/dicomweb/testkit/dicomwebtest"
	"github.com/minipacs/minipacs/dicomweb/testkit/testcorpus"
	"github.com/minipacs/minipacs/index"
)

// Two real studies of two patients (pydicom's test files).
const (
	ctStudy = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322" // CT_small.dcm, patient 1CT1
	mrStudy = "1.3.6.1.4.1.5962.1.2.4.20040826185059.5457"  // MR_small.dcm, patient 4MR1
)

// archive stores CT_small and MR_small in a fresh archive and returns its
// index directory and the archive.
func archive(t *testing.T) *dicomwebtest.Archive {
	t.Helper()
	a := dicomwebtest.New(t, dicomwebtest.Options{})
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, f := range []string{"test_files/CT_small.dcm", "test_files/MR_small.dcm"} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
		if err != nil {
			t.Fatal(err)
		}
		pw.Write(testcorpus.File(t, f))
	}
	mw.Close()
	resp, err := http.Post(a.Base+"/studies", `multipart/related; type="application/dicom"; boundary=`+mw.Boundary(), &body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("STOW: %s", resp.Status)
	}
	return a
}

// shareIndex keeps the records in the index (as cmd/minipacs does).
type shareIndex struct{ idx *index.Index }

func (s shareIndex) PutRecord(ctx context.Context, key string, value []byte) error {
	return s.idx.PutRecords(ctx, index.Record{Kind: index.RecordShare, Key: key, Value: value})
}

func (s shareIndex) GetRecord(ctx context.Context, key string) ([]byte, error) {
	return s.idx.GetRecord(ctx, index.RecordShare, key)
}

func (s shareIndex) ForEachRecord(ctx context.Context, fn func(key string, value []byte) error) error {
	return s.idx.ForEachRecord(ctx, index.RecordShare, "", fn)
}

func (s shareIndex) Study(ctx context.Context, uid string) (share.Study, bool, error) {
	var st share.Study
	found := false
	err := s.idx.Search(ctx, index.Query{Level: index.LevelStudy, StudyUID: uid, Limit: 1}, func(r *index.Result) error {
		found = true
		sa := dicomweb.StudyOf(r)
		st = share.Study{UID: uid, PatientID: sa.PatientID, IssuerOfPatientID: sa.IssuerOfPatientID, PatientName: sa.PatientName}
		return nil
	})
	return st, found, err
}

func config(ix *index.Index) share.Config {
	return share.Config{Records: shareIndex{ix}, Studies: shareIndex{ix}}
}

// clock is a settable time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// recorder keeps the audit events.
type recorder struct {
	mu  sync.Mutex
	evs []string
}

func (r *recorder) Share(ctx context.Context, _ *http.Request, s audit.Share) {
	r.mu.Lock()
	defer r.mu.Unlock()
	user := ""
	if p := auth.FromContext(ctx); p != nil {
		user = p.Subject
	}
	r.evs = append(r.evs, fmt.Sprintf("%d %s %s %s %s", s.Op, s.ID, s.Study.StudyUID, user, s.Reason))
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.evs
	r.evs = nil
	return out
}

// users are the principals of the test, chosen by the X-User header.
var users = map[string]*auth.Principal{
	"admin":  {Subject: "admin", Method: auth.MethodToken, Roles: auth.RolesOf(auth.Admin)},
	"reader": {Subject: "reader", Method: auth.MethodToken, Roles: auth.RolesOf(auth.Reader)},
	"other":  {Subject: "other", Method: auth.MethodToken, Roles: auth.RolesOf(auth.Reader)},
	// reader with the same subject through another method: not the creator.
	"basic-reader": {Subject: "reader", Method: auth.MethodBasic, Roles: auth.RolesOf(auth.Reader)},
	"ct-only": {Subject: "ct-only", Method: auth.MethodToken, Roles: auth.RolesOf(auth.Reader),
		Restriction: &auth.Restriction{Patients: []auth.PatientRef{{ID: "1CT1"}}}},
	"share": {Subject: "share:x", Method: auth.MethodShare, Roles: auth.RolesOf(auth.Reader),
		Restriction: &auth.Restriction{StudyUIDs: []string{ctStudy}}},
}

// server serves svc's routes; the principal comes from X-User (the real
// role check is auth.Middleware's, tested in cmd/minipacs).
func server(t *testing.T, svc *share.Service) *httptest.Server {
	e := echo.New()
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if p := users[c.Request().Header.Get("X-User")]; p != nil {
				c.SetRequest(c.Request().WithContext(auth.WithPrincipal(c.Request().Context(), p)))
			}
			return next(c)
		}
	})
	auth.Register(e, svc.Routes())
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv
}

type client struct {
	t   *testing.T
	url string
}

func (c client) do(method, path, user, body string) (*http.Response, string) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.url+path, strings.NewReader(body))
	req.Header.Set("X-User", user)
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp, b.String()
}

func (c client) create(user, body string, want int) share.Created {
	c.t.Helper()
	resp, b := c.do("POST", "/shares", user, body)
	if resp.StatusCode != want {
		c.t.Fatalf("POST /shares %s as %s: %d %s, want %d", body, user, resp.StatusCode, b, want)
	}
	var out share.Created
	if want == http.StatusCreated {
		if err := json.Unmarshal([]byte(b), &out); err != nil {
			c.t.Fatal(err)
		}
	}
	return out
}

// TestShareLinks: creation (limits, visibility), opening (303, session
// restricted to the study, read-only), refusals (malformed, unknown,
// wrong secret, expired, revoked), revocation rights, the list, and a
// revocation that survives reopening the index.
func TestShareLinks(t *testing.T) {
	a := archive(t)
	clk := &clock{now: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	rec := &recorder{}
	cfg := config(a.Index)
	cfg.MaxAge, cfg.SessionMaxAge, cfg.BaseURL, cfg.Secure, cfg.Auditor, cfg.Now = 48*time.Hour, 12*time.Hour, "https://pacs.example.org/dicomweb", true, rec, clk.Now
	svc, err := share.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := server(t, svc)
	c := client{t, srv.URL}

	// Limits and visibility.
	for _, tc := range []struct {
		user, body string
		want       int
	}{
		{"reader", `{"study":"` + ctStudy + `","hours":0}`, 400},
		{"reader", `{"study":"` + ctStudy + `","hours":49}`, 400},
		{"reader", `{"study":"` + ctStudy + `","hours":-1,"seconds":7200}`, 400},
		{"reader", `{"study":"` + ctStudy + `","hours":1,"extra":1}`, 400},
		{"reader", `{"study":"1.2.x","hours":1}`, 400},
		{"reader", `{"study":"1.2.3","hours":1}`, 404},
		{"ct-only", `{"study":"` + mrStudy + `","hours":1}`, 404},
	} {
		c.create(tc.user, tc.body, tc.want)
	}
	if evs := rec.take(); len(evs) != 0 {
		t.Errorf("refused creations audited as shares: %q", evs)
	}
	ctShare := c.create("ct-only", `{"study":"`+ctStudy+`","hours":48}`, 201)
	if !strings.HasPrefix(ctShare.URL, "https://pacs.example.org/share/"+ctShare.ID+".") || !ctShare.Expires.Equal(clk.Now().Add(48*time.Hour)) {
		t.Fatalf("created: %+v", ctShare)
	}
	if evs := rec.take(); len(evs) != 1 || evs[0] != fmt.Sprintf("1 %s %s ct-only ", ctShare.ID, ctStudy) {
		t.Errorf("creation audit: %q", evs)
	}
	short := c.create("reader", `{"study":"`+mrStudy+`","seconds":90}`, 201)
	rec.take()
	token := func(cr share.Created) string { return cr.URL[strings.Index(cr.URL, "/share/")+len("/share/"):] }

	// Opening: 303 to the viewer, a cookie whose session sees only the study.
	resp, _ := c.do("GET", "/share/"+token(ctShare), "", "")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/viewer/viewer?StudyInstanceUIDs="+ctStudy {
		t.Fatalf("open: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("open: headers %v", resp.Header)
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 || cookies[0].Name != "__Host-minipacs_share" || !cookies[0].HttpOnly || !cookies[0].Secure {
		t.Fatalf("open: cookies %v", cookies)
	}
	session := func(ck *http.Cookie) (*auth.Principal, string, error) {
		req := httptest.NewRequest("GET", "/dicomweb/studies", nil)
		if ck != nil {
			req.AddCookie(ck)
		}
		return svc.Session(context.Background(), req)
	}
	p, csrf, err := session(cookies[0])
	if err != nil || csrf != "" || p.Method != auth.MethodShare || p.Subject != "share:"+ctShare.ID || !p.Allowed(auth.Reader) || p.Allowed(auth.Writer) {
		t.Fatalf("session: %+v %q %v", p, csrf, err)
	}
	if !p.AllowsStudy(ctStudy, "1CT1", "") || p.AllowsStudy(mrStudy, "4MR1", "") || p.AllowsPatient("1CT1", "") {
		t.Errorf("session restriction: %+v", p.Restriction)
	}
	if _, _, err := session(nil); err != auth.ErrNoCredentials {
		t.Errorf("no cookie: %v", err)
	}
	if _, _, err := session(&http.Cookie{Name: "__Host-minipacs_share", Value: "forged"}); err == nil || err == auth.ErrNoCredentials {
		t.Errorf("forged cookie: %v", err)
	}
	if evs := rec.take(); len(evs) != 1 || evs[0] != fmt.Sprintf("3 %s %s share:%s ", ctShare.ID, ctStudy, ctShare.ID) {
		t.Errorf("open audit: %q", evs)
	}
	// A share session cannot make links.
	c.create("share", `{"study":"`+ctStudy+`","hours":1}`, http.StatusForbidden)

	// Refusals: one text, 401, no detail; the reason goes to the audit.
	tok := token(ctShare)
	id, secret, _ := strings.Cut(tok, ".")
	flip := func(s string) string {
		b := []byte(s)
		if b[5] == 'A' {
			b[5] = 'B'
		} else {
			b[5] = 'A'
		}
		return string(b)
	}
	var refusedBody string
	for _, tc := range []struct{ token, reason, id string }{
		{"nonsense", "malformed token", ""},
		{id, "malformed token", ""},
		{flip(id) + "." + secret, "unknown link", ""},
		{id + "." + flip(secret), "wrong secret", id},
	} {
		resp, b := c.do("GET", "/share/"+tc.token, "", "")
		if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
			t.Errorf("open %s: %d, cookies %v", tc.reason, resp.StatusCode, resp.Cookies())
		}
		if refusedBody == "" {
			refusedBody = b
		} else if b != refusedBody {
			t.Errorf("open %s: body %q differs from %q", tc.reason, b, refusedBody)
		}
		if evs := rec.take(); len(evs) != 1 || evs[0] != fmt.Sprintf("4 %s   %s", tc.id, tc.reason) {
			t.Errorf("refusal audit %s: %q", tc.reason, evs)
		}
	}

	// Expiry: the 90 s link works at 89 s, not at 90 s.
	clk.add(89 * time.Second)
	if resp, _ := c.do("GET", "/share/"+token(short), "", ""); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("short link before expiry: %d", resp.StatusCode)
	}
	clk.add(time.Second)
	if resp, b := c.do("GET", "/share/"+token(short), "", ""); resp.StatusCode != http.StatusUnauthorized || b != refusedBody {
		t.Errorf("short link at expiry: %d %q", resp.StatusCode, b)
	}
	rec.take()

	// Revocation: not by another reader, nor by the same subject through
	// another method; by the creator; idempotent; ends open sessions.
	if resp, _ := c.do("DELETE", "/shares/"+ctShare.ID, "other", ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("revoke by another reader: %d", resp.StatusCode)
	}
	if resp, _ := c.do("DELETE", "/shares/"+short.ID, "basic-reader", ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("revoke by a same-named user of another method: %d", resp.StatusCode)
	}
	if resp, _ := c.do("DELETE", "/shares/AAAAAAAAAAAAAAAAAAAAAA", "admin", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("revoke unknown: %d", resp.StatusCode)
	}
	if resp, _ := c.do("DELETE", "/shares/"+ctShare.ID, "ct-only", ""); resp.StatusCode != http.StatusNoContent {
		t.Errorf("revoke by the creator: %d", resp.StatusCode)
	}
	if resp, _ := c.do("DELETE", "/shares/"+ctShare.ID, "admin", ""); resp.StatusCode != http.StatusNoContent {
		t.Errorf("revoke again: %d", resp.StatusCode)
	}
	if evs := rec.take(); len(evs) != 1 || evs[0] != fmt.Sprintf("2 %s %s ct-only ", ctShare.ID, ctStudy) {
		t.Errorf("revocation audit: %q", evs)
	}
	if _, _, err := session(cookies[0]); err == nil {
		t.Error("session of a revoked link still valid")
	}
	if resp, b := c.do("GET", "/share/"+tok, "", ""); resp.StatusCode != http.StatusUnauthorized || b != refusedBody {
		t.Errorf("revoked link: %d %q", resp.StatusCode, b)
	}
	if evs := rec.take(); len(evs) != 1 || evs[0] != fmt.Sprintf("4 %s   revoked", ctShare.ID) {
		t.Errorf("revoked audit: %q", evs)
	}

	// The list: admin only (by route role; here: its content), no secret.
	resp, b := c.do("GET", "/admin/shares", "admin", "")
	var views []share.View
	if err := json.Unmarshal([]byte(b), &views); err != nil || resp.StatusCode != 200 || len(views) != 2 {
		t.Fatalf("list: %d %s %v", resp.StatusCode, b, err)
	}
	// Both were made at the same (fake) time: their order is by ID.
	byID := map[string]share.View{}
	for _, v := range views {
		byID[v.ID] = v
	}
	if v := byID[ctShare.ID]; v.Active || v.Revoked == nil || v.RevokedBy != "ct-only" {
		t.Errorf("list, revoked link: %+v", v)
	}
	if v := byID[short.ID]; v.ID != short.ID || v.Active || v.Creator != "reader" {
		t.Errorf("list, expired link: %+v", v)
	}
	if strings.Contains(b, secret) || strings.Contains(b, "secret") {
		t.Errorf("list shows secrets: %s", b)
	}
}

// TestShareRevocationPersists: a link revoked before the index is closed
// stays revoked after it is reopened by a new service; an active link
// stays active.
func TestShareRevocationPersists(t *testing.T) {
	a := archive(t)
	cfg := config(a.Index)
	cfg.MaxAge = time.Hour
	svc, err := share.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := client{t, server(t, svc).URL}
	revoked := c.create("admin", `{"study":"`+ctStudy+`","hours":1}`, 201)
	kept := c.create("admin", `{"study":"`+mrStudy+`","hours":1}`, 201)
	if resp, _ := c.do("DELETE", "/shares/"+revoked.ID, "admin", ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	a.Server.Close()
	if err := a.Index.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ix, err := index.Open(ctx, filepath.Join(a.Dir, "index.db"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	cfg2 := config(ix)
	cfg2.MaxAge = time.Hour
	svc2, err := share.New(cfg2)
	if err != nil {
		t.Fatal(err)
	}
	tokenOf := func(cr share.Created) string { return cr.URL[strings.Index(cr.URL, "/share/")+len("/share/"):] }
	if rec, err := svc2.Check(ctx, tokenOf(revoked)); err == nil || err.Error() != "revoked" || rec.Revoked == nil {
		t.Errorf("revoked link after reopening: %v", err)
	}
	if rec, err := svc2.Check(ctx, tokenOf(kept)); err != nil || rec.Study != mrStudy {
		t.Errorf("kept link after reopening: %+v %v", rec, err)
	}
	// Off: every route refuses, even a valid link.
	off, err := share.New(config(ix))
	if err != nil {
		t.Fatal(err)
	}
	oc := client{t, server(t, off).URL}
	oc.create("admin", `{"study":"`+ctStudy+`","hours":1}`, http.StatusForbidden)
	if resp, _ := oc.do("GET", "/share/"+tokenOf(kept), "", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("valid link with share links off: %d", resp.StatusCode)
	}
}
