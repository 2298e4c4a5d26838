package main_test

// Share links end to end through the binary (package share): a reader
// makes a link to one study, a plain HTTP client with a cookie jar opens
// it and gets a read-only session that sees that study only; revoked,
// expired and forged links are refused; revocation survives a restart;
// everything is in the audit trail and the token in no log.

import (
	"bytes"
	"encoding/json"
	"maps"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/textproto"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb/testkit/testcorpus"
)

// Real studies of two patients (pydicom's test files).
const (
	shareCTStudy = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322" // CT_small.dcm, patient 1CT1
	shareMRStudy = "1.3.6.1.4.1.5962.1.2.4.20040826185059.5457"  // MR_small.dcm, patient 4MR1
	shareCTSOP   = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"
)

type shareCreated struct {
	ID      string    `json:"id"`
	URL     string    `json:"url"`
	Study   string    `json:"study"`
	Expires time.Time `json:"expires"`
}

func TestShareLinksEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	adminTok, adminLine := secMakeToken(t, "admin", "admin")
	readerTok, readerLine := secMakeToken(t, "reader", "reader")
	mrTok, mrLine := secMakeToken(t, "mr-reader", "reader", "--patients", "4MR1")
	writerTok, writerLine := secMakeToken(t, "writer", "writer")
	tokens := secWriteFile(t, dir, "tokens", adminLine, readerLine, mrLine, writerLine)
	args := []string{"--api-tokens", tokens, "--share-max-hours", "24"}
	s := startSecServer(t, data, nil, args...)

	// Store the two studies.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, f := range []string{"test_files/CT_small.dcm", "test_files/MR_small.dcm"} {
		pw, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
		pw.Write(testcorpus.File(t, f))
	}
	mw.Close()
	r := s.must(t, "POST", "/dicomweb/studies", secHdr("Authorization", bearer(adminTok),
		"Content-Type", `multipart/related; type="application/dicom"; boundary=`+mw.Boundary(), "Accept", acceptJSON), body.Bytes())
	if r.status != http.StatusOK {
		t.Fatalf("STOW: %s", r)
	}

	create := func(s *secServer, tok, study string, hours, seconds int, want int) shareCreated {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"study": study, "hours": hours, "seconds": seconds})
		r := s.must(t, "POST", "/shares", secHdr("Authorization", bearer(tok), "Content-Type", "application/json"), b)
		if r.status != want {
			t.Fatalf("POST /shares %s: %s, want %d", b, r, want)
		}
		var c shareCreated
		if want == http.StatusCreated {
			if err := json.Unmarshal(r.body, &c); err != nil {
				t.Fatal(err)
			}
		}
		return c
	}
	// Who may make which link.
	create(s, writerTok, shareCTStudy, 1, 0, http.StatusForbidden)          // no reader role
	create(s, mrTok, shareCTStudy, 1, 0, http.StatusNotFound)               // cannot see the study
	create(s, readerTok, shareCTStudy, 25, 0, http.StatusBadRequest)        // over --share-max-hours
	create(s, readerTok, "1.2.3.4", 1, 0, http.StatusNotFound)              // no such study
	mrShare := create(s, mrTok, shareMRStudy, 1, 0, http.StatusCreated)     // a restricted reader, its patient
	ctShare := create(s, readerTok, shareCTStudy, 2, 0, http.StatusCreated) // the link under test
	if !strings.HasPrefix(ctShare.URL, s.base+"/share/"+ctShare.ID+".") || ctShare.Study != shareCTStudy ||
		time.Until(ctShare.Expires) < 119*time.Minute || time.Until(ctShare.Expires) > 121*time.Minute {
		t.Fatalf("created: %+v", ctShare)
	}
	secret := ctShare.URL[strings.LastIndex(ctShare.URL, ".")+1:]
	path := func(c shareCreated) string { return c.URL[strings.Index(c.URL, "/share/"):] }

	// A browser: a plain client with a cookie jar that does not follow
	// redirects.
	browser := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar, Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	bget := func(c *http.Client, method, p, accept string) *response {
		t.Helper()
		req, err := http.NewRequest(method, s.base+p, nil)
		if err != nil {
			t.Fatal(err)
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return &response{status: resp.StatusCode, header: resp.Header, body: b.Bytes()}
	}
	bc := browser()
	r = bget(bc, "GET", path(ctShare), "")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/viewer/viewer?StudyInstanceUIDs="+shareCTStudy {
		t.Fatalf("open: %s location %q", r, r.header.Get("Location"))
	}
	if strings.Contains(r.header.Get("Location"), secret) {
		t.Error("the redirect carries the token")
	}

	// With the cookie: the shared study only.
	ctPaths := []string{
		"/dicomweb/studies/" + shareCTStudy + "/metadata",
		"/dicomweb/studies/" + shareCTStudy + "/series",
	}
	for _, p := range ctPaths {
		if r := bget(bc, "GET", p, acceptJSON); r.status != http.StatusOK {
			t.Errorf("share session GET %s: %s", p, r)
		}
	}
	r = bget(bc, "GET", "/dicomweb/studies/"+shareCTStudy, acceptDICOM)
	if r.status != http.StatusOK || !bytes.Contains(r.body, []byte(shareCTSOP)) {
		t.Errorf("share session WADO of the study: %d, %d bytes", r.status, len(r.body))
	}
	for _, p := range []string{
		"/dicomweb/studies/" + shareMRStudy + "/metadata",
		"/dicomweb/studies/" + shareMRStudy + "/series",
		"/dicomweb/studies/" + shareMRStudy,
		"/web/studies/" + shareMRStudy + "/zip",
	} {
		if r := bget(bc, "GET", p, acceptJSON); r.status != http.StatusNotFound {
			t.Errorf("share session GET %s of the other study: %d, want 404", p, r.status)
		}
	}
	r = bget(bc, "GET", "/dicomweb/studies", acceptJSON)
	if got := qidoUIDs(t, r, "0020000D"); len(got) != 1 || got[0] != shareCTStudy {
		t.Errorf("share session QIDO /studies: %v, want only the shared study", got)
	}
	r = bget(bc, "GET", "/dicomweb/studies?StudyInstanceUID="+shareMRStudy, acceptJSON)
	if got := qidoUIDs(t, r, "0020000D"); len(got) != 0 {
		t.Errorf("share session QIDO for the other study: %v", got)
	}
	// Read-only and nothing else: no writes (no CSRF token), no admin, no
	// patient-level view, no new links.
	for _, c := range []struct{ method, path string }{
		{"DELETE", "/dicomweb/studies/" + shareCTStudy},
		{"POST", "/shares"},
		{"DELETE", "/shares/" + ctShare.ID},
		{"GET", "/admin/shares"},
	} {
		if r := bget(bc, c.method, c.path, ""); r.status != http.StatusForbidden {
			t.Errorf("share session %s %s: %d, want 403", c.method, c.path, r.status)
		}
	}
	r = bget(bc, "GET", "/fhir/ImagingStudy", "application/fhir+json")
	if bytes.Contains(r.body, []byte(shareCTStudy)) || bytes.Contains(r.body, []byte(shareMRStudy)) {
		t.Errorf("share session FHIR search shows studies: %s", r)
	}

	// Forged links: one 401 text.
	refused := bget(browser(), "GET", path(ctShare)[:len(path(ctShare))-3]+"AAA", "")
	if refused.status != http.StatusUnauthorized || !bytes.Contains(refused.body, []byte("cannot be used")) || refused.header.Get("Set-Cookie") != "" {
		t.Errorf("forged link: %s", refused)
	}
	if r := bget(browser(), "GET", "/share/nonsense", ""); r.status != http.StatusUnauthorized || !bytes.Equal(r.body, refused.body) {
		t.Errorf("malformed link: %s", r)
	}

	// Revocation: not by another reader; by the creator; ends the session.
	if r := s.must(t, "DELETE", "/shares/"+ctShare.ID, secHdr("Authorization", bearer(mrTok)), nil); r.status != http.StatusForbidden {
		t.Errorf("revoke by another reader: %s", r)
	}
	if r := s.must(t, "DELETE", "/shares/"+ctShare.ID, secHdr("Authorization", bearer(readerTok)), nil); r.status != http.StatusNoContent {
		t.Errorf("revoke by the creator: %s", r)
	}
	if r := bget(bc, "GET", ctPaths[0], acceptJSON); r.status != http.StatusUnauthorized {
		t.Errorf("session of a revoked link: %d, want 401", r.status)
	}
	if r := bget(browser(), "GET", path(ctShare), ""); r.status != http.StatusUnauthorized || !bytes.Equal(r.body, refused.body) {
		t.Errorf("revoked link: %s", r)
	}

	// Expiry: a 2-second link works, then is refused.
	short := create(s, adminTok, shareCTStudy, 0, 2, http.StatusCreated)
	sc := browser()
	if r := bget(sc, "GET", path(short), ""); r.status != http.StatusSeeOther {
		t.Errorf("short link: %s", r)
	}
	time.Sleep(2100 * time.Millisecond)
	if r := bget(browser(), "GET", path(short), ""); r.status != http.StatusUnauthorized || !bytes.Equal(r.body, refused.body) {
		t.Errorf("expired link: %s", r)
	}
	if r := bget(sc, "GET", ctPaths[0], acceptJSON); r.status != http.StatusUnauthorized {
		t.Errorf("session of an expired link: %d, want 401", r.status)
	}

	// The list: admin only, without secrets.
	if r := s.must(t, "GET", "/admin/shares", secHdr("Authorization", bearer(readerTok)), nil); r.status != http.StatusForbidden {
		t.Errorf("reader GET /admin/shares: %d", r.status)
	}
	r = s.must(t, "GET", "/admin/shares", secHdr("Authorization", bearer(adminTok)), nil)
	var views []struct {
		ID, Study, Creator string
		Active             bool
		Revoked            *time.Time
	}
	if err := json.Unmarshal(r.body, &views); err != nil || len(views) != 3 {
		t.Fatalf("GET /admin/shares: %s %v", r, err)
	}
	state := map[string]string{}
	for _, v := range views {
		state[v.ID] = map[bool]string{true: "active", false: "inactive"}[v.Active]
		if v.Revoked != nil {
			state[v.ID] = "revoked"
		}
	}
	if state[mrShare.ID] != "active" || state[ctShare.ID] != "revoked" || state[short.ID] != "inactive" || bytes.Contains(r.body, []byte(secret)) {
		t.Errorf("GET /admin/shares: %v %s", state, r)
	}

	// A restart keeps the revocation and the active link.
	s.stop(syscall.SIGTERM)
	firstLog := s.stderr.String()
	s = startSecServer(t, data, nil, args...)
	if r := bget(browser(), "GET", path(ctShare), ""); r.status != http.StatusUnauthorized {
		t.Errorf("revoked link after a restart: %d", r.status)
	}
	mc := browser()
	if r := bget(mc, "GET", path(mrShare), ""); r.status != http.StatusSeeOther {
		t.Errorf("active link after a restart: %d", r.status)
	}
	if r := bget(mc, "GET", "/dicomweb/studies/"+shareMRStudy+"/metadata", acceptJSON); r.status != http.StatusOK {
		t.Errorf("MR share session after a restart: %d", r.status)
	}
	s.stop(syscall.SIGTERM)

	// The audit trail: creation, use, refusals, revocation; the secret
	// is in no log.
	lines, raw := readAuditLog(t, filepath.Join(data, "audit", "audit.log"))
	count := map[string]int{}
	for _, l := range lines {
		k := l.key()
		if len(l.Record.EventTypeCode) > 0 {
			k += " type=" + l.Record.EventTypeCode[0].Code
		}
		count[k]++
	}
	for _, want := range []struct {
		key string
		n   int
	}{
		{auditKey("110113", "E", 0, "reader", shareCTStudy) + " type=110135", 2}, // created, revoked
		{auditKey("110113", "E", 0, "mr-reader", shareMRStudy) + " type=110135", 1},
		// opening, then reading metadata
		{auditKey("110103", "R", 0, "share:"+ctShare.ID, shareCTStudy), 2},
		{auditKey("110103", "R", 0, "share:"+mrShare.ID, shareMRStudy), 2},
	} {
		if count[want.key] != want.n {
			t.Errorf("audit: %d of %q, want %d (have %v)", count[want.key], want.key, want.n, count)
		}
	}
	opened, reasons := 0, map[string]int{}
	for i, l := range raw {
		if _, reason, ok := strings.Cut(l, `"share link refused: `); ok && strings.Contains(l, `"110132"`) && strings.Contains(l, `"anonymous"`) {
			reason, _, _ = strings.Cut(reason, `"`)
			reasons[reason]++
		}
		if strings.Contains(l, `"share link `+ctShare.ID+` opened"`) && strings.Contains(l, `"110103"`) {
			opened++
		}
		if strings.Contains(l, secret) {
			t.Errorf("audit line %d holds the link's secret", i+1)
		}
	}
	if want := map[string]int{"wrong secret": 1, "malformed token": 1, "revoked": 2, "expired": 1}; !maps.Equal(reasons, want) {
		t.Errorf("audit: refused links %v, want %v", reasons, want)
	}
	if opened != 1 {
		t.Errorf("audit: link %s opened %d times, want 1", ctShare.ID, opened)
	}
	if strings.Contains(firstLog+s.stderr.String(), secret) {
		t.Error("the server log holds the link's secret")
	}

	// Off: no link is made or opened.
	off := startSecServer(t, filepath.Join(dir, "data"), nil, "--api-tokens", tokens, "--share-max-hours", "0")
	create(off, adminTok, shareMRStudy, 1, 0, http.StatusForbidden)
	req, _ := http.NewRequest("GET", off.base+path(mrShare), nil)
	resp, err := browser().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("link with share links off: %d", resp.StatusCode)
	}
}
