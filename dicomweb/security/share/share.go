package share

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/kind"
	"github.com/minipacs/minipacs/dicomweb/security/audit"
	"github.com/minipacs/minipacs/dicomweb/security/auth"
	"github.com/minipacs/minipacs/dicomweb/security/transport"
)

// Paths of the routes.
const (
	CreatePath = "/shares"
	RevokePath = "/shares/:id"
	ListPath   = "/admin/shares"
	OpenPath   = "/share/:token"
	ViewerPath = "/viewer/viewer"
)

// Records keeps the share records durably, by share id (cmd/minipacs
// keeps them in the index, kind r_share).
type Records interface {
	// PutRecord writes value under key, durably.
	PutRecord(ctx context.Context, key string, value []byte) error
	// GetRecord returns the value under key; an error wrapping
	// kind.NotFound when there is none.
	GetRecord(ctx context.Context, key string) ([]byte, error)
	// ForEachRecord calls fn for every record, in key order.
	ForEachRecord(ctx context.Context, fn func(key string, value []byte) error) error
}

// Study is what a share needs to know of a study: its patient, for the
// creator's restriction and the audit trail.
type Study struct {
	UID, PatientID, IssuerOfPatientID, PatientName, AccessionNumber string
}

// Studies finds studies (cmd/minipacs: in the index).
type Studies interface {
	// Study returns the study uid and whether it exists.
	Study(ctx context.Context, uid string) (Study, bool, error)
}

// Auditor records share link events (*audit.Trail implements it).
type Auditor interface {
	Share(ctx context.Context, r *http.Request, s audit.Share)
}

// Config configures share links.
type Config struct {
	Records Records
	Studies Studies
	// MaxAge is the longest lifetime of a link; 0 turns share links off
	// (every route refuses).
	MaxAge time.Duration
	// SessionMaxAge bounds a share session (default 12 h); it also ends
	// at the link's expiry.
	SessionMaxAge time.Duration
	// BaseURL is the server's external URL (only its scheme and host are
	// used) for the links; "" derives it from each request's Host.
	BaseURL string
	// Secure: the browser reaches the server over TLS (Secure cookie with
	// the __Host- prefix).
	Secure bool
	// MaxSessions bounds the share sessions in memory (default 10000).
	MaxSessions int
	Auditor     Auditor
	Logger      *slog.Logger
	Now         func() time.Time
}

// Record is a share link as stored (index kind r_share, key ID).
type Record struct {
	ID            string      `json:"id"`
	Study         string      `json:"study"`
	Creator       string      `json:"creator"`
	CreatorMethod auth.Method `json:"creatorMethod"`
	CreatorName   string      `json:"creatorName,omitempty"`
	Created       time.Time   `json:"created"`
	Expires       time.Time   `json:"expires"`
	Revoked       *time.Time  `json:"revoked,omitempty"`
	RevokedBy     string      `json:"revokedBy,omitempty"`
	// SecretSHA256 is the hex SHA-256 of the token's secret part.
	SecretSHA256 string `json:"secretSHA256"`
}

// View is a share link as GET /admin/shares lists it.
type View struct {
	ID          string     `json:"id"`
	Study       string     `json:"study"`
	Creator     string     `json:"creator"`
	CreatorName string     `json:"creatorName,omitempty"`
	Created     time.Time  `json:"created"`
	Expires     time.Time  `json:"expires"`
	Revoked     *time.Time `json:"revoked,omitempty"`
	RevokedBy   string     `json:"revokedBy,omitempty"`
	Active      bool       `json:"active"`
}

// Created is the answer of POST /shares.
type Created struct {
	ID      string    `json:"id"`
	URL     string    `json:"url"`
	Study   string    `json:"study"`
	Expires time.Time `json:"expires"`
}

// request is the body of POST /shares.
type request struct {
	Study   string `json:"study"`
	Hours   int64  `json:"hours"`
	Seconds int64  `json:"seconds"`
}

// Service holds the share links' routes and sessions. It implements
// auth.Sessions.
type Service struct {
	cfg    Config
	log    *slog.Logger
	cookie string

	mu        sync.Mutex
	sessions  map[string]*session
	lastSweep time.Time
}

// session is one opened link.
type session struct {
	share     string
	principal *auth.Principal
	expires   time.Time
}

