package breakglass

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/security/audit"
	"github.com/minipacs/minipacs/dicomweb/security/auth"
)

// studies is a fake archive: study UID -> patient ID, issuer.
type studies map[string][2]string

func (s studies) StudyPatient(_ context.Context, uid string) (string, string, error) {
	p, ok := s[uid]
	if !ok {
		return "", "", fmt.Errorf("study %s: %w", uid, ErrNoStudy)
	}
	return p[0], p[1], nil
}

// recorder is a fake audit trail.
type recorder struct {
	mu   sync.Mutex
	got  []audit.Override
	fail error
}

func (r *recorder) EmergencyOverride(_ context.Context, _ *http.Request, o audit.Override) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.got = append(r.got, o)
	return nil
}

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var archive = studies{
	"1.2.1": {"PA", ""},
	"1.2.2": {"PB", ""},
	"1.2.3": {"PC", "SITE2"},
	"1.2.4": {"PB", "SITE2"}, // same ID, another namespace
}

func restricted(sub string, ids ...string) *auth.Principal {
	r := &auth.Restriction{}
	for _, id := range ids {
		r.Patients = append(r.Patients, auth.PatientRef{ID: id})
	}
	return &auth.Principal{Subject: sub, Method: auth.MethodToken, Roles: auth.RolesOf(auth.Reader), Restriction: r}
}

const reason = "patient in resuscitation, previous CT needed"

