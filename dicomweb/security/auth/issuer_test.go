package auth_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// testKeys are generated once: RSA generation is slow.
var testKeys = sync.OnceValue(func() struct {
	rsa, rsa2 *rsa.PrivateKey
	ec        *ecdsa.PrivateKey
	ed        ed25519.PrivateKey
} {
	r1, _ := rsa.GenerateKey(rand.Reader, 2048)
	r2, _ := rsa.GenerateKey(rand.Reader, 2048)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	return struct {
		rsa, rsa2 *rsa.PrivateKey
		ec        *ecdsa.PrivateKey
		ed        ed25519.PrivateKey
	}{r1, r2, ec, ed}
})

// testIssuer is a real local OIDC issuer: discovery document and JWKS
// over HTTP on 127.0.0.1.
type testIssuer struct {
	srv     *httptest.Server
	URL     string
	mu      sync.Mutex
	jwks    []map[string]any
	fetches atomic.Int32
	down    atomic.Bool
}

func newIssuer(t *testing.T) *testIssuer {
	t.Helper()
	is := &testIssuer{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		if is.down.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"issuer": is.URL, "jwks_uri": is.URL + "/keys"})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		if is.down.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		is.fetches.Add(1)
		is.mu.Lock()
		defer is.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"keys": is.jwks})
	})
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	is.URL = is.srv.URL
	k := testKeys()
	is.addKey(rsaJWK("rsa1", &k.rsa.PublicKey, ""))
	pt, _ := k.ec.PublicKey.Bytes() // 0x04 || X || Y
	ecx, ecy := pt[1:33], pt[33:]
	is.addKey(map[string]any{"kty": "EC", "kid": "ec1", "use": "sig", "crv": "P-256", "x": b64(ecx), "y": b64(ecy)})
	is.addKey(map[string]any{"kty": "OKP", "kid": "ed1", "crv": "Ed25519", "x": b64(k.ed.Public().(ed25519.PublicKey))})
	// A symmetric key in the set must never be used.
	is.addKey(map[string]any{"kty": "oct", "kid": "hs1", "k": b64([]byte("secret"))})
	return is
}

func (is *testIssuer) addKey(j map[string]any) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.jwks = append(is.jwks, j)
}

func rsaJWK(kid string, pub *rsa.PublicKey, alg string) map[string]any {
	j := map[string]any{"kty": "RSA", "kid": kid, "use": "sig", "n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes())}
	if alg != "" {
		j["alg"] = alg
	}
	return j
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// sign makes a compact JWS of claims with header fields hdr.
func sign(t *testing.T, alg, kid string, key any, claims map[string]any) string {
	t.Helper()
	hdr := map[string]any{"alg": alg, "typ": "JWT"}
	if kid != "" {
		hdr["kid"] = kid
	}
	hb, _ := json.Marshal(hdr)
	cb, _ := json.Marshal(claims)
	in := b64(hb) + "." + b64(cb)
	var sig []byte
	var err error
	hashOf := func(h crypto.Hash) []byte { x := h.New(); x.Write([]byte(in)); return x.Sum(nil) }
	switch alg {
	case "none":
	case "HS256":
		m := hmac.New(sha256.New, key.([]byte))
		m.Write([]byte(in))
		sig = m.Sum(nil)
	case "RS256":
		sig, err = rsa.SignPKCS1v15(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, hashOf(crypto.SHA256))
	case "RS384":
		sig, err = rsa.SignPKCS1v15(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA384, hashOf(crypto.SHA384))
	case "PS256":
		sig, err = rsa.SignPSS(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, hashOf(crypto.SHA256), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case "ES256":
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, key.(*ecdsa.PrivateKey), hashOf(crypto.SHA256))
		if err == nil {
			sig = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
		}
	case "EdDSA":
		sig = ed25519.Sign(key.(ed25519.PrivateKey), []byte(in))
	default:
		t.Fatalf("sign: unsupported alg %s", alg)
	}
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return in + "." + b64(sig)
}

// rsaPublicPEM is what an attacker uses as the HMAC key in HS/RS confusion.
func rsaPublicPEM(pub *rsa.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
