package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// OIDCConfig configures bearer JWTs from an OpenID Connect issuer.
type OIDCConfig struct {
	// Issuer is the exact "iss" of the tokens, e.g.
	// "https://login.example.org/realms/radiology". Required.
	Issuer string
	// Audience must be one of the token's "aud" values. Required.
	Audience string
	// JWKSURL, when set, is used instead of discovering jwks_uri from
	// <Issuer>/.well-known/openid-configuration.
	JWKSURL string
	// Algorithms is the allow-list of JWS algorithms (default
	// DefaultAlgorithms). "none" and HS* are refused by New.
	Algorithms []string
	// ClockSkew tolerated on exp, nbf and iat (default 60 s).
	ClockSkew time.Duration
	// RolesClaim names the claim holding the roles: a top-level name
	// ("roles", "groups", "https://example.org/roles"), a dotted path into
	// nested objects ("realm_access.roles"), or "scope"/"scp". The value may
	// be an array of strings or a space-separated string. Default "roles".
	RolesClaim string
	// RoleMap maps claim values to roles (ParseRoleMap); default: "reader",
	// "writer" and "admin" map to themselves. Unmapped values are ignored.
	RoleMap map[string]Role
	// PatientClaim, when set, names a claim (top-level or dotted) listing
	// the Patient IDs ("ID" or "ID^^^ISSUER") the principal may see.
	PatientClaim string
	// TenantClaim, when set, names a claim holding the tenant(s): the
	// Issuer of Patient ID values the principal may see.
	TenantClaim string
	// RestrictionRequired refuses every patient to a non-admin token that
	// carries none of the restriction claims (by default such a token is
	// unrestricted).
	RestrictionRequired bool
	// MaxTokenBytes bounds a token (default 8 KiB).
	MaxTokenBytes int
	// KeysMaxAge is how long a fetched JWKS is used before it is fetched
	// again (default 1 h); KeysMinRefresh is the least time between two
	// fetches (default 15 s); KeysStaleFor is how long the last JWKS is
	// still used while the issuer is unreachable (default 24 h).
	KeysMaxAge, KeysMinRefresh, KeysStaleFor time.Duration
}

// ParseRoleMap parses "claimValue=role,claimValue=role" (roles: reader,
// writer, admin), the form of a --oidc-role-map flag.
func ParseRoleMap(s string) (map[string]Role, error) {
	m := map[string]Role{}
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		k, v, ok := strings.Cut(f, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("auth: role map entry %q: want VALUE=ROLE", f)
		}
		r, err := ParseRole(v)
		if err != nil {
			return nil, err
		}
		m[strings.TrimSpace(k)] = r
	}
	return m, nil
}

// oidcVerifier checks bearer JWTs.
type oidcVerifier struct {
	cfg   OIDCConfig
	algs  []jose.SignatureAlgorithm // the allow-list
	keys  *keySet
	now   func() time.Time
	roles map[string]Role
}

func newOIDC(c OIDCConfig, client *http.Client, now func() time.Time, log *slog.Logger) (*oidcVerifier, error) {
	if c.Issuer == "" || c.Audience == "" {
		return nil, errors.New("auth: OIDC needs an issuer and an audience")
	}
	if err := checkURL(c.Issuer); err != nil {
		return nil, fmt.Errorf("auth: OIDC issuer: %w", err)
	}
	if c.JWKSURL != "" {
		if err := checkURL(c.JWKSURL); err != nil {
			return nil, fmt.Errorf("auth: OIDC JWKS URL: %w", err)
		}
	}
	if len(c.Algorithms) == 0 {
		c.Algorithms = DefaultAlgorithms
	}
	var algs []jose.SignatureAlgorithm
	for _, a := range c.Algorithms {
		if _, ok := algorithms[a]; !ok {
			return nil, fmt.Errorf("auth: JWS algorithm %q is not allowed (asymmetric algorithms only)", a)
		}
		algs = append(algs, jose.SignatureAlgorithm(a))
	}
	if c.ClockSkew <= 0 {
		c.ClockSkew = 60 * time.Second
	}
	if c.RolesClaim == "" {
		c.RolesClaim = "roles"
	}
	roles := c.RoleMap
	if roles == nil {
		roles = map[string]Role{"reader": Reader, "writer": Writer, "admin": Admin}
	}
	if c.MaxTokenBytes <= 0 {
		c.MaxTokenBytes = 8 << 10
	}
	if c.KeysMaxAge <= 0 {
		c.KeysMaxAge = time.Hour
	}
	if c.KeysMinRefresh <= 0 {
		c.KeysMinRefresh = 15 * time.Second
	}
	if c.KeysStaleFor <= 0 {
		c.KeysStaleFor = 24 * time.Hour
	}
	if c.KeysStaleFor < c.KeysMaxAge {
		c.KeysStaleFor = c.KeysMaxAge
	}
	return &oidcVerifier{
		cfg: c, algs: algs, now: now, roles: roles,
		keys: &keySet{
			client: client, issuer: c.Issuer, jwksURL: c.JWKSURL,
			maxAge: c.KeysMaxAge, minRefresh: c.KeysMinRefresh, staleFor: c.KeysStaleFor,
			now: now, log: log,
		},
	}, nil
}

// verify checks a JWT and returns its principal. Errors are errToken
// (401) or wrap ErrUnavailable (503).
func (v *oidcVerifier) verify(ctx context.Context, token string) (*Principal, error) {
	claims, err := v.verifyClaims(ctx, token, v.cfg.Audience)
	if err != nil {
		return nil, err
	}
	return v.principal(claims), nil
}

