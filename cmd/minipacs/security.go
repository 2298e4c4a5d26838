package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minipacs/minipacs/dicomweb"
	"github.com/minipacs/minipacs/dicomweb/fhir"
	"github.com/minipacs/minipacs/dicomweb/security/audit"
	"github.com/minipacs/minipacs/dicomweb/security/auth"
	"github.com/minipacs/minipacs/dicomweb/security/breakglass"
	"github.com/minipacs/minipacs/dicomweb/security/session"
	"github.com/minipacs/minipacs/dicomweb/security/share"
	"github.com/minipacs/minipacs/dicomweb/security/transport"
	"github.com/minipacs/minipacs/index"
)

// securityConfig holds the flags of authentication, TLS and the audit
// trail (issue: safe by default).
type securityConfig struct {
	oidcIssuer, oidcAudience, oidcJWKS string
	oidcRolesClaim, oidcRoleMap        string
	oidcAlgs                           string
	patientClaim, tenantClaim          string
	apiTokens, basicUsers              string
	allowQueryToken                    bool
	behindProxy                        bool
	tlsCert, tlsKey                    string
	hstsMaxAge                         time.Duration

	auditLog, auditSyslog, auditSyslogCA string
	noAudit                              bool

	readHeaderTimeout time.Duration
	maxHeaderBytes    int

	// Browser sign-in (package session).
	oidcClientID, oidcClientSecretFile string
	sessionMaxAge                      time.Duration

	// Break-glass access of restricted readers (package breakglass).
	breakGlass    time.Duration
	breakGlassMax int
	// Share links (package share).
	shareMaxHours int
}

func (c *securityConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.oidcIssuer, "oidc-issuer", "", "accept OIDC bearer tokens (JWT) from this issuer URL")
	fs.StringVar(&c.oidcAudience, "oidc-audience", "", "audience the OIDC tokens must carry (aud)")
	fs.StringVar(&c.oidcJWKS, "oidc-jwks-url", "", "JWKS URL (default: from the issuer's discovery document)")
	fs.StringVar(&c.oidcRolesClaim, "oidc-roles-claim", "roles", "claim holding the roles (dotted path, e.g. realm_access.roles; scope works too)")
	fs.StringVar(&c.oidcRoleMap, "oidc-role-map", "", "claim value to role, e.g. pacs-read=reader,pacs-admin=admin (default: reader, writer, admin as is)")
	fs.StringVar(&c.oidcAlgs, "oidc-algorithms", "", "allowed JWT algorithms, comma separated (default RS256,PS256,ES256,EdDSA)")
	fs.StringVar(&c.patientClaim, "restrict-claim", "", "OIDC claim listing the patient IDs a user may see (absent: all)")
	fs.StringVar(&c.tenantClaim, "tenant-claim", "", "OIDC claim naming the issuers of patient ID (0010,0021) a user may see")
	fs.StringVar(&c.apiTokens, "api-tokens", "", "file of API tokens (SHA-256 digests; see minipacs token)")
	fs.StringVar(&c.basicUsers, "basic-users", "", "file of HTTP Basic users (bcrypt; see minipacs token --basic)")
	fs.BoolVar(&c.allowQueryToken, "allow-query-token", false, "accept bearer tokens in the access_token query parameter (they end up in logs)")
	fs.BoolVar(&c.behindProxy, "insecure-behind-proxy", false, "allow a non-loopback listener without authentication or TLS: a TLS-terminating, authenticating proxy is in front")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "PEM certificate chain for HTTPS (reloaded on SIGHUP)")
	fs.StringVar(&c.tlsKey, "tls-key", "", "PEM private key for HTTPS")
	fs.DurationVar(&c.hstsMaxAge, "hsts-max-age", 365*24*time.Hour, "Strict-Transport-Security max-age sent over HTTPS (0: none)")
	fs.StringVar(&c.auditLog, "audit-log", "", "audit trail file (default <data>/audit/audit.log)")
	fs.BoolVar(&c.noAudit, "no-audit", false, "keep no audit trail (development only)")
	fs.StringVar(&c.auditSyslog, "audit-syslog", "", "forward audit records as RFC 5424 syslog over TLS to host:port")
	fs.StringVar(&c.auditSyslogCA, "audit-syslog-ca", "", "PEM CA file for the audit syslog server (default: system roots)")
	fs.DurationVar(&c.readHeaderTimeout, "read-header-timeout", 10*time.Second, "time allowed to read a request's headers (slowloris)")
	fs.IntVar(&c.maxHeaderBytes, "max-header-bytes", 64<<10, "largest request header block in bytes")
	fs.StringVar(&c.oidcClientID, "oidc-client-id", "", "OAuth client id of the study browser: enables browser sign-in (authorization code flow with PKCE) at /auth/login")
	fs.StringVar(&c.oidcClientSecretFile, "oidc-client-secret-file", "", "file holding the client secret (default: a public client, PKCE only)")
	fs.DurationVar(&c.sessionMaxAge, "session-max-age", 12*time.Hour, "lifetime of a browser session")
	fs.DurationVar(&c.breakGlass, "break-glass-duration", 0, "lifetime of a break-glass grant: a restricted reader may open another patient's study for this long, with a stated reason, audited (0: off)")
	fs.IntVar(&c.breakGlassMax, "break-glass-max", breakglass.DefaultMaxGrants, "most break-glass grants held in memory, active or expired (kept 7 days for review)")
	fs.IntVar(&c.shareMaxHours, "share-max-hours", 168, "longest lifetime of a share link in hours (POST /shares; 0: share links off)")
}

