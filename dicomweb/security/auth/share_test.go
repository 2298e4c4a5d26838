package auth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestStudyRestriction: a study restriction allows its studies (and only
// under the patient lists when it has some) and no whole patient.
func TestStudyRestriction(t *testing.T) {
	only := &Restriction{StudyUIDs: []string{"1.2.3"}}
	for _, tc := range []struct {
		name              string
		r                 *Restriction
		study, id, issuer string
		want              bool
	}{
		{"nil", nil, "9", "P", "", true},
		{"empty", &Restriction{}, "1.2.3", "P", "", false},
		{"the study", only, "1.2.3", "P", "H", true},
		{"another study", only, "1.2.4", "P", "H", false},
		{"empty study list", &Restriction{StudyUIDs: []string{}}, "1.2.3", "P", "", false},
		{"patient only", &Restriction{Patients: []PatientRef{{ID: "P"}}}, "9", "P", "", true},
		{"patient only, other", &Restriction{Patients: []PatientRef{{ID: "P"}}}, "9", "Q", "", false},
		{"study and patient", &Restriction{StudyUIDs: []string{"1.2.3"}, Patients: []PatientRef{{ID: "P"}}}, "1.2.3", "P", "", true},
		{"study of another patient", &Restriction{StudyUIDs: []string{"1.2.3"}, Patients: []PatientRef{{ID: "P"}}}, "1.2.3", "Q", "", false},
		{"study and tenant", &Restriction{StudyUIDs: []string{"1.2.3"}, Tenants: []string{"H"}}, "1.2.3", "P", "K", false},
	} {
		if got := tc.r.AllowsStudy(tc.study, tc.id, tc.issuer); got != tc.want {
			t.Errorf("%s: AllowsStudy = %v, want %v", tc.name, got, tc.want)
		}
		p := &Principal{Restriction: tc.r}
		if got := p.AllowsStudy(tc.study, tc.id, tc.issuer); got != tc.want {
			t.Errorf("%s: Principal.AllowsStudy = %v, want %v", tc.name, got, tc.want)
		}
	}
	if only.AllowsPatient("P", "H") {
		t.Error("a study restriction allows a whole patient")
	}
	var nilP *Principal
	if nilP.AllowsStudy("1.2.3", "P", "") {
		t.Error("nil principal allowed a study")
	}
}

// fakeSessions answers for its cookie only.
type fakeSessions struct {
	cookie string
	p      *Principal
	csrf   string
}

func (f fakeSessions) Session(_ context.Context, r *http.Request) (*Principal, string, error) {
	ck, err := r.Cookie(f.cookie)
	if err != nil {
		return nil, "", ErrNoCredentials
	}
	if ck.Value != "ok" {
		return nil, "", errors.New("session: unknown")
	}
	return f.p, f.csrf, nil
}

// TestSessionsChain: several session sources are asked in order, the
// first that finds its cookie decides, and a session without a CSRF
// token is read-only.
func TestSessionsChain(t *testing.T) {
	a, err := New(context.Background(), Config{AnonymousRoles: 0})
	if err != nil {
		t.Fatal(err)
	}
	browser := &Principal{Subject: "alice", Method: MethodSession, Roles: RolesOf(Admin)}
	shared := &Principal{Subject: "share:x", Method: MethodShare, Roles: RolesOf(Reader)}
	a.UseSessions(fakeSessions{"b", browser, "tok"})
	a.UseSessions(fakeSessions{"s", shared, ""})
	req := func(method string, cookies map[string]string, csrf string) *http.Request {
		r := httptest.NewRequest(method, "/x", nil)
		for k, v := range cookies {
			r.AddCookie(&http.Cookie{Name: k, Value: v})
		}
		if csrf != "" {
			r.Header.Set(CSRFHeader, csrf)
		}
		return r
	}
	for _, tc := range []struct {
		name    string
		r       *http.Request
		want    *Principal
		wantErr error
	}{
		{"none", req("GET", nil, ""), nil, ErrNoCredentials},
		{"browser", req("GET", map[string]string{"b": "ok"}, ""), browser, nil},
		{"share", req("GET", map[string]string{"s": "ok"}, ""), shared, nil},
		{"browser first", req("GET", map[string]string{"b": "ok", "s": "ok"}, ""), browser, nil},
		{"browser POST with CSRF", req("POST", map[string]string{"b": "ok"}, "tok"), browser, nil},
		{"share POST", req("POST", map[string]string{"s": "ok"}, ""), nil, ErrCSRF},
		{"share DELETE with a guessed token", req("DELETE", map[string]string{"s": "ok"}, "x"), nil, ErrCSRF},
	} {
		p, err := a.Authenticate(context.Background(), tc.r)
		if p != tc.want || (tc.wantErr == nil) != (err == nil) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
			t.Errorf("%s: %v, %v; want %v, %v", tc.name, p, err, tc.want, tc.wantErr)
		}
	}
	// An unknown cookie of the second source is invalid (401), not absent.
	if _, err := a.Authenticate(context.Background(), req("GET", map[string]string{"s": "bad"}, "")); err == nil || errors.Is(err, ErrNoCredentials) {
		t.Errorf("unknown share cookie: %v", err)
	}
}
