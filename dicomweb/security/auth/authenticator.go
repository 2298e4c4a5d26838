package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/minipacs/minipacs/dicomweb/kind"
)

// Config configures authentication. Every credential kind is optional; with
// none configured only AnonymousRoles apply.
type Config struct {
	// OIDC, when set, accepts bearer JWTs from this issuer.
	OIDC *OIDCConfig
	// APITokensFile, when set, is the file of API token digests.
	APITokensFile string
	// BasicUsersFile, when set, is the file of Basic users and bcrypt
	// hashes; Basic is offered in WWW-Authenticate only then.
	BasicUsersFile string
	// BasicCacheTTL is how long a successful Basic verification is
	// remembered (default 5 min; negative: never); BasicCacheSize bounds the
	// cache (default 1024).
	BasicCacheTTL  time.Duration
	BasicCacheSize int
	// AllowQueryToken accepts a bearer token in the access_token query
	// parameter (RFC 6750 §2.3); refused (401) by default, because URLs end
	// up in logs, proxies and browser history.
	AllowQueryToken bool
	// AnonymousRoles are the roles of a request without credentials (none by
	// default). For development on loopback without authentication, the
	// caller may grant RolesOf(Admin).
	AnonymousRoles Roles
	// Realm of WWW-Authenticate (default "minipacs").
	Realm string
	// HTTPClient fetches discovery documents and JWKS (default: a client
	// with a 10 s timeout).
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Now is the clock (default time.Now); tests set it.
	Now func() time.Time
}

// Authenticator turns a request's credentials into a Principal.
type Authenticator struct {
	cfg  Config
	oidc *oidcVerifier
	log  *slog.Logger
	// files holds what the credential files said at the last (re)load.
	files atomic.Pointer[credFiles]
	// sessions resolve browser session cookies (UseSessions), in order.
	sessions []Sessions
}

type credFiles struct {
	tokens []apiToken
	basic  *basicUsers
}

// Errors of Authenticate. An invalid credential wraps ErrInvalid, and its
// message is a short reason (never the credential), fit for the audit trail.
var (
	ErrNoCredentials = kind.New(kind.Forbidden, "auth: no credentials")
	ErrInvalid       = kind.New(kind.Forbidden, "auth: invalid credentials")
	// ErrQueryToken is a token in the query string when that is not allowed.
	ErrQueryToken = kind.New(kind.Forbidden, "auth: access token in the query string is not allowed")
)

// invalid wraps ErrInvalid with a reason.
type invalid struct {
	reason string
	bearer bool // the credential was a bearer token
}

func (e *invalid) Error() string        { return "auth: " + e.reason }
func (e *invalid) Is(target error) bool { return target == ErrInvalid }

