package breakglass

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/minipacs/minipacs/dicomweb/security/audit"
	"github.com/minipacs/minipacs/dicomweb/security/auth"
)

// Defaults and limits.
const (
	DefaultMaxGrants = 1000
	DefaultRetention = 7 * 24 * time.Hour
	// MinReason and MaxReason bound the length of a reason in characters.
	MinReason, MaxReason = 10, 500
	maxUID               = 64
)

// Errors of Grant.
var (
	ErrOff           = errors.New("breakglass: break-glass access is off on this server")
	ErrReason        = fmt.Errorf("breakglass: the reason must be %d to %d characters of text on one line", MinReason, MaxReason)
	ErrStudyUID      = errors.New("breakglass: study must be a Study Instance UID")
	ErrNoStudy       = errors.New("breakglass: no such study")
	ErrNotRestricted = errors.New("breakglass: not restricted: the principal may see every patient")
	ErrAllowed       = errors.New("breakglass: the principal may already see this study's patient")
	ErrFull          = errors.New("breakglass: too many active grants")
	ErrAudit         = errors.New("breakglass: the audit record could not be written: no grant given")
	ErrShare         = errors.New("breakglass: the grant could not be recorded for the other nodes: no grant given")
)

// Locator finds the patient of a study. It returns an error wrapping
// ErrNoStudy when the archive has no such study.
type Locator interface {
	StudyPatient(ctx context.Context, studyUID string) (id, issuer string, err error)
}

// Auditor records a grant, durable before it returns (*audit.Trail).
type Auditor interface {
	EmergencyOverride(ctx context.Context, r *http.Request, o audit.Override) error
}

// Store keeps grants where every node of an archive sees them (an index
// that several nodes share), so that a grant made through one node opens
// the patient on all.
type Store interface {
	// SaveGrant records g durably.
	SaveGrant(ctx context.Context, g Grant) error
	// Grants returns the grants recorded, expired ones within retention
	// included.
	Grants(ctx context.Context) ([]Grant, error)
}

// storeRefresh is how often a Registry with a Store reads it: a grant
// made on another node takes effect here within that time.
const storeRefresh = time.Second

// Config configures a Registry.
type Config struct {
	// Duration is the lifetime of a grant; zero turns the feature off.
	Duration time.Duration
	// MaxGrants caps the grants held, active or expired (default
	// DefaultMaxGrants).
	MaxGrants int
	// Retention is how long expired grants are kept for review (default
	// DefaultRetention).
	Retention time.Duration
	// Patients finds a study's patient; required when Duration > 0.
	Patients Locator
	// Auditor records each grant; nil records nothing (no audit trail).
	Auditor Auditor
	Logger  *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Store, when set, shares the grants between the nodes of an archive
	// (nil: grants live in this process only).
	Store Store
}

// Grant is a break-glass grant as listed for review.
type Grant struct {
	ID        string    `json:"id"`
	User      string    `json:"user"`
	Name      string    `json:"name,omitempty"`
	Method    string    `json:"method"`
	PatientID string    `json:"patientID"`
	Issuer    string    `json:"issuerOfPatientID,omitempty"`
	Study     string    `json:"study"`
	Reason    string    `json:"reason"`
	Start     time.Time `json:"start"`
	Expires   time.Time `json:"expires"`
	Uses      int64     `json:"uses"`
	Active    bool      `json:"active"`
}

// grant is a held grant.
type grant struct {
	Grant
	key     principalKey
	pending bool // its audit record is being written
	uses    atomic.Int64
}

type principalKey struct{ subject, method string }

func keyOf(p *auth.Principal) principalKey {
	return principalKey{p.Subject, string(p.Method)}
}

// Registry holds the grants of a running server.
type Registry struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	grants []*grant  // oldest first
	synced time.Time // last read of Config.Store
}

// New returns a Registry; with a zero Duration the feature is off.
func New(cfg Config) (*Registry, error) {
	if cfg.Duration < 0 {
		return nil, fmt.Errorf("breakglass: negative duration")
	}
	if cfg.Duration > 0 && cfg.Patients == nil {
		return nil, fmt.Errorf("breakglass: no Locator")
	}
	if cfg.MaxGrants <= 0 {
		cfg.MaxGrants = DefaultMaxGrants
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Registry{cfg: cfg, log: log.With("component", "break-glass")}, nil
}

// Enabled reports whether break-glass access is on.
func (g *Registry) Enabled() bool { return g != nil && g.cfg.Duration > 0 }

// CheckReason validates a stated reason: MinReason to MaxReason characters
// (after trimming spaces), valid UTF-8, no control characters.
func CheckReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	n := utf8.RuneCountInString(reason)
	if !utf8.ValidString(reason) || n < MinReason || n > MaxReason || strings.IndexFunc(reason, unicode.IsControl) >= 0 {
		return "", ErrReason
	}
	return reason, nil
}