// authEnabled reports whether any authentication is configured.
func (c *securityConfig) authEnabled() bool {
	return c.oidcIssuer != "" || c.apiTokens != "" || c.basicUsers != ""
}

func (c *securityConfig) tlsEnabled() bool { return c.tlsCert != "" || c.tlsKey != "" }

// check validates flag combinations and the exposure rule.
func (c *securityConfig) check(listen string) error {
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together")
	}
	if c.oidcIssuer != "" && c.oidcAudience == "" {
		return fmt.Errorf("--oidc-issuer needs --oidc-audience")
	}
	if (c.oidcClientID != "" || c.oidcClientSecretFile != "") && c.oidcIssuer == "" {
		return fmt.Errorf("--oidc-client-id and --oidc-client-secret-file need --oidc-issuer")
	}
	if c.oidcClientSecretFile != "" && c.oidcClientID == "" {
		return fmt.Errorf("--oidc-client-secret-file needs --oidc-client-id")
	}
	if c.sessionMaxAge <= 0 {
		return fmt.Errorf("--session-max-age must be positive")
	}
	if c.breakGlass < 0 {
		return fmt.Errorf("--break-glass-duration: negative")
	}
	if c.breakGlassMax < 0 {
		return fmt.Errorf("--break-glass-max: negative")
	}
	if c.shareMaxHours < 0 || c.shareMaxHours > 24*366 {
		return fmt.Errorf("--share-max-hours must be between 0 (off) and 8784")
	}
	return transport.CheckExposure(listen, c.authEnabled(), c.tlsEnabled(), c.behindProxy)
}

// authenticator builds the authenticator. Without any authentication
// configured (loopback development, or behind an authenticating proxy)
// every request acts as an anonymous administrator.
func (c *securityConfig) authenticator(ctx context.Context, log *slog.Logger) (*auth.Authenticator, error) {
	cfg := auth.Config{
		APITokensFile: c.apiTokens, BasicUsersFile: c.basicUsers,
		AllowQueryToken: c.allowQueryToken, Logger: log,
	}
	if c.oidcIssuer != "" {
		oc := &auth.OIDCConfig{
			Issuer: c.oidcIssuer, Audience: c.oidcAudience, JWKSURL: c.oidcJWKS,
			RolesClaim: c.oidcRolesClaim, PatientClaim: c.patientClaim, TenantClaim: c.tenantClaim,
		}
		if c.oidcRoleMap != "" {
			m, err := auth.ParseRoleMap(c.oidcRoleMap)
			if err != nil {
				return nil, fmt.Errorf("--oidc-role-map: %w", err)
			}
			oc.RoleMap = m
		}
		if c.oidcAlgs != "" {
			oc.Algorithms = strings.Split(c.oidcAlgs, ",")
		}
		cfg.OIDC = oc
	}
	if !c.authEnabled() {
		cfg.AnonymousRoles = auth.RolesOf(auth.Admin)
	}
	return auth.New(ctx, cfg)
}

