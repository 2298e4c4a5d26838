package audit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/security/auth"
)

// TestTrailShare: each share link event gives one durable record with its
// event ID, type, outcome, user and objects (never a token).
func TestTrailShare(t *testing.T) {
	study := StudyRef{StudyUID: "1.2.3", PatientID: "P1", PatientName: "Doe^Jane"}
	for _, tc := range []struct {
		name    string
		s       Share
		user    string
		event   string
		typ     []string
		action  Action
		outcome Outcome
		objects []string
	}{
		{"created", Share{Op: ShareCreated, ID: "abc", Study: study}, "alice", "110113", []string{"110135"}, Execute, Success, []string{"share:abc", "1.2.3", "P1"}},
		{"revoked", Share{Op: ShareRevoked, ID: "abc", Study: study}, "alice", "110113", []string{"110135"}, Execute, Success, []string{"share:abc", "1.2.3", "P1"}},
		{"opened", Share{Op: ShareOpened, ID: "abc", Study: study}, "share:abc", "110103", nil, Read, Success, []string{"1.2.3", "P1"}},
		{"refused", Share{Op: ShareRefused, ID: "abc", Reason: "expired"}, "", "110113", []string{"110132"}, Execute, MinorFailure, []string{"share:abc"}},
		{"refused unknown", Share{Op: ShareRefused, Reason: "unknown link"}, "", "110113", []string{"110132"}, Execute, MinorFailure, []string{"share:?"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, l, path := newTestTrail(t)
			r := httptest.NewRequest(http.MethodGet, "/share/secret-token", nil)
			ctx := context.Background()
			if tc.user != "" {
				ctx = auth.WithPrincipal(ctx, &auth.Principal{Subject: tc.user, Method: auth.MethodToken})
			}
			before := l.Seq()
			tr.Share(ctx, r, tc.s)
			if l.Seq() != before+1 {
				t.Error("record not written before Share returned")
			}
			if err := tr.Close(); err != nil {
				t.Fatal(err)
			}
			rec := readRecords(t, path)[0]
			if rec.EventID.Code != tc.event || !slices.Equal(types(rec), tc.typ) || rec.EventActionCode != tc.action || rec.EventOutcomeIndicator != tc.outcome {
				t.Errorf("record %s %v %s %d", rec.EventID.Code, types(rec), rec.EventActionCode, rec.EventOutcomeIndicator)
			}
			var objs []string
			for _, o := range rec.ParticipantObjects {
				objs = append(objs, o.ID)
			}
			if !slices.Equal(objs, tc.objects) {
				t.Errorf("objects %q, want %q", objs, tc.objects)
			}
			if tc.user != "" && rec.ActiveParticipants[0].UserID != tc.user {
				t.Errorf("user %q, want %q", rec.ActiveParticipants[0].UserID, tc.user)
			}
		})
	}
}
