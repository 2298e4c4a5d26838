package audit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb/security/auth"
)

func TestEmergencyOverride(t *testing.T) {
	tr, l, path := newTestTrail(t)
	r := httptest.NewRequest(http.MethodPost, "/auth/break-glass", nil)
	r.RemoteAddr = "192.0.2.7:5555"
	ctx := auth.WithPrincipal(context.Background(), &auth.Principal{Subject: "alice", Method: auth.MethodToken, Roles: auth.RolesOf(auth.Reader)})
	exp := time.Date(2025, 3, 1, 12, 30, 0, 0, time.UTC)
	const reason = "patient in resuscitation, previous CT needed"
	if err := tr.EmergencyOverride(ctx, r, Override{Grant: "bg-1", Study: StudyRef{StudyUID: "1.2.3", PatientID: "PB"}, Issuer: "SITE", Reason: reason, Expires: exp}); err != nil {
		t.Fatal(err)
	}
	tr.Access(ctx, httptest.NewRequest(http.MethodGet, "/dicomweb/studies/1.2.3", nil), Access{Op: OpRetrieve, Status: 200,
		Studies: []StudyRef{{StudyUID: "1.2.3", PatientID: "PB"}}, Overrides: []string{"bg-1"}})
	tr.wg.Wait()
	l.Close()
	recs := readRecords(t, path)
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	o := recs[0]
	if o.EventID != EventSecurityAlert || o.EventActionCode != Execute || o.EventOutcomeIndicator != Success ||
		len(types(o)) != 1 || types(o)[0] != "110127" {
		t.Errorf("override record: %+v", o)
	}
	if o.ActiveParticipants[0].UserID != "alice" || !o.ActiveParticipants[0].UserIsRequestor || o.ActiveParticipants[0].NetworkAccessPointID != "192.0.2.7" {
		t.Errorf("override user: %+v", o.ActiveParticipants[0])
	}
	var study, patient bool
	for _, p := range o.ParticipantObjects {
		study = study || (p.IDTypeCode == IDTypeStudyInstanceUID && p.ID == "1.2.3")
		patient = patient || (p.IDTypeCode == IDTypePatientNumber && p.ID == "PB")
	}
	if !study || !patient {
		t.Errorf("override objects: %+v", o.ParticipantObjects)
	}
	for _, want := range []string{"bg-1", reason, `"PB^^^SITE"`, "2025-03-01T12:30:00Z"} {
		if !strings.Contains(o.EventOutcomeDescription, want) {
			t.Errorf("override description %q lacks %q", o.EventOutcomeDescription, want)
		}
	}
	if d := recs[1].EventOutcomeDescription; d != "GET /dicomweb/studies/1.2.3 -> 200 (break-glass grant bg-1)" {
		t.Errorf("access description %q", d)
	}
	// A closed log: the error is returned (no grant without its record).
	if err := tr.EmergencyOverride(ctx, r, Override{Grant: "bg-2", Study: StudyRef{StudyUID: "1.2.3", PatientID: "PB"}, Reason: reason, Expires: exp}); err == nil {
		t.Error("EmergencyOverride on a closed log: no error")
	}
}