// New builds an Authenticator: it reads the credential files and, for
// OIDC, tries to fetch the issuer's keys (a failure is logged, not fatal:
// the keys are fetched again on the first token).
func New(ctx context.Context, cfg Config) (*Authenticator, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Realm == "" {
		cfg.Realm = "minipacs"
	}
	if strings.ContainsAny(cfg.Realm, "\"\\\r\n") {
		return nil, errors.New("auth: realm must not contain quotes, backslashes or newlines")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.BasicCacheTTL == 0 {
		cfg.BasicCacheTTL = 5 * time.Minute
	}
	if cfg.BasicCacheSize <= 0 {
		cfg.BasicCacheSize = 1024
	}
	a := &Authenticator{cfg: cfg, log: cfg.Logger.With("component", "auth")}
	if cfg.OIDC != nil {
		v, err := newOIDC(*cfg.OIDC, cfg.HTTPClient, cfg.Now, a.log)
		if err != nil {
			return nil, err
		}
		a.oidc = v
		if err := v.keys.refresh(ctx); err != nil {
			a.log.Error("OIDC signing keys not available yet; will retry on the first token", "issuer", v.cfg.Issuer, "err", err)
		}
	}
	if err := a.Reload(); err != nil {
		return nil, err
	}
	return a, nil
}

// Reload re-reads the API token and Basic users files (call it on SIGHUP).
// On error the previous credentials stay in force.
func (a *Authenticator) Reload() error {
	f := &credFiles{}
	var err error
	if a.cfg.APITokensFile != "" {
		if f.tokens, err = loadTokens(a.cfg.APITokensFile); err != nil {
			return err
		}
	}
	if a.cfg.BasicUsersFile != "" {
		if f.basic, err = loadBasic(a.cfg.BasicUsersFile, a.cfg.BasicCacheTTL, a.cfg.BasicCacheSize, a.cfg.Now); err != nil {
			return err
		}
	}
	a.files.Store(f)
	a.log.Info("credentials loaded", "api_tokens", len(f.tokens), "basic_users", f.basicCount(), "oidc", a.oidc != nil)
	return nil
}

func (f *credFiles) basicCount() int {
	if f.basic == nil {
		return 0
	}
	return len(f.basic.users)
}

// Enabled reports whether any credential kind is configured: the server's
// safe-default check refuses a non-loopback listener when it is not.
func (a *Authenticator) Enabled() bool {
	return a.oidc != nil || a.cfg.APITokensFile != "" || a.cfg.BasicUsersFile != ""
}

// Anonymous is the principal of a request without credentials.
func (a *Authenticator) Anonymous() *Principal {
	return &Principal{Subject: "anonymous", Name: "anonymous", Method: MethodAnonymous, Roles: a.cfg.AnonymousRoles}
}

// Authenticate returns the principal of r. Without any credential it
// returns ErrNoCredentials; a bad credential wraps ErrInvalid (401); an
// unreachable issuer wraps ErrUnavailable (503).
func (a *Authenticator) Authenticate(ctx context.Context, r *http.Request) (*Principal, error) {
	hdrs := r.Header.Values("Authorization")
	queryTok, inQuery := r.URL.Query()["access_token"]
	switch {
	case len(hdrs) > 1 || (len(hdrs) == 1 && inQuery) || len(queryTok) > 1:
		return nil, &invalid{reason: "more than one credential"}
	case inQuery:
		if !a.cfg.AllowQueryToken {
			return nil, ErrQueryToken
		}
		return a.bearer(ctx, queryTok[0])
	case len(hdrs) == 0:
		// No Authorization header: a browser session cookie, if any.
		return a.session(ctx, r)
	}
	scheme, cred, _ := strings.Cut(strings.TrimSpace(hdrs[0]), " ")
	cred = strings.TrimSpace(cred)
	switch strings.ToLower(scheme) {
	case "bearer":
		return a.bearer(ctx, cred)
	case "basic":
		return a.basic(ctx, cred)
	}
	return nil, &invalid{reason: "unsupported authorization scheme"}
}

// bearer checks a JWT or an API token.
func (a *Authenticator) bearer(ctx context.Context, tok string) (*Principal, error) {
	if tok == "" || len(tok) > 16<<10 {
		return nil, &invalid{reason: "malformed token", bearer: true}
	}
	if a.oidc != nil && strings.Count(tok, ".") == 2 && !strings.HasPrefix(tok, TokenPrefix) {
		p, err := a.oidc.verify(ctx, tok)
		if err != nil {
			var et errToken
			if errors.As(err, &et) {
				return nil, &invalid{reason: et.Error(), bearer: true}
			}
			return nil, err
		}
		return p, nil
	}
	f := a.files.Load()
	if c := matchToken(f.tokens, tok); c != nil {
		return &Principal{Subject: c.name, Name: c.name, Method: MethodToken, Roles: c.roles, Restriction: c.restriction.clone()}, nil
	}
	return nil, &invalid{reason: "unknown token", bearer: true}
}

// basic checks HTTP Basic credentials (RFC 7617).
func (a *Authenticator) basic(ctx context.Context, cred string) (*Principal, error) {
	f := a.files.Load()
	if f.basic == nil {
		return nil, &invalid{reason: "basic authentication is not enabled"}
	}
	raw, err := base64.StdEncoding.DecodeString(cred)
	if err != nil || len(raw) > 1024 || !utf8.Valid(raw) {
		return nil, &invalid{reason: "malformed basic credentials"}
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok || user == "" {
		return nil, &invalid{reason: "malformed basic credentials"}
	}
	c, err := f.basic.verify(ctx, user, pass)
	if err != nil {
		var et errToken
		if errors.As(err, &et) {
			return nil, &invalid{reason: et.Error()}
		}
		return nil, err
	}
	return &Principal{Subject: c.name, Name: c.name, Method: MethodBasic, Roles: c.roles, Restriction: c.restriction.clone()}, nil
}

// clone copies r so that a handler cannot alter the configured entry.
func (r *Restriction) clone() *Restriction {
	if r == nil {
		return nil
	}
	c := &Restriction{}
	if r.Patients != nil {
		c.Patients = append([]PatientRef{}, r.Patients...)
	}
	if r.Tenants != nil {
		c.Tenants = append([]string{}, r.Tenants...)
	}
	return c
}

// basicEnabled reports whether Basic is offered.
func (a *Authenticator) basicEnabled() bool { return a.cfg.BasicUsersFile != "" }

// String describes the configuration without secrets.
func (a *Authenticator) String() string {
	return fmt.Sprintf("auth(oidc=%t tokens=%t basic=%t anonymous=%q)", a.oidc != nil, a.cfg.APITokensFile != "", a.basicEnabled(), a.cfg.AnonymousRoles.String())
}
