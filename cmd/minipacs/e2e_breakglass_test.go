package main_test

// Break-glass end-to-end through the binary: a reader restricted to
// patient PA opens patient PB's study for a short time with a stated
// reason; the grant is audited (110113 / 110127 with the reason), the
// reads through it are audited as usual and name the grant, the grant
// ends at its expiry, and an admin reviews it at GET /admin/break-glass.

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestBreakGlass(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	adminTok, adminLine := secMakeToken(t, "boss", "admin")
	docTok, docLine := secMakeToken(t, "doctor", "reader", "--patients", "PA")
	nurseTok, nurseLine := secMakeToken(t, "nurse", "reader", "--patients", "PA")
	tokens := secWriteFile(t, dir, "tokens", adminLine, docLine, nurseLine)
	const lifetime = 4 * time.Second
	s := startSecServer(t, data, nil, "--api-tokens", tokens, "--break-glass-duration", lifetime.String())

	own := secStudy("9.1", 1, "PA", "Alpha^Patient")
	other := secStudy("9.2", 2, "PB", "Beta^Patient")
	s.mustStow(t, bearer(adminTok), append(own, other...)...)
	b := other[0]

	// What a token sees of PB's study: metadata (WADO), the study
	// retrieve, and a QIDO search by its UID.
	sees := func(tok string) (wado, retrieve int, qido bool) {
		t.Helper()
		r := s.must(t, "GET", "/dicomweb/studies/"+b.study+"/metadata", secHdr("Authorization", bearer(tok), "Accept", acceptJSON), nil)
		wado = r.status
		r = s.must(t, "GET", "/dicomweb/studies/"+b.study, secHdr("Authorization", bearer(tok), "Accept", acceptDICOM), nil)
		retrieve = r.status
		r = s.must(t, "GET", "/dicomweb/studies?StudyInstanceUID="+b.study, secHdr("Authorization", bearer(tok), "Accept", acceptJSON), nil)
		qido = slices.Contains(qidoUIDs(t, r, "0020000D"), b.study)
		return
	}
	if w, rt, q := sees(docTok); w != http.StatusNotFound || rt != http.StatusNotFound || q {
		t.Fatalf("restricted reader before break-glass: WADO %d, retrieve %d, QIDO finds it %v; want 404, 404, false", w, rt, q)
	}

	post := func(tok, body string) *response {
		t.Helper()
		return s.must(t, "POST", "/auth/break-glass", secHdr("Authorization", bearer(tok), "Content-Type", "application/json"), []byte(body))
	}
	const reason = "Notfall: Reanimation, Vor-CT benötigt (Dr. House)"
	for _, tc := range []struct {
		name, tok, body string
		want            int
	}{
		{"short reason", docTok, `{"study":"` + b.study + `","reason":"urgent"}`, http.StatusBadRequest},
		{"unknown study", docTok, `{"study":"` + b.study + `.77","reason":"` + reason + `"}`, http.StatusNotFound},
		{"own patient", docTok, `{"study":"` + own[0].study + `","reason":"` + reason + `"}`, http.StatusConflict},
		{"unrestricted admin", adminTok, `{"study":"` + b.study + `","reason":"` + reason + `"}`, http.StatusConflict},
		{"no credentials", "", `{"study":"` + b.study + `","reason":"` + reason + `"}`, http.StatusUnauthorized},
	} {
		hdr := secHdr("Content-Type", "application/json")
		if tc.tok != "" {
			hdr.Set("Authorization", bearer(tc.tok))
		}
		if r := s.must(t, "POST", "/auth/break-glass", hdr, []byte(tc.body)); r.status != tc.want {
			t.Errorf("POST break-glass, %s: %d, want %d: %s", tc.name, r.status, tc.want, r)
		}
	}

	r := post(docTok, `{"study":"`+b.study+`","reason":"`+reason+`"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("POST break-glass: %s, want 201", r)
	}
	var g struct {
		ID, Study, PatientID string
		Expires              time.Time
	}
	if err := json.Unmarshal(r.body, &g); err != nil || g.Study != b.study || g.PatientID != "PB" || g.Expires.IsZero() {
		t.Fatalf("201 body %s (%v)", r.body, err)
	}
	if left := time.Until(g.Expires); left <= 0 || left > lifetime+time.Second {
		t.Errorf("grant expires in %v, want about %v", left, lifetime)
	}
	if w, rt, q := sees(docTok); w != http.StatusOK || rt != http.StatusOK || !q {
		t.Errorf("restricted reader through the grant: WADO %d, retrieve %d, QIDO finds it %v; want 200, 200, true", w, rt, q)
	}
	// The grant is the doctor's only: the nurse, restricted alike, still
	// gets 404.
	if w, _, q := sees(nurseTok); w != http.StatusNotFound || q {
		t.Errorf("another restricted reader: WADO %d, QIDO finds it %v; want 404, false", w, q)
	}
	// The admin's review; a reader may not see it.
	if r := s.must(t, "GET", "/admin/break-glass", secHdr("Authorization", bearer(docTok)), nil); r.status != http.StatusForbidden {
		t.Errorf("GET /admin/break-glass as reader: %d, want 403", r.status)
	}
	r = s.must(t, "GET", "/admin/break-glass", secHdr("Authorization", bearer(adminTok)), nil)
	var list []struct {
		ID, User, PatientID, Study, Reason string
		Start, Expires                     time.Time
		Uses                               int
		Active                             bool
	}
	if err := json.Unmarshal(r.body, &list); err != nil || r.status != http.StatusOK {
		t.Fatalf("GET /admin/break-glass: %s (%v)", r, err)
	}
	if len(list) != 1 || list[0].ID != g.ID || list[0].User != "doctor" || list[0].PatientID != "PB" || list[0].Study != b.study ||
		list[0].Reason != reason || !list[0].Active || list[0].Uses != 3 {
		t.Errorf("GET /admin/break-glass: %+v, want doctor's active grant of PB with 3 uses", list)
	}

	// After the expiry the study is gone again.
	time.Sleep(time.Until(g.Expires) + 300*time.Millisecond)
	if w, rt, q := sees(docTok); w != http.StatusNotFound || rt != http.StatusNotFound || q {
		t.Errorf("after the expiry: WADO %d, retrieve %d, QIDO finds it %v; want 404, 404, false", w, rt, q)
	}
	r = s.must(t, "GET", "/admin/break-glass", secHdr("Authorization", bearer(adminTok)), nil)
	if err := json.Unmarshal(r.body, &list); err != nil || len(list) != 1 || list[0].Active || list[0].Uses != 3 {
		t.Errorf("GET /admin/break-glass after the expiry: %s, want the grant, inactive, 3 uses", r.body)
	}

	// The audit trail: one 110113/110127 record of the doctor with the
	// study, the patient and the reason; the doctor's reads of PB name the
	// grant (3 of them); no record names it after the expiry.
	s.stop(syscall.SIGTERM) // Close waits for the records of reads
	lines := readBreakGlassAudit(t, filepath.Join(data, "audit", "audit.log"))
	var overrides, served int
	for _, l := range lines {
		rec := l.Record
		if rec.EventID.Code == "110113" && len(rec.EventTypeCode) == 1 && rec.EventTypeCode[0].Code == "110127" {
			overrides++
			var study, patient bool
			for _, o := range rec.Objects {
				study = study || o.ID == b.study
				patient = patient || o.ID == "PB"
			}
			if rec.Participants[0].UserID != "doctor" || !study || !patient || !strings.Contains(rec.Desc, reason) || !strings.Contains(rec.Desc, g.ID) {
				t.Errorf("override record: %+v", rec)
			}
		}
		if strings.Contains(rec.Desc, "(break-glass grant "+g.ID+")") {
			served++
			if rec.Participants[0].UserID != "doctor" && rec.Participants[1].UserID != "doctor" {
				t.Errorf("record through the grant of another user: %+v", rec)
			}
		}
	}
	if overrides != 1 || served != 3 {
		t.Errorf("audit: %d override records, %d access records through the grant; want 1 and 3", overrides, served)
	}
}

// TestBreakGlassOff: without --break-glass-duration both routes answer 404
// saying the feature is off, and nothing is granted.
func TestBreakGlassOff(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	adminTok, adminLine := secMakeToken(t, "boss", "admin")
	docTok, docLine := secMakeToken(t, "doctor", "reader", "--patients", "PA")
	s := startSecServer(t, filepath.Join(dir, "data"), nil, "--api-tokens", secWriteFile(t, dir, "tokens", adminLine, docLine))
	b := secStudy("9.3", 1, "PB", "Beta^Patient")[0]
	s.mustStow(t, bearer(adminTok), b)
	r := s.must(t, "POST", "/auth/break-glass", secHdr("Authorization", bearer(docTok), "Content-Type", "application/json"),
		[]byte(`{"study":"`+b.study+`","reason":"patient in resuscitation, previous CT needed"}`))
	if r.status != http.StatusNotFound || !strings.Contains(string(r.body), "off") {
		t.Errorf("POST /auth/break-glass when off: %s, want 404 saying off", r)
	}
	if r := s.must(t, "GET", "/admin/break-glass", secHdr("Authorization", bearer(adminTok)), nil); r.status != http.StatusNotFound || !strings.Contains(string(r.body), "off") {
		t.Errorf("GET /admin/break-glass when off: %s, want 404 saying off", r)
	}
	if r := s.must(t, "GET", "/dicomweb/studies/"+b.study+"/metadata", secHdr("Authorization", bearer(docTok), "Accept", acceptJSON), nil); r.status != http.StatusNotFound {
		t.Errorf("restricted reader after a refused break-glass: %d, want 404", r.status)
	}
}

type breakGlassAuditLine struct {
	Record struct {
		EventID struct {
			Code string `json:"code"`
		} `json:"eventID"`
		Desc          string `json:"eventOutcomeDescription"`
		EventTypeCode []struct {
			Code string `json:"code"`
		} `json:"eventTypeCode"`
		Participants []struct {
			UserID string `json:"userID"`
		} `json:"activeParticipant"`
		Objects []struct {
			ID string `json:"participantObjectID"`
		} `json:"participantObjectIdentification"`
	} `json:"record"`
}

func readBreakGlassAudit(t *testing.T, path string) []breakGlassAuditLine {
	t.Helper()
	_, raw := readAuditLog(t, path)
	out := make([]breakGlassAuditLine, len(raw))
	for i, l := range raw {
		if err := json.Unmarshal([]byte(l), &out[i]); err != nil {
			t.Fatalf("audit line %d: %v", i+1, err)
		}
	}
	return out
}
