package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/minipacs/minipacs/dicomweb/kind"
)

// CSRFHeader is the request header that must carry a browser session's
// CSRF token on state-changing requests (POST, PUT, DELETE, PATCH).
const CSRFHeader = "X-CSRF-Token"

// MethodSession is the method of a principal authenticated by a browser
// session cookie (its roles and restriction are those of the session's
// access token).
const MethodSession Method = "session"

// ErrCSRF refuses (403) a state-changing request authenticated by a
// session cookie without the session's CSRF token.
var ErrCSRF = kind.New(kind.Forbidden, "auth: missing or wrong CSRF token")

// Sessions resolves browser sessions (package session implements it).
type Sessions interface {
	// Session returns the principal and the CSRF token of r's session
	// cookie. Without a session cookie it returns ErrNoCredentials; an
	// unknown or expired session is an error whose text is a short reason
	// (401); an error wrapping ErrUnavailable gives 503.
	Session(ctx context.Context, r *http.Request) (p *Principal, csrf string, err error)
}

// UseSessions makes Authenticate accept a browser session cookie when a
// request carries no Authorization header. Call it before serving; each
// call adds one source of sessions (browser sign-in, share links), asked
// in order: the first that finds its cookie decides. A session whose CSRF
// token is "" is read-only: every state-changing request is refused
// (403).
func (a *Authenticator) UseSessions(s Sessions) { a.sessions = append(a.sessions, s) }

// session authenticates r by its session cookie and checks the CSRF token
// of a state-changing request.
func (a *Authenticator) session(ctx context.Context, r *http.Request) (*Principal, error) {
	var (
		p    *Principal
		csrf string
		err  error = ErrNoCredentials
	)
	for _, s := range a.sessions {
		if p, csrf, err = s.Session(ctx, r); !errors.Is(err, ErrNoCredentials) {
			break
		}
	}
	switch {
	case err == nil:
	case errors.Is(err, ErrNoCredentials), errors.Is(err, ErrUnavailable):
		return nil, err
	default:
		return nil, &invalid{reason: strings.TrimPrefix(err.Error(), "session: ")}
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		got := r.Header.Get(CSRFHeader)
		if csrf == "" || subtle.ConstantTimeCompare([]byte(got), []byte(csrf)) != 1 {
			return nil, ErrCSRF
		}
	}
	return p, nil
}

// Token is a verified JWT of the configured OIDC issuer.
type Token struct {
	// Principal is who the token names, with the roles and restriction
	// its claims give (for an access token: exactly as a bearer token on
	// an API call).
	Principal *Principal
	Subject   string
	Expiry    time.Time
}

// OIDCIssuer is the configured OIDC issuer ("" when OIDC is off).
func (a *Authenticator) OIDCIssuer() string {
	if a.oidc == nil {
		return ""
	}
	return a.oidc.cfg.Issuer
}

// VerifyAccessToken checks an access token exactly as a bearer token of
// an API call (signature against the issuer's JWKS, iss, aud = the
// configured audience, exp, nbf, iat) and returns its principal and
// expiry. Errors wrap ErrInvalid or ErrUnavailable.
func (a *Authenticator) VerifyAccessToken(ctx context.Context, raw string) (*Token, error) {
	if a.oidc == nil {
		return nil, errors.New("auth: OIDC is not configured")
	}
	claims, err := a.oidc.verifyClaims(ctx, raw, a.oidc.cfg.Audience)
	if err != nil {
		return nil, a.tokenErr(err)
	}
	return a.oidc.token(claims), nil
}

// VerifyIDToken checks an OpenID Connect ID token: signature against the
// issuer's JWKS (the same keys and algorithm allow-list as bearer
// tokens), iss, aud = clientID (and azp, when present, = clientID), exp,
// nbf, iat and nonce (compared in constant time; required). Errors wrap
// ErrInvalid or ErrUnavailable.
func (a *Authenticator) VerifyIDToken(ctx context.Context, raw, clientID, nonce string) (*Token, error) {
	if a.oidc == nil {
		return nil, errors.New("auth: OIDC is not configured")
	}
	if clientID == "" || nonce == "" {
		return nil, errors.New("auth: VerifyIDToken needs a client id and a nonce")
	}
	claims, err := a.oidc.verifyClaims(ctx, raw, clientID)
	if err != nil {
		return nil, a.tokenErr(err)
	}
	got, _ := claims["nonce"].(string)
	if subtle.ConstantTimeCompare([]byte(got), []byte(nonce)) != 1 {
		return nil, &invalid{reason: "wrong nonce", bearer: true}
	}
	if azp, ok := claims["azp"]; ok {
		if s, _ := azp.(string); s != clientID {
			return nil, &invalid{reason: "wrong authorized party", bearer: true}
		}
	}
	return a.oidc.token(claims), nil
}

func (a *Authenticator) tokenErr(err error) error {
	var et errToken
	if errors.As(err, &et) {
		return &invalid{reason: et.Error(), bearer: true}
	}
	return fmt.Errorf("auth: %w", err)
}
