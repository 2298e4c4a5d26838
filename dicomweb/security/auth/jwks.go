package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/minipacs/minipacs/dicomweb/kind"
)

// maxJWKSBytes bounds a discovery document or a JWKS.
const maxJWKSBytes = 1 << 20

// ErrUnavailable means the issuer's keys could not be obtained: the
// credential could not be checked (503), which is not the client's fault.
var ErrUnavailable = kind.New(kind.Unavailable, "auth: signing keys unavailable")

// verifyKey is a usable public key from the JWKS.
type verifyKey struct {
	jose.JSONWebKey
	kty, crv string
}

// fits reports whether k may verify a token signed with alg: the key type
// and curve are the ones alg needs, and the JWK's own alg, if any, is alg.
func (k *verifyKey) fits(alg string) bool {
	a, ok := algorithms[alg]
	if !ok || k.kty != a.kty || (a.crv != "" && k.crv != a.crv) {
		return false
	}
	return k.Algorithm == "" || k.Algorithm == alg
}

// jwkUse holds the members of a JWK that decide whether it may be used at
// all; they are read before go-jose parses the key, which it would accept
// private or symmetric.
type jwkUse struct {
	Kty    string   `json:"kty"`
	Use    string   `json:"use"`
	Alg    string   `json:"alg"`
	KeyOps []string `json:"key_ops"`
	// Private or symmetric key material.
	D, K, P, Q, Dp, Dq, Qi, Priv json.RawMessage
}

// parseJWK turns one JWK of a JWKS into a verification key; keys that are
// not for signature verification, symmetric keys, private keys, keys of an
// unsupported type or curve and weak RSA keys are refused.
func parseJWK(raw json.RawMessage) (*verifyKey, error) {
	var u jwkUse
	if err := json.Unmarshal(raw, &u); err != nil {
		return nil, err
	}
	if u.Kty != "RSA" && u.Kty != "EC" && u.Kty != "OKP" {
		return nil, fmt.Errorf("kty %q", u.Kty)
	}
	if u.Use != "" && u.Use != "sig" {
		return nil, fmt.Errorf("use %q", u.Use)
	}
	if u.KeyOps != nil && !slices.Contains(u.KeyOps, "verify") {
		return nil, errors.New("key_ops without verify")
	}
	if u.D != nil || u.K != nil || u.P != nil || u.Q != nil || u.Dp != nil || u.Dq != nil || u.Qi != nil || u.Priv != nil {
		return nil, errors.New("private or symmetric key material")
	}
	if u.Alg != "" {
		a, ok := algorithms[u.Alg]
		if !ok || a.kty != u.Kty {
			return nil, fmt.Errorf("alg %q", u.Alg)
		}
	}
	var j jose.JSONWebKey
	if err := j.UnmarshalJSON(raw); err != nil {
		return nil, err // go-jose also refuses EC points off the curve
	}
	k := &verifyKey{JSONWebKey: j}
	switch pub := j.Key.(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < 2048 || pub.E < 3 || pub.E%2 == 0 {
			return nil, errors.New("weak RSA key")
		}
		k.kty = "RSA"
	case *ecdsa.PublicKey:
		k.kty, k.crv = "EC", pub.Curve.Params().Name
	case ed25519.PublicKey:
		k.kty, k.crv = "OKP", "Ed25519"
	default:
		return nil, fmt.Errorf("key %T", pub)
	}
	return k, nil
}

// keySet fetches and caches an issuer's JWKS.
type keySet struct {
	client     *http.Client
	issuer     string
	jwksURL    string // configured, or "" to discover
	maxAge     time.Duration
	minRefresh time.Duration
	staleFor   time.Duration
	now        func() time.Time
	log        *slog.Logger

	fetchMu sync.Mutex // one fetch at a time

	mu        sync.RWMutex
	keys      []*verifyKey
	fetched   time.Time // last successful fetch
	attempted time.Time // last fetch attempt
}

