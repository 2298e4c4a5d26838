package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/security/auth"
)

// readRecords returns the records of the log at path.
func readRecords(t *testing.T, path string) []Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Record
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, MaxLine)
	for sc.Scan() {
		var line struct{ Record Record }
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		out = append(out, line.Record)
	}
	return out
}

func newTestTrail(t *testing.T) (*Trail, *Log, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.log")
	l := openLog(t, path, Options{})
	return NewTrail(l, testNode, "operator", nil), l, path
}

func types(r Record) []string {
	var out []string
	for _, c := range r.EventTypeCode {
		out = append(out, c.Code)
	}
	return out
}

func TestTrailAccess(t *testing.T) {
	studies := []StudyRef{{StudyUID: "1.2.3", PatientID: "P1", PatientName: "Doe^Jane", Instances: 2}}
	for _, tc := range []struct {
		name    string
		a       Access
		event   string
		action  Action
		outcome Outcome
		durable bool
		desc    string
	}{
		{"store", Access{Op: OpStore, Status: 200, Studies: studies}, "110104", Create, Success, true, "POST /dicomweb/x -> 200"},
		{"store refused", Access{Op: OpStore, Status: 409, Studies: studies}, "110104", Create, MinorFailure, true, "POST /dicomweb/x -> 409"},
		{"delete", Access{Op: OpDelete, Status: 200, Studies: studies}, "110105", Delete, Success, true, "POST /dicomweb/x -> 200"},
		{"retrieve", Access{Op: OpRetrieve, Status: 200, Studies: studies}, "110104", Read, Success, false, "POST /dicomweb/x -> 200"},
		{"read failed", Access{Op: OpRead, Status: 500, Studies: studies}, "110103", Read, SeriousFailure, false, "POST /dicomweb/x -> 500"},
		{"query", Access{Op: OpQuery, Status: 200, Level: "study", Query: "/dicomweb/studies?PatientID=P1"}, "110112", Execute, Success, false, "POST /dicomweb/x -> 200"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, l, path := newTestTrail(t)
			r := httptest.NewRequest(http.MethodPost, "/dicomweb/x", nil)
			r.RemoteAddr = "192.0.2.7:5000"
			p := &auth.Principal{Subject: "ct-1", Name: "CT one", Method: auth.MethodToken, Roles: auth.RolesOf(auth.Writer, auth.Reader)}
			ctx := auth.WithPrincipal(context.Background(), p)
			before := l.Seq()
			tr.Access(ctx, r, tc.a)
			if tc.durable && l.Seq() != before+1 {
				t.Errorf("record not written before Access returned")
			}
			if err := tr.Close(); err != nil {
				t.Fatal(err)
			}
			recs := readRecords(t, path)
			if len(recs) != 2 { // the access and the Application Stop
				t.Fatalf("%d records, want 2", len(recs))
			}
			rec := recs[0]
			if rec.EventID.Code != tc.event || rec.EventActionCode != tc.action || rec.EventOutcomeIndicator != tc.outcome || rec.EventOutcomeDescription != tc.desc {
				t.Errorf("record %s %s %d %q, want %s %s %d %q", rec.EventID.Code, rec.EventActionCode, rec.EventOutcomeIndicator,
					rec.EventOutcomeDescription, tc.event, tc.action, tc.outcome, tc.desc)
			}
			var user *ActiveParticipant
			for i, ap := range rec.ActiveParticipants {
				if ap.UserID == "ct-1" {
					user = &rec.ActiveParticipants[i]
				}
			}
			if user == nil || user.UserName != "CT one" || user.NetworkAccessPointID != "192.0.2.7" || !user.UserIsRequestor {
				t.Errorf("user participant %+v in %+v", user, rec.ActiveParticipants)
			}
			if stop := recs[1]; stop.EventID.Code != "110100" || !slices.Equal(types(stop), []string{"110121"}) {
				t.Errorf("last record %s %v, want the Application Stop", stop.EventID.Code, types(stop))
			}
		})
	}
}

func TestTrailUnknownOperation(t *testing.T) {
	tr, l, _ := newTestTrail(t)
	tr.Access(context.Background(), httptest.NewRequest(http.MethodGet, "/x", nil), Access{Status: 200})
	tr.wg.Wait()
	if l.Seq() != 0 {
		t.Errorf("an access of no operation was recorded")
	}
}