func newRegistry(t *testing.T, d time.Duration, max int) (*Registry, *recorder, *clock) {
	t.Helper()
	rec, clk := &recorder{}, &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	g, err := New(Config{Duration: d, MaxGrants: max, Patients: archive, Auditor: rec, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return g, rec, clk
}

func req() *http.Request { return httptest.NewRequest(http.MethodPost, Path, nil) }

func TestGrantAndExpiry(t *testing.T) {
	g, rec, clk := newRegistry(t, 15*time.Minute, 0)
	alice := restricted("alice", "PA")
	ctx := Track(context.Background())
	if g.Filter(ctx, alice)("PB", "") {
		t.Fatal("PB allowed before any grant")
	}
	gr, err := g.Grant(ctx, req(), alice, "1.2.2", "  "+reason+"  ")
	if err != nil {
		t.Fatal(err)
	}
	if gr.PatientID != "PB" || gr.Study != "1.2.2" || gr.Reason != reason || !gr.Active || gr.Expires.Sub(gr.Start) != 15*time.Minute {
		t.Errorf("grant = %+v", gr)
	}
	if len(rec.got) != 1 || rec.got[0].Grant != gr.ID || rec.got[0].Reason != reason || rec.got[0].Study.PatientID != "PB" ||
		rec.got[0].Study.StudyUID != "1.2.2" || !rec.got[0].Expires.Equal(gr.Expires) {
		t.Fatalf("audit records = %+v", rec.got)
	}
	// The same principal (another request object, as each request
	// authenticates anew) now sees PB, still PA, not PC nor PB of SITE2.
	alice2 := restricted("alice", "PA")
	allow := g.Filter(ctx, alice2)
	for _, tc := range []struct {
		id, issuer string
		want       bool
	}{{"PA", "", true}, {"PB", "", true}, {"PC", "SITE2", false}, {"PB", "SITE2", false}, {"PA", "X", true}} {
		if got := allow(tc.id, tc.issuer); got != tc.want {
			t.Errorf("allow(%q, %q) = %v, want %v", tc.id, tc.issuer, got, tc.want)
		}
	}
	// One use per request however many studies it touched.
	allow("PB", "")
	if u := Used(ctx); len(u) != 1 || u[0] != gr.ID {
		t.Errorf("Used = %v", u)
	}
	g.Filter(Track(context.Background()), alice2)("PB", "")
	if l := g.List(); len(l) != 1 || l[0].Uses != 2 {
		t.Errorf("List after 2 requests = %+v, want 2 uses", l)
	}
	// Asking again while the grant is active: already allowed.
	if _, err := g.Grant(ctx, req(), alice, "1.2.2", reason); !errors.Is(err, ErrAllowed) {
		t.Errorf("second grant: %v, want ErrAllowed", err)
	}
	// A filter made before expiry stops at the expiry too.
	clk.add(15*time.Minute - time.Second)
	late := g.Filter(context.Background(), alice2)
	clk.add(time.Second)
	if late("PB", "") || g.Filter(context.Background(), alice2)("PB", "") {
		t.Error("PB still allowed after the expiry")
	}
	if !g.Filter(context.Background(), alice2)("PA", "") {
		t.Error("the restriction itself changed after the expiry")
	}
	l := g.List()
	if len(l) != 1 || l[0].Active {
		t.Errorf("List after expiry = %+v, want the grant, inactive", l)
	}
	// Kept for the retention, then gone.
	clk.add(DefaultRetention + time.Second)
	if l := g.List(); len(l) != 0 {
		t.Errorf("List after the retention = %+v, want none", l)
	}
}

func TestOtherPrincipalNotGranted(t *testing.T) {
	g, _, _ := newRegistry(t, time.Hour, 0)
	if _, err := g.Grant(context.Background(), req(), restricted("alice", "PA"), "1.2.2", reason); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*auth.Principal{
		restricted("bob", "PA"),
		{Subject: "alice", Method: auth.MethodBasic, Restriction: &auth.Restriction{Patients: []auth.PatientRef{{ID: "PA"}}}},
	} {
		if g.Filter(context.Background(), p)("PB", "") {
			t.Errorf("%s (%s) sees PB through alice's grant", p.Subject, p.Method)
		}
	}
	// Unrestricted: no filter at all.
	if f := g.Filter(context.Background(), &auth.Principal{Subject: "admin", Method: auth.MethodToken}); f != nil {
		t.Error("unrestricted principal got a filter")
	}
}

func TestGrantRefused(t *testing.T) {
	long := strings.Repeat("x", MaxReason+1)
	for _, tc := range []struct {
		name          string
		p             *auth.Principal
		study, reason string
		want          error
	}{
		{"short reason", restricted("a", "PA"), "1.2.2", "too short", ErrReason},
		{"blank reason", restricted("a", "PA"), "1.2.2", "               ", ErrReason},
		{"long reason", restricted("a", "PA"), "1.2.2", long, ErrReason},
		{"control char", restricted("a", "PA"), "1.2.2", "line one\nline two", ErrReason},
		{"no study", restricted("a", "PA"), "", reason, ErrStudyUID},
		{"bad uid", restricted("a", "PA"), "1.2.x", reason, ErrStudyUID},
		{"unknown study", restricted("a", "PA"), "1.2.99", reason, ErrNoStudy},
		{"unrestricted", &auth.Principal{Subject: "a", Method: auth.MethodToken}, "1.2.2", reason, ErrNotRestricted},
		{"own patient", restricted("a", "PA"), "1.2.1", reason, ErrAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, rec, _ := newRegistry(t, time.Hour, 0)
			if _, err := g.Grant(context.Background(), req(), tc.p, tc.study, tc.reason); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if len(rec.got) != 0 || len(g.List()) != 0 {
				t.Errorf("refused grant left %d records, %d grants", len(rec.got), len(g.List()))
			}
		})
	}
	// Exactly at the limits is fine.
	g, _, _ := newRegistry(t, time.Hour, 0)
	if _, err := g.Grant(context.Background(), req(), restricted("a", "PA"), "1.2.2", strings.Repeat("é", MinReason)); err != nil {
		t.Errorf("reason of %d characters: %v", MinReason, err)
	}
	if _, err := g.Grant(context.Background(), req(), restricted("b", "PA"), "1.2.2", strings.Repeat("y", MaxReason)); err != nil {
		t.Errorf("reason of %d characters: %v", MaxReason, err)
	}
}

func TestAuditFailureGivesNoGrant(t *testing.T) {
	g, rec, _ := newRegistry(t, time.Hour, 0)
	rec.fail = errors.New("disk full")
	alice := restricted("alice", "PA")
	if _, err := g.Grant(context.Background(), req(), alice, "1.2.2", reason); !errors.Is(err, ErrAudit) {
		t.Fatalf("err = %v, want ErrAudit", err)
	}
	if g.Filter(context.Background(), alice)("PB", "") || len(g.List()) != 0 {
		t.Error("grant in effect without its audit record")
	}
}

func TestCap(t *testing.T) {
	g, _, clk := newRegistry(t, time.Minute, 3)
	grant := func(sub string) error {
		_, err := g.Grant(context.Background(), req(), restricted(sub, "PA"), "1.2.2", reason)
		return err
	}
	for i := range 3 {
		if err := grant(fmt.Sprint("u", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := grant("u3"); !errors.Is(err, ErrFull) {
		t.Fatalf("4th active grant: %v, want ErrFull", err)
	}
	// Once one has expired it makes room (the oldest expired goes).
	clk.add(time.Minute)
	if err := grant("u3"); err != nil {
		t.Fatalf("grant after expiry: %v", err)
	}
	l := g.List()
	if len(l) != 3 || l[0].User != "u3" || l[2].User != "u1" {
		t.Errorf("List = %+v, want u3, u2, u1 (newest first, u0 dropped)", l)
	}
}

func TestOff(t *testing.T) {
	g, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	alice := restricted("alice", "PA")
	if _, err := g.Grant(context.Background(), req(), alice, "1.2.2", reason); !errors.Is(err, ErrOff) {
		t.Errorf("Grant when off: %v, want ErrOff", err)
	}
	if f := g.Filter(context.Background(), alice); f == nil || f("PB", "") || !f("PA", "") {
		t.Error("Filter when off is not the plain restriction")
	}
	for _, tc := range []struct{ method, path, body string }{{"POST", Path, `{"study":"1.2.2","reason":"` + reason + `"}`}, {"GET", AdminPath, ""}} {
		rec := serveHTTP(t, g, alice, tc.method, tc.path, tc.body)
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "off") {
			t.Errorf("%s %s when off: %d %q, want 404 saying off", tc.method, tc.path, rec.Code, rec.Body)
		}
	}
	if _, err := New(Config{Duration: time.Minute}); err == nil {
		t.Error("New without a Locator: no error")
	}
}

// serveHTTP sends one request to g's routes as principal p.
func serveHTTP(t *testing.T, g *Registry, p *auth.Principal, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	e := echo.New()
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.SetRequest(c.Request().WithContext(auth.WithPrincipal(c.Request().Context(), p)))
			return next(c)
		}
	}, g.Middleware())
	auth.Register(e, g.Routes())
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, r)
	return rec
}

