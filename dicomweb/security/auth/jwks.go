package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/minipacs/minipacs/dicomweb/kind"
)

// maxJWKSBytes bounds a discovery document or a JWKS.
const maxJWKSBytes = 1 << 20

// ErrUnavailable means the issuer's keys could not be obtained: the
// credential could not be checked (503), which is not the client's fault.
var ErrUnavailable = kind.New(kind.Unavailable, "auth: signing keys unavailable")

// jwk is one JSON Web Key as published in a JWKS.
type jwk struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Use    string   `json:"use"`
	Alg    string   `json:"alg"`
	KeyOps []string `json:"key_ops"`
	Crv    string   `json:"crv"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
	D      string   `json:"d"`
	K      string   `json:"k"`
}

// verifyKey is a usable public key from the JWKS.
type verifyKey struct {
	kid string
	kty string
	crv string
	alg string // "" when the JWK does not pin one
	key crypto.PublicKey
}

// fits reports whether k may verify a token signed with alg.
func (k *verifyKey) fits(alg string) bool {
	a, ok := algorithms[alg]
	if !ok || k.kty != a.kty || (a.crv != "" && k.crv != a.crv) {
		return false
	}
	return k.alg == "" || k.alg == alg
}

// parseJWK turns a JWK into a verification key; keys that are not for
// signature verification, symmetric keys, private keys and weak keys are
// refused.
func parseJWK(j jwk) (*verifyKey, error) {
	if j.Use != "" && j.Use != "sig" {
		return nil, fmt.Errorf("use %q", j.Use)
	}
	if j.KeyOps != nil && !slices.Contains(j.KeyOps, "verify") {
		return nil, errors.New("key_ops without verify")
	}
	if j.D != "" || j.K != "" {
		return nil, errors.New("private or symmetric key material")
	}
	if j.Alg != "" {
		a, ok := algorithms[j.Alg]
		if !ok || a.kty != j.Kty {
			return nil, fmt.Errorf("alg %q", j.Alg)
		}
	}
	k := &verifyKey{kid: j.Kid, kty: j.Kty, crv: j.Crv, alg: j.Alg}
	switch j.Kty {
	case "RSA":
		n, err1 := b64.DecodeString(j.N)
		e, err2 := b64.DecodeString(j.E)
		if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("bad RSA key")
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if pub.N.BitLen() < 2048 || pub.E < 3 || pub.E%2 == 0 {
			return nil, errors.New("weak RSA key")
		}
		k.key = pub
	case "EC":
		var curve elliptic.Curve
		switch j.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, fmt.Errorf("curve %q", j.Crv)
		}
		x, err1 := b64.DecodeString(j.X)
		y, err2 := b64.DecodeString(j.Y)
		size := (curve.Params().BitSize + 7) / 8
		if err1 != nil || err2 != nil || len(x) != size || len(y) != size {
			return nil, errors.New("bad EC key")
		}
		// Validate the point through the uncompressed SEC 1 encoding:
		// ecdsa.ParseUncompressedPublicKey refuses points off the curve.
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, errors.New("EC point not on the curve")
		}
		k.key = pub
	case "OKP":
		if j.Crv != "Ed25519" {
			return nil, fmt.Errorf("curve %q", j.Crv)
		}
		x, err := b64.DecodeString(j.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("bad Ed25519 key")
		}
		k.key = ed25519.PublicKey(x)
	default:
		return nil, fmt.Errorf("kty %q", j.Kty)
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
		if (kid == "" || k.kid == kid) && k.fits(alg) {
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
		Keys []jwk `json:"keys"`
	}
	if err := ks.getJSON(ctx, u, &set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	var keys []*verifyKey
	for _, j := range set.Keys {
		k, err := parseJWK(j)
		if err != nil {
			ks.log.Debug("ignoring a JWKS key", "kid", j.Kid, "reason", err.Error())
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