func checkUID(uid string) error {
	if uid == "" || len(uid) > maxUID || strings.Trim(uid, "0123456789.") != "" ||
		uid[0] == '.' || uid[len(uid)-1] == '.' || strings.Contains(uid, "..") {
		return ErrStudyUID
	}
	return nil
}

// Grant gives principal p (of request r, for the audit record) the
// patient of study for Config.Duration, for reason. The audit record is
// durable before the grant takes effect.
func (g *Registry) Grant(ctx context.Context, r *http.Request, p *auth.Principal, study, reason string) (Grant, error) {
	if !g.Enabled() {
		return Grant{}, ErrOff
	}
	reason, err := CheckReason(reason)
	if err != nil {
		return Grant{}, err
	}
	if err := checkUID(study); err != nil {
		return Grant{}, err
	}
	if p == nil || p.Restriction == nil {
		return Grant{}, ErrNotRestricted
	}
	id, issuer, err := g.cfg.Patients.StudyPatient(ctx, study)
	if err != nil {
		return Grant{}, err
	}
	if g.allows(ctx, p, id, issuer) {
		return Grant{}, ErrAllowed
	}
	// Reserve the slot (pending: not in effect), record, then activate.
	ng, err := g.reserve(p, id, issuer, study, reason)
	if err != nil {
		return Grant{}, err
	}
	if g.cfg.Auditor != nil {
		err := g.cfg.Auditor.EmergencyOverride(ctx, r, audit.Override{
			Grant: ng.ID, Study: audit.StudyRef{StudyUID: study, PatientID: id}, Issuer: issuer,
			Reason: reason, Expires: ng.Expires,
		})
		if err != nil {
			g.drop(ng)
			g.log.Error("grant refused", "err", err)
			return Grant{}, fmt.Errorf("%w: %w", ErrAudit, err)
		}
	}
	if g.cfg.Store != nil {
		if err := g.cfg.Store.SaveGrant(ctx, ng.Grant); err != nil {
			g.drop(ng)
			g.log.Error("grant refused: not shared with the other nodes", "err", err)
			return Grant{}, fmt.Errorf("%w: %w", ErrShare, err)
		}
	}
	g.mu.Lock()
	ng.pending = false
	out := ng.view(g.cfg.Now())
	g.mu.Unlock()
	g.log.Warn("break-glass grant", "id", out.ID, "subject", out.User, "method", out.Method, "study", study, "expires", out.Expires)
	return out, nil
}

// allows reports whether p may see the patient by its restriction or an
// active grant.
func (g *Registry) allows(ctx context.Context, p *auth.Principal, id, issuer string) bool {
	if p.AllowsPatient(id, issuer) {
		return true
	}
	for _, gr := range g.active(ctx, p) {
		if gr.PatientID == id && gr.Issuer == issuer {
			return true
		}
	}
	return false
}

func (g *Registry) reserve(p *auth.Principal, id, issuer, study, reason string) (*grant, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.cfg.Now()
	g.pruneLocked(now)
	if len(g.grants) >= g.cfg.MaxGrants {
		// Drop the oldest expired grant, if any.
		i := slices.IndexFunc(g.grants, func(gr *grant) bool { return !gr.pending && !now.Before(gr.Expires) })
		if i < 0 {
			return nil, ErrFull
		}
		g.grants = slices.Delete(g.grants, i, i+1)
	}
	ng := &grant{
		Grant: Grant{
			ID: fmt.Sprintf("bg-%d-%s", now.Unix(), randomHex(6)), User: p.Subject, Name: p.Name, Method: string(p.Method),
			PatientID: id, Issuer: issuer, Study: study, Reason: reason,
			Start: now.UTC(), Expires: now.Add(g.cfg.Duration).UTC(),
		},
		key: keyOf(p), pending: true,
	}
	g.grants = append(g.grants, ng)
	return ng, nil
}

func (g *Registry) drop(ng *grant) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.grants = slices.DeleteFunc(g.grants, func(gr *grant) bool { return gr == ng })
}

// pruneLocked drops the grants expired for longer than the retention.
func (g *Registry) pruneLocked(now time.Time) {
	cut := now.Add(-g.cfg.Retention)
	g.grants = slices.DeleteFunc(g.grants, func(gr *grant) bool { return !gr.pending && gr.Expires.Before(cut) })
}