func TestHTTP(t *testing.T) {
	g, _, _ := newRegistry(t, 30*time.Minute, 0)
	alice := restricted("alice", "PA")
	body := func(study, reason string) string {
		b, _ := json.Marshal(map[string]string{"study": study, "reason": reason})
		return string(b)
	}
	for _, tc := range []struct {
		name string
		body string
		want int
	}{
		{"not json", "study=1.2.2", http.StatusBadRequest},
		{"unknown field", `{"study":"1.2.2","reason":"` + reason + `","x":1}`, http.StatusBadRequest},
		{"two objects", body("1.2.2", reason) + "{}", http.StatusBadRequest},
		{"short reason", body("1.2.2", "because"), http.StatusBadRequest},
		{"unknown study", body("1.2.99", reason), http.StatusNotFound},
		{"own patient", body("1.2.1", reason), http.StatusConflict},
		{"granted", body("1.2.2", reason), http.StatusCreated},
		{"again", body("1.2.2", reason), http.StatusConflict},
	} {
		rec := serveHTTP(t, g, alice, http.MethodPost, Path, tc.body)
		if rec.Code != tc.want {
			t.Errorf("%s: %d %q, want %d", tc.name, rec.Code, rec.Body, tc.want)
		}
		if tc.want == http.StatusCreated {
			var got granted
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.PatientID != "PB" || got.Expires.Sub(got.Start) != 30*time.Minute {
				t.Errorf("201 body %q (%v)", rec.Body, err)
			}
		}
	}
	r := httptest.NewRequest(http.MethodPost, Path, strings.NewReader(body("1.2.3", reason)))
	r.Header.Set("Content-Type", "text/plain")
	e := echo.New()
	auth.Register(e, g.Routes())
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, r)
	if rec.Code != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain body: %d, want 415", rec.Code)
	}
	rec = serveHTTP(t, g, &auth.Principal{Subject: "boss", Method: auth.MethodToken, Roles: auth.RolesOf(auth.Admin)}, http.MethodGet, AdminPath, "")
	var list []Grant
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || rec.Code != http.StatusOK || len(list) != 1 ||
		list[0].User != "alice" || list[0].Reason != reason || list[0].Study != "1.2.2" || !list[0].Active {
		t.Errorf("GET %s: %d %s", AdminPath, rec.Code, rec.Body)
	}
}