// New returns the service.
func New(cfg Config) (*Service, error) {
	if cfg.Records == nil || cfg.Studies == nil {
		return nil, errors.New("share: no records or studies")
	}
	if cfg.MaxAge < 0 {
		return nil, errors.New("share: negative maximum age")
	}
	origin, err := transport.Origin(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("share: %w", err)
	}
	cfg.BaseURL = origin
	if cfg.SessionMaxAge <= 0 {
		cfg.SessionMaxAge = 12 * time.Hour
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 10000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{cfg: cfg, log: cfg.Logger.With("component", "share"), cookie: "minipacs_share", sessions: map[string]*session{}}
	if cfg.Secure {
		s.cookie = "__Host-minipacs_share"
	}
	return s, nil
}

// Enabled reports whether share links are on.
func (s *Service) Enabled() bool { return s.cfg.MaxAge > 0 }

// CookieName is the share session cookie's name.
func (s *Service) CookieName() string { return s.cookie }

// Routes are the share link routes, each with its role.
func (s *Service) Routes() []auth.Route {
	return []auth.Route{
		{Method: http.MethodPost, Path: CreatePath, Role: auth.Reader, Handler: s.create},
		{Method: http.MethodDelete, Path: RevokePath, Role: auth.Reader, Handler: s.revoke},
		{Method: http.MethodGet, Path: ListPath, Role: auth.Admin, Handler: s.list},
		{Method: http.MethodGet, Path: OpenPath, Role: auth.Public, Handler: s.open},
	}
}

// Errors of the API, as JSON {"error": ...}.
func fail(c echo.Context, status int, msg string) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(status, map[string]string{"error": msg})
}

const disabled = "share links are disabled on this server"

// ---- create ----

func (s *Service) create(c echo.Context) error {
	r := c.Request()
	ctx := r.Context()
	if !s.Enabled() {
		return fail(c, http.StatusForbidden, disabled)
	}
	p := auth.FromContext(ctx)
	if p == nil || p.Method == auth.MethodShare {
		return fail(c, http.StatusForbidden, "a share session cannot make share links")
	}
	var req request
	dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return fail(c, http.StatusBadRequest, "body: want JSON {\"study\": \"<uid>\", \"hours\": N}")
	}
	if !validUID(req.Study) {
		return fail(c, http.StatusBadRequest, "study: not a UID")
	}
	const maxUnits = 1 << 40 // keeps the product below the range of a Duration
	if req.Hours < 0 || req.Seconds < 0 || req.Hours > maxUnits || req.Seconds > maxUnits {
		return fail(c, http.StatusBadRequest, "hours and seconds must be non-negative")
	}
	life := time.Duration(req.Hours)*time.Hour + time.Duration(req.Seconds)*time.Second
	if life <= 0 || life > s.cfg.MaxAge {
		return fail(c, http.StatusBadRequest, fmt.Sprintf("lifetime must be positive and at most %g hours", s.cfg.MaxAge.Hours()))
	}
	sa, found, err := s.study(ctx, req.Study)
	if err != nil {
		return fmt.Errorf("share: study lookup: %w", err)
	}
	if !found || !p.AllowsStudy(sa.UID, sa.PatientID, sa.IssuerOfPatientID) {
		return fail(c, http.StatusNotFound, "no such study")
	}
	id, secret := random(16), random(32)
	now := s.cfg.Now().UTC()
	rec := Record{
		ID: id, Study: req.Study, Creator: p.Subject, CreatorMethod: creatorMethod(p.Method), CreatorName: p.Name,
		Created: now, Expires: now.Add(life), SecretSHA256: digest(secret),
	}
	if err := s.put(ctx, &rec); err != nil {
		return err
	}
	s.audit(ctx, r, audit.Share{Op: audit.ShareCreated, ID: id, Study: studyRef(sa)})
	s.log.Info("share link created", "id", id, "study", req.Study, "creator", p.Subject, "expires", rec.Expires)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, Created{ID: id, URL: s.origin(r) + "/share/" + id + "." + secret, Study: req.Study, Expires: rec.Expires})
}

// creatorMethod names the identity namespace of a creator: a browser
// session's subject is its OIDC subject.
func creatorMethod(m auth.Method) auth.Method {
	if m == auth.MethodSession {
		return auth.MethodOIDC
	}
	return m
}

// validUID accepts a DICOM UID: 1 to 64 digits and dots.
func validUID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && s[i] != '.' {
			return false
		}
	}
	return true
}