// verifyClaims checks a JWT's signature and its registered claims (aud
// must contain audience) and returns its claims.
func (v *oidcVerifier) verifyClaims(ctx context.Context, token, audience string) (map[string]any, error) {
	if len(token) > v.cfg.MaxTokenBytes {
		return nil, errToken("token too large")
	}
	t, err := parseJWS(token, v.algs)
	if err != nil {
		return nil, err
	}
	h := t.Signatures[0].Protected
	keys, err := v.keys.lookup(ctx, h.KeyID, h.Algorithm)
	if err != nil {
		return nil, err
	}
	var payload []byte
	verified := false
	for _, k := range keys {
		if payload, err = t.Verify(k.Key); err == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, errToken("bad signature")
	}
	var claims map[string]any
	if err := strictUnmarshal(payload, &claims); err != nil || claims == nil {
		return nil, errToken("malformed claims")
	}
	if err := v.checkClaims(claims, audience); err != nil {
		return nil, err
	}
	return claims, nil
}

// token is the Token of verified claims.
func (v *oidcVerifier) token(c map[string]any) *Token {
	exp, _, _ := numericDate(c, "exp")
	sub, _ := c["sub"].(string)
	return &Token{Principal: v.principal(c), Subject: sub, Expiry: exp}
}

func (v *oidcVerifier) checkClaims(c map[string]any, audience string) error {
	if iss, _ := c["iss"].(string); iss != v.cfg.Issuer {
		return errToken("wrong issuer")
	}
	switch aud := c["aud"].(type) {
	case string:
		if aud != audience {
			return errToken("wrong audience")
		}
	case []any:
		if !slices.ContainsFunc(aud, func(a any) bool { s, _ := a.(string); return s == audience }) {
			return errToken("wrong audience")
		}
	default:
		return errToken("wrong audience")
	}
	now := v.now()
	skew := v.cfg.ClockSkew
	exp, ok, err := numericDate(c, "exp")
	if err != nil || !ok {
		return errToken("missing or malformed exp")
	}
	if !now.Before(exp.Add(skew)) {
		return errToken("token expired")
	}
	if nbf, ok, err := numericDate(c, "nbf"); err != nil {
		return errToken("malformed nbf")
	} else if ok && now.Add(skew).Before(nbf) {
		return errToken("token not yet valid")
	}
	if iat, ok, err := numericDate(c, "iat"); err != nil {
		return errToken("malformed iat")
	} else if ok && now.Add(skew).Before(iat) {
		return errToken("token issued in the future")
	}
	if sub, _ := c["sub"].(string); sub == "" {
		return errToken("missing sub")
	}
	return nil
}

// numericDate reads a NumericDate claim (seconds since the epoch, maybe
// fractional).
func numericDate(c map[string]any, name string) (time.Time, bool, error) {
	raw, ok := c[name]
	if !ok {
		return time.Time{}, false, nil
	}
	n, ok := raw.(json.Number)
	if !ok {
		return time.Time{}, false, errors.New("not a number")
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
		return time.Time{}, false, errors.New("out of range")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

func (v *oidcVerifier) principal(c map[string]any) *Principal {
	sub, _ := c["sub"].(string)
	p := &Principal{Subject: sub, Name: sub, Method: MethodOIDC}
	for _, n := range []string{"preferred_username", "name", "email"} {
		if s, _ := c[n].(string); s != "" {
			p.Name = s
			break
		}
	}
	for _, val := range stringsClaim(c, v.cfg.RolesClaim) {
		if r, ok := v.roles[val]; ok {
			p.Roles = p.Roles.With(r)
		}
	}
	var r *Restriction
	if v.cfg.PatientClaim != "" {
		if vals, ok := lookupClaim(c, v.cfg.PatientClaim); ok {
			r = &Restriction{Patients: []PatientRef{}}
			for _, s := range toStrings(vals, false) {
				if ref := ParsePatientRef(s); ref.ID != "" {
					r.Patients = append(r.Patients, ref)
				}
			}
		}
	}
	if v.cfg.TenantClaim != "" {
		if vals, ok := lookupClaim(c, v.cfg.TenantClaim); ok {
			if r == nil {
				r = &Restriction{}
			}
			r.Tenants = []string{}
			for _, s := range toStrings(vals, false) {
				if s = strings.TrimSpace(s); s != "" {
					r.Tenants = append(r.Tenants, s)
				}
			}
		}
	}
	if r == nil && v.cfg.RestrictionRequired && (v.cfg.PatientClaim != "" || v.cfg.TenantClaim != "") && !p.Roles.Has(Admin) {
		r = &Restriction{}
	}
	p.Restriction = r
	return p
}

// stringsClaim returns a claim as strings: an array of strings, or a
// space-separated string (OAuth "scope").
func stringsClaim(c map[string]any, name string) []string {
	v, ok := lookupClaim(c, name)
	if !ok {
		return nil
	}
	return toStrings(v, true)
}

// lookupClaim finds a claim by its full name, else by a dotted path into
// nested objects.
func lookupClaim(c map[string]any, name string) (any, bool) {
	if v, ok := c[name]; ok {
		return v, true
	}
	var cur any = c
	for part := range strings.SplitSeq(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func toStrings(v any, splitSpaces bool) []string {
	switch x := v.(type) {
	case string:
		if splitSpaces {
			return strings.Fields(x)
		}
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
