package audit

import (
	"context"
	"slices"
	"testing"
)

// TestTrailDIMSE: every association outcome and C-STORE status gets its
// ATNA event, type, outcome and the calling AE title and address as the
// requesting user; rejections and stores are durable before return.
func TestTrailDIMSE(t *testing.T) {
	peer := Peer("CT_SCANNER", "192.0.2.9:4006")
	study := StudyRef{StudyUID: "1.2.3", Instances: 1, SOPInstance: []string{"1.2.3.4"}}
	for _, tc := range []struct {
		name    string
		do      func(*Trail)
		event   string
		typ     string
		outcome Outcome
		action  Action
		durable bool
		desc    string
	}{
		{"accepted", func(tr *Trail) { tr.Association(context.Background(), peer, "MINIPACS", AssociationAccepted, "") },
			"110114", "110122", Success, Execute, false, "method=dicom-ae: DIMSE association to MINIPACS accepted"},
		{"released", func(tr *Trail) { tr.Association(context.Background(), peer, "MINIPACS", AssociationReleased, "") },
			"110114", "110123", Success, Execute, false, "method=dicom-ae: DIMSE association to MINIPACS released"},
		{"aborted", func(tr *Trail) {
			tr.Association(context.Background(), peer, "MINIPACS", AssociationAborted, "idle timeout")
		}, "110114", "110123", MinorFailure, Execute, false, "method=dicom-ae: DIMSE association to MINIPACS aborted: idle timeout"},
		{"rejected", func(tr *Trail) {
			tr.Association(context.Background(), peer, "OTHER", AssociationRejected, "called AE title not recognised")
		}, "110113", "110126", MinorFailure, Execute, true, "DIMSE association to OTHER rejected: called AE title not recognised"},
		{"stored", func(tr *Trail) { tr.Stored(context.Background(), peer, study, "1.2.840.10008.5.1.4.1.1.2", 0) },
			"110104", "", Success, Create, true, "C-STORE 1.2.840.10008.5.1.4.1.1.2 -> 0x0000"},
		{"stored with a warning", func(tr *Trail) { tr.Stored(context.Background(), peer, study, "1.2.840.10008.5.1.4.1.1.2", 0xB000) },
			"110104", "", Success, Create, true, "C-STORE 1.2.840.10008.5.1.4.1.1.2 -> 0xB000"},
		{"store refused", func(tr *Trail) {
			tr.Stored(context.Background(), peer, StudyRef{}, "1.2.840.10008.5.1.4.1.1.2", 0x0111)
		},
			"110104", "", MinorFailure, Create, true, "C-STORE 1.2.840.10008.5.1.4.1.1.2 -> 0x0111"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, l, path := newTestTrail(t)
			tc.do(tr)
			if tc.durable && l.Seq() != 1 {
				t.Errorf("record not written before return")
			}
			if err := tr.Close(); err != nil {
				t.Fatal(err)
			}
			recs := readRecords(t, path)
			if len(recs) != 2 {
				t.Fatalf("%d records, want 2", len(recs))
			}
			rec := recs[0]
			if err := rec.Validate(); err != nil {
				t.Errorf("invalid record: %v", err)
			}
			var wantTypes []string
			if tc.typ != "" {
				wantTypes = []string{tc.typ}
			}
			if rec.EventID.Code != tc.event || !slices.Equal(types(rec), wantTypes) || rec.EventOutcomeIndicator != tc.outcome ||
				rec.EventActionCode != tc.action || rec.EventOutcomeDescription != tc.desc {
				t.Errorf("record %s %v %d %s %q, want %s %v %d %s %q", rec.EventID.Code, types(rec), rec.EventOutcomeIndicator,
					rec.EventActionCode, rec.EventOutcomeDescription, tc.event, wantTypes, tc.outcome, tc.action, tc.desc)
			}
			var user *ActiveParticipant
			for i, ap := range rec.ActiveParticipants {
				if ap.UserID == "CT_SCANNER" {
					user = &rec.ActiveParticipants[i]
				}
			}
			if user == nil || user.NetworkAccessPointID != "192.0.2.9" || !user.UserIsRequestor {
				t.Errorf("peer participant %+v in %+v", user, rec.ActiveParticipants)
			}
		})
	}
}
