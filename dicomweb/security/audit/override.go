package audit

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Override is a break-glass grant as the audit trail records it: a user
// restricted to some patients given access to another patient's studies
// for a while, for a stated reason.
type Override struct {
	Grant   string    // the grant's id (also in the access records it serves)
	Study   StudyRef  // the study asked for and its patient
	Issuer  string    // the patient's Issuer of Patient ID (0010,0021), if any
	Reason  string    // the reason the user stated
	Expires time.Time // when the grant ends
}

// EmergencyOverride records a break-glass grant: 110113 Security Alert,
// type 110127 Emergency Override Started, action E, success; the user of
// request r (UserOf), the study and its patient as participant objects,
// and the grant, its expiry and the reason in the description. The record
// is durable before return; unlike the other records its error is
// returned, so that no grant is given without its record.
func (t *Trail) EmergencyOverride(ctx context.Context, r *http.Request, o Override) error {
	rec := t.overrideRecord(UserOf(ctx, r), o)
	if err := t.log.Record(context.WithoutCancel(ctx), rec); err != nil {
		t.slog.Error("audit record not written", "event", rec.EventID.Code, "err", err)
		return fmt.Errorf("audit: emergency override: %w", err)
	}
	return nil
}

func (t *Trail) overrideRecord(u User, o Override) Record {
	patient := o.Study.PatientID
	if o.Issuer != "" {
		patient += "^^^" + o.Issuer
	}
	desc := fmt.Sprintf("break-glass grant %s: patient %q until %s; reason: %s", o.Grant, patient, o.Expires.UTC().Format(time.RFC3339), o.Reason)
	r := t.node.record(EventSecurityAlert, Execute, Success, desc)
	r.EventTypeCode = []Code{TypeEmergencyOverrideStarted}
	r.ActiveParticipants = []ActiveParticipant{u.participant(nil), t.node.application(nil, false)}
	r.ParticipantObjects = studyObjects([]StudyRef{o.Study})
	return r
}

// overrideNote is the note an access record gets when the request was
// served through break-glass grants.
func overrideNote(grants []string) string {
	if len(grants) == 0 {
		return ""
	}
	return " (break-glass grant " + strings.Join(grants, ",") + ")"
}