// study looks a study up.
func (s *Service) study(ctx context.Context, uid string) (Study, bool, error) {
	st, found, err := s.cfg.Studies.Study(ctx, uid)
	st.UID = uid
	return st, found, err
}

func studyRef(st Study) audit.StudyRef {
	return audit.StudyRef{StudyUID: st.UID, PatientID: st.PatientID, PatientName: st.PatientName, Accession: st.AccessionNumber}
}

func (s *Service) put(ctx context.Context, rec *Record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := s.cfg.Records.PutRecord(ctx, rec.ID, b); err != nil {
		return fmt.Errorf("share: %w", err)
	}
	return nil
}

// Get returns the share link id (an error wrapping kind.NotFound when
// none).
func (s *Service) Get(ctx context.Context, id string) (*Record, error) {
	b, err := s.cfg.Records.GetRecord(ctx, id)
	if err != nil {
		return nil, err
	}
	var rec Record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("share: record %s: %w", id, err)
	}
	return &rec, nil
}

// ---- revoke and list ----

func (s *Service) revoke(c echo.Context) error {
	r := c.Request()
	ctx := r.Context()
	if !s.Enabled() {
		return fail(c, http.StatusForbidden, disabled)
	}
	p := auth.FromContext(ctx)
	id := c.Param("id")
	if !validID(id) {
		return fail(c, http.StatusNotFound, "no such share link")
	}
	rec, err := s.Get(ctx, id)
	if errors.Is(err, kind.NotFound) {
		return fail(c, http.StatusNotFound, "no such share link")
	}
	if err != nil {
		return err
	}
	creator := p != nil && p.Method != auth.MethodShare && p.Subject == rec.Creator && creatorMethod(p.Method) == rec.CreatorMethod
	if p == nil || !(p.Roles.Has(auth.Admin) || creator) {
		return fail(c, http.StatusForbidden, "only an administrator or the link's creator may revoke it")
	}
	if rec.Revoked == nil {
		now := s.cfg.Now().UTC()
		rec.Revoked, rec.RevokedBy = &now, p.Subject
		if err := s.put(ctx, rec); err != nil {
			return err
		}
		s.endSessions(id)
		sa, _, _ := s.study(ctx, rec.Study)
		s.audit(ctx, r, audit.Share{Op: audit.ShareRevoked, ID: id, Study: studyRef(sa)})
		s.log.Info("share link revoked", "id", id, "by", p.Subject)
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Service) list(c echo.Context) error {
	ctx := c.Request().Context()
	now := s.cfg.Now()
	out := []View{}
	err := s.cfg.Records.ForEachRecord(ctx, func(_ string, v []byte) error {
		var rec Record
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("share: record: %w", err)
		}
		out = append(out, View{ID: rec.ID, Study: rec.Study, Creator: rec.Creator, CreatorName: rec.CreatorName,
			Created: rec.Created, Expires: rec.Expires, Revoked: rec.Revoked, RevokedBy: rec.RevokedBy,
			Active: rec.Revoked == nil && now.Before(rec.Expires)})
		return nil
	})
	if err != nil {
		return err
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, out)
}

// ---- open ----

// refusedText is the one answer to any link that cannot be used.
const refusedText = "This share link cannot be used: it may have expired or been revoked. Ask the person who sent it for a new link."

// Check returns the record of token and nil when it names a share link
// that can be used now; otherwise an error that says why not (for the
// audit trail, never for the client), with the record when the token's id
// names one.
func (s *Service) Check(ctx context.Context, token string) (*Record, error) {
	id, secret, ok := strings.Cut(token, ".")
	if !ok || !validID(id) || len(secret) != 43 {
		return nil, errors.New("malformed token")
	}
	rec, err := s.Get(ctx, id)
	if errors.Is(err, kind.NotFound) {
		return nil, errors.New("unknown link")
	}
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(digest(secret)), []byte(rec.SecretSHA256)) != 1 {
		return rec, errors.New("wrong secret")
	}
	if rec.Revoked != nil {
		return rec, errors.New("revoked")
	}
	if !s.cfg.Now().Before(rec.Expires) {
		return rec, errors.New("expired")
	}
	return rec, nil
}