func TestTrailOnAuth(t *testing.T) {
	tok := &auth.Principal{Subject: "viewer", Method: auth.MethodToken, Roles: auth.RolesOf(auth.Reader)}
	for _, tc := range []struct {
		name    string
		ev      auth.AuthEvent
		event   string // "" for no record
		typ     string
		outcome Outcome
		desc    string
	}{
		{"success", auth.AuthEvent{Principal: tok, Success: true, HTTPMethod: "GET", Route: "/dicomweb/studies"}, "", "", 0, ""},
		{"no credentials", auth.AuthEvent{Status: 401, Reason: "no credentials", Remote: "192.0.2.1", HTTPMethod: "GET", Route: "/dicomweb/studies"},
			"110114", "110122", MinorFailure, "method=none: GET /dicomweb/studies -> 401: no credentials"},
		{"keys unavailable", auth.AuthEvent{Status: 503, Reason: "signing keys unavailable", HTTPMethod: "GET", Route: "/dicomweb/studies"},
			"110114", "110122", SeriousFailure, "method=none: GET /dicomweb/studies -> 503: signing keys unavailable"},
		{"missing role", auth.AuthEvent{Principal: tok, Status: 403, Reason: "missing role admin", HTTPMethod: "DELETE", Route: "/dicomweb/studies/:study"},
			"110113", "110132", MinorFailure, "DELETE /dicomweb/studies/:study -> 403: missing role admin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, l, _ := newTestTrail(t)
			rec, ok := tr.authRecord(tc.ev)
			if ok != (tc.event != "") {
				t.Fatalf("recorded %v, want %v", ok, tc.event != "")
			}
			tr.OnAuth(context.Background(), tc.ev)
			if want := uint64(0); ok {
				want = 1
				if l.Seq() != want {
					t.Errorf("record not written before OnAuth returned")
				}
			} else if l.Seq() != want {
				t.Errorf("a successful authentication was recorded")
			}
			if !ok {
				return
			}
			if err := rec.Validate(); err != nil {
				t.Error(err)
			}
			if rec.EventID.Code != tc.event || !slices.Equal(types(rec), []string{tc.typ}) || rec.EventOutcomeIndicator != tc.outcome || rec.EventOutcomeDescription != tc.desc {
				t.Errorf("record %s %v %d %q, want %s %s %d %q", rec.EventID.Code, types(rec), rec.EventOutcomeIndicator,
					rec.EventOutcomeDescription, tc.event, tc.typ, tc.outcome, tc.desc)
			}
		})
	}
}

func TestUserOf(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/x", nil)
	r.RemoteAddr = "[2001:db8::1]:443"
	if got := UserOf(context.Background(), r); got.Method != "none" || got.ID != "" || got.Remote != "2001:db8::1" {
		t.Errorf("no principal: %+v", got)
	}
	p := &auth.Principal{Subject: "u", Name: "User", Method: auth.MethodOIDC, Roles: auth.RolesOf(auth.Reader, auth.Admin)}
	got := UserOf(auth.WithPrincipal(context.Background(), p), r)
	if got.ID != "u" || got.Name != "User" || got.Method != "oidc" || got.Remote != "2001:db8::1" || len(got.Roles) != 2 {
		t.Errorf("principal: %+v", got)
	}
}

func TestTrailStartAndNilClose(t *testing.T) {
	var nilTrail *Trail
	if err := nilTrail.Close(); err != nil {
		t.Fatal(err)
	}
	tr, _, path := newTestTrail(t)
	tr.Start(context.Background(), "minipacs test")
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	recs := readRecords(t, path)
	if len(recs) != 2 || !slices.Equal(types(recs[0]), []string{"110120"}) || recs[0].EventOutcomeDescription != "minipacs test" ||
		!slices.Equal(types(recs[1]), []string{"110121"}) {
		t.Fatalf("records %+v", recs)
	}
	if ap := recs[0].ActiveParticipants; len(ap) < 2 || ap[1].UserID != "operator" {
		t.Errorf("launcher not recorded: %+v", ap)
	}
}