// lookup returns the keys that may verify a token with this kid and alg,
// fetching the JWKS when it is old or (rate-limited) when the kid is unknown.
func (ks *keySet) lookup(ctx context.Context, kid, alg string) ([]*verifyKey, error) {
	keys, fresh, usable := ks.snapshot()
	if usable && fresh {
		if m := match(keys, kid, alg); len(m) > 0 {
			return m, nil
		}
	}
	err := ks.refresh(ctx)
	keys, _, usable = ks.snapshot()
	if !usable {
		if err == nil {
			err = ErrUnavailable
		}
		return nil, err
	}
	if m := match(keys, kid, alg); len(m) > 0 {
		return m, nil
	}
	return nil, errToken("unknown signing key")
}

// snapshot returns the cached keys, whether they are younger than maxAge
// and whether they may still be used (younger than staleFor).
func (ks *keySet) snapshot() (keys []*verifyKey, fresh, usable bool) {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	if ks.fetched.IsZero() {
		return nil, false, false
	}
	age := ks.now().Sub(ks.fetched)
	return ks.keys, age < ks.maxAge, age < ks.staleFor
}

func match(keys []*verifyKey, kid, alg string) []*verifyKey {
	var out []*verifyKey
	for _, k := range keys {
		if (kid == "" || k.KeyID == kid) && k.fits(alg) {
			out = append(out, k)
		}
	}
	return out
}

// refresh fetches the JWKS unless another attempt happened less than
// minRefresh ago: an attacker sending tokens with random kids causes at
// most one fetch per minRefresh.
func (ks *keySet) refresh(ctx context.Context) error {
	ks.fetchMu.Lock()
	defer ks.fetchMu.Unlock()
	ks.mu.RLock()
	attempted := ks.attempted
	haveKeys := !ks.fetched.IsZero()
	ks.mu.RUnlock()
	if !attempted.IsZero() && ks.now().Sub(attempted) < ks.minRefresh {
		if !haveKeys {
			return ErrUnavailable
		}
		// Someone fetched a moment ago (maybe while we waited for the
		// lock): use what they got.
		return nil
	}
	ks.mu.Lock()
	ks.attempted = ks.now()
	ks.mu.Unlock()
	keys, err := ks.fetch(ctx)
	if err != nil {
		ks.log.Warn("fetching the OIDC signing keys", "issuer", ks.issuer, "err", err)
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	ks.mu.Lock()
	ks.keys, ks.fetched = keys, ks.now()
	ks.mu.Unlock()
	return nil
}

// fetch discovers the JWKS URL when needed and downloads the key set.
func (ks *keySet) fetch(ctx context.Context) ([]*verifyKey, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	u := ks.jwksURL
	if u == "" {
		var disc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := ks.getJSON(ctx, strings.TrimRight(ks.issuer, "/")+"/.well-known/openid-configuration", &disc); err != nil {
			return nil, fmt.Errorf("openid discovery: %w", err)
		}
		if disc.Issuer != ks.issuer {
			return nil, fmt.Errorf("openid discovery: issuer %q differs from the configured one", disc.Issuer)
		}
		if err := checkURL(disc.JWKSURI); err != nil {
			return nil, fmt.Errorf("openid discovery: jwks_uri: %w", err)
		}
		u = disc.JWKSURI
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := ks.getJSON(ctx, u, &set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	var keys []*verifyKey
	for _, j := range set.Keys {
		k, err := parseJWK(j)
		if err != nil {
			var id struct{ Kid string }
			_ = json.Unmarshal(j, &id)
			ks.log.Debug("ignoring a JWKS key", "kid", id.Kid, "reason", err.Error())
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("jwks: no usable signature key")
	}
	return keys, nil
}

func (ks *keySet) getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := ks.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	if len(b) > maxJWKSBytes {
		return fmt.Errorf("GET %s: document larger than %d bytes", u, maxJWKSBytes)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}

// checkURL accepts https URLs, and http ones only on a loopback host (a
// local issuer in development and tests).
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Errorf("invalid URL %q", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		h := u.Hostname()
		if h == "localhost" {
			return nil
		}
		if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
			return nil
		}
		return fmt.Errorf("URL %q: https is required except on loopback", s)
	}
	return fmt.Errorf("URL %q: want https", s)
}
