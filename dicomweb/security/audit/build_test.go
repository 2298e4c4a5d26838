package audit

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestBuild(t *testing.T) {
	n := Node{App: "minipacs", Host: "pacs1", SiteID: "site"}
	u := User{ID: "alice", Name: "Alice", Method: "bearer", Roles: []string{"reader"}, Remote: "192.0.2.7"}
	studies := []StudyRef{
		{StudyUID: "1.2.3", PatientID: "P1", PatientName: "Doe^Jane", Accession: "A1", Instances: 2},
		{StudyUID: "1.2.4", PatientID: "P1", PatientName: "Doe^Jane"},
	}
	type want struct {
		event, action string
		outcome       Outcome
		typ           string // event type code or ""
		requestorRole string // role of the requesting user, "" for none
		appRole       string
		objects       int
		patients      int
	}
	tests := []struct {
		name string
		rec  Record
		want want
	}{
		{"stow", n.Transferred(Create, u, studies, Success, ""), want{"110104", "C", 0, "", "110153", "110152", 3, 1}},
		{"wado", n.Transferred(Read, u, studies[:1], Success, ""), want{"110104", "R", 0, "", "110152", "110153", 2, 1}},
		{"metadata", n.Accessed(Read, u, studies[:1], MinorFailure, "not found"), want{"110103", "R", 4, "", "", "", 2, 1}},
		{"delete", n.Deleted(u, studies, Success, ""), want{"110105", "D", 0, "", "", "", 3, 1}},
		{"query", n.Query(u, "study", "/studies?PatientName=Doe*", "", Success, ""), want{"110112", "E", 0, "", "110153", "110152", 1, 0}},
		{"query in study", n.Query(u, "series", "/studies/1.2.3/series", "1.2.3", Success, ""), want{"110112", "E", 0, "", "110153", "110152", 2, 0}},
		{"login failed", n.Authentication(TypeLogin, User{Remote: "::1", Method: "basic"}, MinorFailure, "bad password"), want{"110114", "E", 4, "110122", "", "", 0, 0}},
		{"logout", n.Authentication(TypeLogout, u, Success, ""), want{"110114", "E", 0, "110123", "", "", 0, 0}},
		{"forbidden", n.SecurityAlert(TypeUseOfRestrictedFunction, u, "/studies/1.2.3", MinorFailure, "role admin required"), want{"110113", "E", 4, "110132", "", "", 1, 0}},
		{"tls reload", n.SecurityAlert(TypeSecurityConfiguration, User{}, "/etc/minipacs/tls.crt", Success, ""), want{"110113", "E", 0, "110129", "", "", 1, 0}},
		{"start", n.AppActivity(TypeApplicationStart, "root", Success, ""), want{"110100", "E", 0, "110120", "", "110150", 0, 0}},
		{"stop", n.AppActivity(TypeApplicationStop, "", Success, ""), want{"110100", "E", 0, "110121", "", "110150", 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.rec
			if err := r.Validate(); err != nil {
				t.Fatal(err)
			}
			if r.EventID.Code != tt.want.event || r.EventID.System != "DCM" || string(r.EventActionCode) != tt.want.action || r.EventOutcomeIndicator != tt.want.outcome {
				t.Errorf("event %+v action %s outcome %d", r.EventID, r.EventActionCode, r.EventOutcomeIndicator)
			}
			typ := ""
			if len(r.EventTypeCode) > 0 {
				typ = r.EventTypeCode[0].Code
			}
			if typ != tt.want.typ {
				t.Errorf("event type %q, want %q", typ, tt.want.typ)
			}
			requestors := 0
			for _, p := range r.ActiveParticipants {
				role := ""
				if len(p.RoleIDCode) > 0 && p.RoleIDCode[0].System == "DCM" {
					role = p.RoleIDCode[0].Code
				}
				if p.UserID == "minipacs" {
					if role != tt.want.appRole {
						t.Errorf("application role %q, want %q", role, tt.want.appRole)
					}
					if p.NetworkAccessPointID != "pacs1" {
						t.Errorf("application node %q", p.NetworkAccessPointID)
					}
				} else if tt.want.requestorRole != "" && role != tt.want.requestorRole {
					t.Errorf("user role %q, want %q", role, tt.want.requestorRole)
				}
				if p.UserIsRequestor {
					requestors++
				}
			}
			if requestors != 1 {
				t.Errorf("%d requestors, want 1", requestors)
			}
			if len(r.ParticipantObjects) != tt.want.objects {
				t.Errorf("%d participant objects, want %d", len(r.ParticipantObjects), tt.want.objects)
			}
			patients := 0
			for _, o := range r.ParticipantObjects {
				switch o.IDTypeCode {
				case IDTypePatientNumber:
					patients++
					if o.TypeCode != ObjectPerson || o.TypeCodeRole != ObjectRolePatient || o.Name != "Doe^Jane" {
						t.Errorf("patient object %+v", o)
					}
				case IDTypeStudyInstanceUID:
					if o.TypeCode != ObjectSystemObject || o.TypeCodeRole != ObjectRoleReport {
						t.Errorf("study object %+v", o)
					}
				}
			}
			if patients != tt.want.patients {
				t.Errorf("%d patients, want %d", patients, tt.want.patients)
			}
			if r.AuditSource.ID != "minipacs@pacs1" || r.AuditSource.EnterpriseSiteID != "site" {
				t.Errorf("audit source %+v", r.AuditSource)
			}
		})
	}
}