func (s *Service) open(c echo.Context) error {
	r := c.Request()
	ctx := r.Context()
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	token := c.Param("token")
	id, _, _ := strings.Cut(token, ".")
	if !validID(id) {
		id = ""
	}
	var rec *Record
	err := errors.New(disabled)
	if s.Enabled() {
		rec, err = s.Check(ctx, token)
	}
	if err != nil {
		if rec == nil {
			id = "" // not a share: do not name it as one
		}
		s.audit(ctx, r, audit.Share{Op: audit.ShareRefused, ID: id, Reason: err.Error()})
		s.log.Info("share link refused", "id", id, "reason", err.Error())
		return c.Blob(http.StatusUnauthorized, "text/plain; charset=utf-8", []byte(refusedText+"\n"))
	}
	p := &auth.Principal{
		Subject: "share:" + rec.ID, Name: "share " + rec.ID + " by " + nameOf(rec),
		Method: auth.MethodShare, Roles: auth.RolesOf(auth.Reader),
		Restriction: &auth.Restriction{StudyUIDs: []string{rec.Study}},
	}
	now := s.cfg.Now()
	expires := now.Add(s.cfg.SessionMaxAge)
	if rec.Expires.Before(expires) {
		expires = rec.Expires
	}
	sid, err := s.add(&session{share: rec.ID, principal: p, expires: expires})
	if err != nil {
		return c.Blob(http.StatusServiceUnavailable, "text/plain; charset=utf-8", []byte("Too many open share sessions; try again later.\n"))
	}
	c.SetCookie(&http.Cookie{Name: s.cookie, Value: sid, Path: "/", MaxAge: int(expires.Sub(now) / time.Second),
		HttpOnly: true, Secure: s.cfg.Secure, SameSite: http.SameSiteLaxMode})
	sa, _, _ := s.study(ctx, rec.Study)
	s.audit(auth.WithPrincipal(ctx, p), r, audit.Share{Op: audit.ShareOpened, ID: rec.ID, Study: studyRef(sa)})
	s.log.Info("share link opened", "id", rec.ID, "study", rec.Study)
	return c.Redirect(http.StatusSeeOther, ViewerPath+"?StudyInstanceUIDs="+url.QueryEscape(rec.Study))
}

func nameOf(rec *Record) string {
	if rec.CreatorName != "" {
		return rec.CreatorName
	}
	return rec.Creator
}

// ---- sessions ----

// Errors of Session (401).
var errSession = errors.New("share session unknown, expired or revoked")

// Session implements auth.Sessions: the principal of r's share session
// cookie, with an empty CSRF token (read-only).
func (s *Service) Session(_ context.Context, r *http.Request) (*auth.Principal, string, error) {
	ck, err := r.Cookie(s.cookie)
	if err != nil || ck.Value == "" {
		return nil, "", auth.ErrNoCredentials
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.sessions[ck.Value]
	if se == nil {
		return nil, "", errSession
	}
	if !s.cfg.Now().Before(se.expires) {
		delete(s.sessions, ck.Value)
		return nil, "", errSession
	}
	p := *se.principal
	return &p, "", nil
}

func (s *Service) add(se *session) (string, error) {
	id := random(32)
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.lastSweep) > time.Minute || len(s.sessions) >= s.cfg.MaxSessions {
		s.lastSweep = now
		for k, v := range s.sessions {
			if !now.Before(v.expires) {
				delete(s.sessions, k)
			}
		}
	}
	if len(s.sessions) >= s.cfg.MaxSessions {
		return "", errors.New("share: too many sessions")
	}
	s.sessions[id] = se
	return id, nil
}

// endSessions ends the sessions of share id.
func (s *Service) endSessions(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.sessions {
		if v.share == id {
			delete(s.sessions, k)
		}
	}
}

// ---- helpers ----

func (s *Service) audit(ctx context.Context, r *http.Request, ev audit.Share) {
	if s.cfg.Auditor != nil {
		s.cfg.Auditor.Share(ctx, r, ev)
	}
}

// origin is the server's external scheme://host.
func (s *Service) origin(r *http.Request) string {
	if s.cfg.BaseURL != "" {
		return s.cfg.BaseURL
	}
	scheme := "http"
	if r.TLS != nil || s.cfg.Secure {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// validID accepts a share id: 22 base64url characters (128 bits).
func validID(id string) bool {
	if len(id) != 22 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(id)
	return err == nil
}

func digest(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// random is n random bytes, base64url.
func random(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand documentation)
	return base64.RawURLEncoding.EncodeToString(b)
}