// sync merges the grants of Config.Store made on other nodes, at most
// once per storeRefresh; a failing store leaves the grants held.
func (g *Registry) sync(ctx context.Context) {
	if g.cfg.Store == nil {
		return
	}
	now := g.cfg.Now()
	g.mu.Lock()
	due := now.Sub(g.synced) >= storeRefresh || now.Before(g.synced)
	if due {
		g.synced = now
	}
	g.mu.Unlock()
	if !due {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	shared, err := g.cfg.Store.Grants(ctx)
	if err != nil {
		g.log.Warn("break-glass: cannot read the shared grants", "err", err)
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, sg := range shared {
		if slices.ContainsFunc(g.grants, func(gr *grant) bool { return gr.ID == sg.ID }) {
			continue
		}
		sg.Uses, sg.Active = 0, false
		g.grants = append(g.grants, &grant{Grant: sg, key: principalKey{sg.User, sg.Method}})
	}
	slices.SortStableFunc(g.grants, func(a, b *grant) int { return a.Start.Compare(b.Start) })
	g.pruneLocked(now)
	for len(g.grants) > g.cfg.MaxGrants {
		i := slices.IndexFunc(g.grants, func(gr *grant) bool { return !gr.pending && !now.Before(gr.Expires) })
		if i < 0 {
			break
		}
		g.grants = slices.Delete(g.grants, i, i+1)
	}
}

// randomHex is n random bytes in hex (grant ids unique across nodes).
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// active returns p's grants in effect now.
func (g *Registry) active(ctx context.Context, p *auth.Principal) []*grant {
	if !g.Enabled() || p == nil {
		return nil
	}
	g.sync(ctx)
	k := keyOf(p)
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.cfg.Now()
	var out []*grant
	for _, gr := range g.grants {
		if gr.key == k && !gr.pending && now.Before(gr.Expires) {
			out = append(out, gr)
		}
	}
	return out
}

func (gr *grant) view(now time.Time) Grant {
	v := gr.Grant
	v.Uses = gr.uses.Load()
	v.Active = !gr.pending && now.Before(gr.Expires)
	return v
}

// List returns the grants held for review, newest first: active ones and
// those expired within the retention.
func (g *Registry) List() []Grant {
	if !g.Enabled() {
		return nil
	}
	g.sync(context.Background())
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.cfg.Now()
	g.pruneLocked(now)
	out := make([]Grant, 0, len(g.grants))
	for i := len(g.grants) - 1; i >= 0; i-- {
		if !g.grants[i].pending {
			out = append(out, g.grants[i].view(now))
		}
	}
	return out
}

// Filter returns the patient test of principal p for a request of ctx:
// nil when p is unrestricted (it may see all), else its restriction plus
// the patients of its grants active when Filter is called, each until its
// expiry. A patient allowed only through a grant counts one use of the
// grant per request (see Middleware) and is listed by Used.
func (g *Registry) Filter(ctx context.Context, p *auth.Principal) func(id, issuer string) bool {
	if p == nil || p.Restriction == nil {
		return nil
	}
	grants := g.active(ctx, p)
	if len(grants) == 0 {
		return p.AllowsPatient
	}
	tr := trackerOf(ctx)
	if tr == nil {
		tr = &tracker{}
	}
	now := g.cfg.Now
	return func(id, issuer string) bool {
		if p.AllowsPatient(id, issuer) {
			return true
		}
		for _, gr := range grants {
			if gr.PatientID == id && gr.Issuer == issuer && now().Before(gr.Expires) {
				tr.use(gr)
				return true
			}
		}
		return false
	}
}

// ---- per-request use ----

// tracker is the record of the grants one request was served through.
type tracker struct {
	mu   sync.Mutex
	used []*grant
}

func (t *tracker) use(gr *grant) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if slices.Contains(t.used, gr) {
		return
	}
	t.used = append(t.used, gr)
	gr.uses.Add(1)
}

type trackerKey struct{}

func trackerOf(ctx context.Context) *tracker {
	t, _ := ctx.Value(trackerKey{}).(*tracker)
	return t
}

// Track returns ctx carrying the record of one request's grant uses (see
// Middleware), so that several filters of the same request count one use.
func Track(ctx context.Context) context.Context {
	return context.WithValue(ctx, trackerKey{}, &tracker{})
}

// Used returns the ids of the grants the request of ctx was served
// through so far (nil without Track).
func Used(ctx context.Context) []string {
	t := trackerOf(ctx)
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.used))
	for _, gr := range t.used {
		out = append(out, gr.ID)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