func TestUserParticipant(t *testing.T) {
	tests := []struct {
		remote   string
		wantType int
	}{{"192.0.2.1", NetworkIPAddress}, {"2001:db8::1", NetworkIPAddress}, {"gateway.example", NetworkMachineName}, {"", 0}}
	for _, tt := range tests {
		t.Run(tt.remote, func(t *testing.T) {
			p := User{Remote: tt.remote}.participant(nil)
			if p.UserID != "anonymous" || !p.UserIsRequestor || p.NetworkAccessPointTypeCode != tt.wantType || p.NetworkAccessPointID != tt.remote {
				t.Errorf("%+v", p)
			}
		})
	}
}

func TestQueryRecordJSON(t *testing.T) {
	long := "/studies?" + strings.Repeat("x", 2*maxQuery)
	r := Node{Host: "h"}.Query(User{ID: "u"}, "study", long, "", Success, "")
	if got := len(r.ParticipantObjects[0].Query); got != maxQuery {
		t.Errorf("query kept %d bytes, want %d", got, maxQuery)
	}
	r = Node{Host: "h"}.Query(User{ID: "u"}, "study", "/studies?PatientID=1", "", Success, "")
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	// The query is base64, as in the DICOM audit message schema.
	if !strings.Contains(string(b), `"participantObjectQuery":"L3N0dWRpZXM/UGF0aWVudElEPTE="`) {
		t.Errorf("query not base64 encoded: %s", b)
	}
	var back Record
	if err := json.Unmarshal(b, &back); err != nil || string(back.ParticipantObjects[0].Query) != "/studies?PatientID=1" {
		t.Errorf("round trip: %v %+v", err, back.ParticipantObjects)
	}
}

func TestValidate(t *testing.T) {
	good := Node{Host: "h"}.Deleted(User{ID: "u"}, []StudyRef{{StudyUID: "1.2"}}, Success, "")
	tests := []struct {
		name   string
		mutate func(*Record)
		want   string
	}{
		{"ok", func(*Record) {}, ""},
		{"action", func(r *Record) { r.EventActionCode = "X" }, "eventActionCode"},
		{"outcome", func(r *Record) { r.EventOutcomeIndicator = 3 }, "eventOutcomeIndicator"},
		{"no event", func(r *Record) { r.EventID = Code{} }, "eventID"},
		{"no participant", func(r *Record) { r.ActiveParticipants = nil }, "active participant"},
		{"empty user", func(r *Record) { r.ActiveParticipants[0].UserID = "" }, "userID"},
		{"object id", func(r *Record) { r.ParticipantObjects[0].ID = "" }, "participantObject"},
		{"no source", func(r *Record) { r.AuditSource.ID = "" }, "auditSourceID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good
			r.ActiveParticipants = append([]ActiveParticipant(nil), good.ActiveParticipants...)
			r.ParticipantObjects = append([]ParticipantObject(nil), good.ParticipantObjects...)
			tt.mutate(&r)
			err := r.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestOutcomeFromStatus(t *testing.T) {
	for status, want := range map[int]Outcome{200: Success, 204: Success, 304: Success, 401: MinorFailure, 404: MinorFailure, 500: SeriousFailure, 503: SeriousFailure} {
		if got := OutcomeFromStatus(status); got != want {
			t.Errorf("OutcomeFromStatus(%d) = %d, want %d", status, got, want)
		}
	}
}