// sessions builds browser sign-in (nil without --oidc-client-id) and
// makes authn accept its session cookie. The redirect URI is the origin
// of --base-url (else of each request) + /auth/callback.
func (c *securityConfig) sessions(authn *auth.Authenticator, baseURL string, log *slog.Logger) (*session.Manager, error) {
	if c.oidcClientID == "" {
		return nil, nil
	}
	var secret string
	if c.oidcClientSecretFile != "" {
		b, err := os.ReadFile(c.oidcClientSecretFile)
		if err != nil {
			return nil, fmt.Errorf("--oidc-client-secret-file: %w", err)
		}
		if secret = strings.TrimSpace(string(b)); secret == "" {
			return nil, fmt.Errorf("--oidc-client-secret-file: empty")
		}
	}
	m, err := session.New(session.Config{
		Authenticator: authn, ClientID: c.oidcClientID, ClientSecret: secret, BaseURL: baseURL,
		Secure: c.tlsEnabled() || strings.HasPrefix(baseURL, "https:"), MaxAge: c.sessionMaxAge, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	authn.UseSessions(m)
	return m, nil
}

// shares builds share links over idx (routes refuse when
// --share-max-hours is 0) and makes authn accept their session cookie.
func (c *securityConfig) shares(idx index.Engine, authn *auth.Authenticator, aud *audit.Trail, baseURL string, log *slog.Logger) (*share.Service, error) {
	cfg := share.Config{
		Records: shareIndex{idx}, Studies: shareIndex{idx}, MaxAge: time.Duration(c.shareMaxHours) * time.Hour, SessionMaxAge: c.sessionMaxAge,
		BaseURL: baseURL, Secure: c.tlsEnabled() || strings.HasPrefix(baseURL, "https:"), Logger: log,
	}
	if aud != nil {
		cfg.Auditor = aud
	}
	s, err := share.New(cfg)
	if err != nil {
		return nil, err
	}
	if s.Enabled() {
		authn.UseSessions(s)
	}
	return s, nil
}

// openAuditor opens the audit trail (nil with --no-audit), starts its
// syslog forwarding when configured, and records the application start.
// The mapping of requests to ATNA events is audit.Trail's.
func openAuditor(ctx context.Context, c *securityConfig, data, listen string, log *slog.Logger) (*audit.Trail, error) {
	if c.noAudit {
		return nil, nil
	}
	path := c.auditLog
	if path == "" {
		path = filepath.Join(data, "audit", "audit.log")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	node := audit.NewNode("minipacs", "", listen)
	l, err := audit.Open(ctx, path, audit.Options{Node: node, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	if c.auditSyslog != "" {
		tc, err := audit.ClientTLS(c.auditSyslogCA, c.auditSyslog, "")
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("--audit-syslog: %w", err)
		}
		fw, err := audit.NewForwarder(path, audit.ForwardOptions{Addr: c.auditSyslog, TLS: tc, Wake: l.Notify(), Logger: log})
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("--audit-syslog: %w", err)
		}
		go fw.Run(ctx)
	}
	t := audit.NewTrail(l, node, os.Getenv("USER"), log)
	t.Start(context.Background(), "minipacs "+version)
	return t, nil
}

// dicomwebAuditor gives dicomweb's access events to the audit trail.
type dicomwebAuditor struct{ trail *audit.Trail }

// accessOps names each kind of DICOMweb access in the audit package's
// terms (one to one).
var accessOps = map[dicomweb.AccessKind]audit.Operation{
	dicomweb.AccessStored:    audit.OpStore,
	dicomweb.AccessRetrieved: audit.OpRetrieve,
	dicomweb.AccessRead:      audit.OpRead,
	dicomweb.AccessQueried:   audit.OpQuery,
	dicomweb.AccessDeleted:   audit.OpDelete,
}

// Access implements dicomweb.Auditor.
func (d dicomwebAuditor) Access(ctx context.Context, r *http.Request, ev dicomweb.AccessEvent) {
	studies := make([]audit.StudyRef, len(ev.Studies))
	for i, s := range ev.Studies {
		studies[i] = audit.StudyRef{StudyUID: s.StudyUID, PatientID: s.PatientID, PatientName: s.PatientName,
			Accession: s.AccessionNumber, Instances: s.Instances}
	}
	d.trail.Access(ctx, r, audit.Access{Op: accessOps[ev.Kind], Status: ev.Status, Level: ev.Level, Query: ev.Query, Studies: studies,
		Overrides: breakglass.Used(ctx)})
}

// fhirAuditor gives the FHIR facade's access events to the audit trail:
// a read as OpRead (110103), a search as OpQuery (110112) whose level is
// the resource type.
type fhirAuditor struct{ trail *audit.Trail }

// Access implements fhir.Auditor.
func (f fhirAuditor) Access(ctx context.Context, r *http.Request, ev fhir.AccessEvent) {
	op := audit.OpRead
	if ev.Kind == fhir.AccessSearched {
		op = audit.OpQuery
	}
	studies := make([]audit.StudyRef, len(ev.Studies))
	for i, s := range ev.Studies {
		studies[i] = audit.StudyRef{StudyUID: s.StudyUID, PatientID: s.PatientID, PatientName: s.PatientName, Accession: s.AccessionNumber}
	}
	f.trail.Access(ctx, r, audit.Access{Op: op, Status: ev.Status, Level: ev.Resource, Query: ev.Query, Studies: studies,
		Overrides: breakglass.Used(ctx)})
}

// fhirBaseURL is the external URL of the FHIR root that goes with the
// DICOMweb root --base-url: its "/dicomweb" replaced by "/fhir" ("" when
// it does not end so: then derived from each request's Host).
func fhirBaseURL(dicomwebURL string) string {
	u := strings.TrimRight(dicomwebURL, "/")
	if !strings.HasSuffix(u, "/dicomweb") {
		return ""
	}
	return strings.TrimSuffix(u, "/dicomweb") + "/fhir"
}

// breakGlass builds the break-glass registry (off with a zero
// --break-glass-duration); grants are recorded in aud (nil: no trail),
// and, when nodes share the index, in the index for every node.
func (c *securityConfig) breakGlassRegistry(idx index.Engine, shared bool, aud *audit.Trail, log *slog.Logger) (*breakglass.Registry, error) {
	cfg := breakglass.Config{
		Duration: c.breakGlass, MaxGrants: c.breakGlassMax, Patients: studyPatients{idx}, Logger: log,
	}
	if shared {
		cfg.Store = grantRecords{idx}
	}
	if aud != nil {
		cfg.Auditor = aud
	}
	return breakglass.New(cfg)
}

// grantRecords keeps break-glass grants as index records (r_grant), for
// the nodes that share a PostgreSQL index (breakglass.Store).
type grantRecords struct{ idx index.Engine }

// SaveGrant implements breakglass.Store.
func (s grantRecords) SaveGrant(ctx context.Context, g breakglass.Grant) error {
	v, err := json.Marshal(g)
	if err != nil {
		return err
	}
	return s.idx.PutRecords(ctx, index.Record{Kind: index.RecordGrant, Key: g.ID, Value: v})
}

// Grants implements breakglass.Store; grants expired for longer than the
// review retention are removed as they are met.
func (s grantRecords) Grants(ctx context.Context) ([]breakglass.Grant, error) {
	var out []breakglass.Grant
	var stale []index.Record
	cut := time.Now().Add(-breakglass.DefaultRetention)
	err := s.idx.ForEachRecord(ctx, index.RecordGrant, "", func(key string, v []byte) error {
		var g breakglass.Grant
		if err := json.Unmarshal(v, &g); err != nil || g.Expires.Before(cut) {
			stale = append(stale, index.Record{Kind: index.RecordGrant, Key: key, Delete: true})
			return nil
		}
		out = append(out, g)
		return nil
	})
	if err == nil && len(stale) > 0 {
		err = s.idx.PutRecords(ctx, stale...)
	}
	return out, err
}

// studyPatients finds a study's patient in the index (breakglass.Locator).
type studyPatients struct{ idx index.Engine }

// StudyPatient implements breakglass.Locator.
func (s studyPatients) StudyPatient(ctx context.Context, study string) (id, issuer string, err error) {
	found := false
	q := index.Query{Level: index.LevelStudy, StudyUID: study, Limit: 1}
	err = s.idx.Search(ctx, q, func(r *index.Result) error {
		sa := dicomweb.StudyOf(r)
		found, id, issuer = true, sa.PatientID, sa.IssuerOfPatientID
		return nil
	})
	if err != nil {
		return "", "", fmt.Errorf("study %s: %w", study, err)
	}
	if !found {
		return "", "", fmt.Errorf("study %s: %w", study, breakglass.ErrNoStudy)
	}
	return id, issuer, nil
}

// studyFilter gives dicomweb the restriction of each request's principal,
// by study (a share session) and by patient, with the patients of its
// active break-glass grants.
func studyFilter(bg *breakglass.Registry) func(ctx context.Context) func(study, id, issuer string) bool {
	return func(ctx context.Context) func(study, id, issuer string) bool {
		p := auth.FromContext(ctx)
		if p == nil || p.Restriction == nil {
			return nil
		}
		if p.Restriction.StudyUIDs != nil {
			return p.AllowsStudy // a share session: no break-glass
		}
		pf := bg.Filter(ctx, p)
		if pf == nil {
			return nil
		}
		return func(_, id, issuer string) bool { return pf(id, issuer) }
	}
}

// patientFilter gives the patient-level views (FHIR, IID, the web) the
// patient test of each request's principal: its restriction, plus the
// patients of its active break-glass grants (a share session sees no
// patient there).
func patientFilter(bg *breakglass.Registry) func(ctx context.Context) func(id, issuer string) bool {
	return func(ctx context.Context) func(id, issuer string) bool {
		return bg.Filter(ctx, auth.FromContext(ctx))
	}
}