// memStore is a fake shared store of grants (the index of several nodes).
type memStore struct {
	mu     sync.Mutex
	grants []Grant
	fail   error
}

func (m *memStore) SaveGrant(_ context.Context, g Grant) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.grants = append(m.grants, g)
	return nil
}

func (m *memStore) Grants(context.Context) ([]Grant, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, m.fail
	}
	return append([]Grant(nil), m.grants...), nil
}

// TestSharedGrants: a grant made through one node opens the patient on
// another within storeRefresh, for the same principal only, until its
// expiry; a grant that cannot be shared is not given.
func TestSharedGrants(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	store := &memStore{}
	node := func() *Registry {
		g, err := New(Config{Duration: time.Hour, Patients: archive, Now: clk.now, Store: store})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	a, b := node(), node()
	doc, other := restricted("doc", "PA"), restricted("nurse", "PA")
	if b.Filter(ctx, doc)("PB", "") {
		t.Fatal("PB open before any grant")
	}
	req := httptest.NewRequest(http.MethodPost, "/auth/break-glass", nil)
	gr, err := a.Grant(ctx, req, doc, "1.2.2", reason)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Filter(ctx, doc)("PB", "") {
		t.Fatal("the granting node does not open PB")
	}
	if b.Filter(ctx, doc)("PB", "") {
		t.Fatal("node b read the store again within storeRefresh")
	}
	clk.add(storeRefresh)
	if !b.Filter(ctx, doc)("PB", "") {
		t.Fatal("node b does not open PB after storeRefresh")
	}
	if b.Filter(ctx, other)("PB", "") {
		t.Fatal("another principal got the grant")
	}
	if l := b.List(); len(l) != 1 || l[0].ID != gr.ID || !l[0].Active {
		t.Fatalf("node b lists %+v", l)
	}
	// A second grant on b for the same patient: already allowed.
	if _, err := b.Grant(ctx, req, doc, "1.2.2", reason); !errors.Is(err, ErrAllowed) {
		t.Fatalf("second grant on b: %v, want ErrAllowed", err)
	}
	clk.add(time.Hour)
	if a.Filter(ctx, doc)("PB", "") || b.Filter(ctx, doc)("PB", "") {
		t.Fatal("grant in effect after its expiry")
	}
	// The store refuses: no grant.
	store.fail = errors.New("database unavailable")
	if _, err := a.Grant(ctx, req, doc, "1.2.3", reason); !errors.Is(err, ErrShare) {
		t.Fatalf("grant with the store down: %v, want ErrShare", err)
	}
	if a.Filter(ctx, doc)("PC", "SITE2") {
		t.Fatal("a grant that was not shared is in effect")
	}
}
