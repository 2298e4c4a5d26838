package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	_ "crypto/sha256" // hash implementations used by the algorithms
	_ "crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// DefaultAlgorithms are the JWS algorithms accepted when OIDCConfig does not
// list its own.
var DefaultAlgorithms = []string{"RS256", "PS256", "ES256", "EdDSA"}

// algorithm describes one supported JWS algorithm. Only asymmetric ones
// exist here: "none" and HS* cannot be configured.
type algorithm struct {
	kty  string      // the JWK key type it needs
	crv  string      // the curve, for EC and OKP
	hash crypto.Hash // 0 for EdDSA
	pss  bool
}

var algorithms = map[string]algorithm{
	"RS256": {kty: "RSA", hash: crypto.SHA256},
	"RS384": {kty: "RSA", hash: crypto.SHA384},
	"RS512": {kty: "RSA", hash: crypto.SHA512},
	"PS256": {kty: "RSA", hash: crypto.SHA256, pss: true},
	"PS384": {kty: "RSA", hash: crypto.SHA384, pss: true},
	"PS512": {kty: "RSA", hash: crypto.SHA512, pss: true},
	"ES256": {kty: "EC", crv: "P-256", hash: crypto.SHA256},
	"ES384": {kty: "EC", crv: "P-384", hash: crypto.SHA384},
	"ES512": {kty: "EC", crv: "P-521", hash: crypto.SHA512},
	"EdDSA": {kty: "OKP", crv: "Ed25519"},
}

// jwtHeader is the JOSE header of a JWS.
type jwtHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Typ  string          `json:"typ"`
	Crit json.RawMessage `json:"crit"`
	// Embedded keys and key URLs are never trusted; their presence is
	// refused so a token cannot bring its own key.
	JWK json.RawMessage `json:"jwk"`
	JKU json.RawMessage `json:"jku"`
	X5U json.RawMessage `json:"x5u"`
}

// jws is a parsed, not yet verified, compact JWS.
type jws struct {
	header    jwtHeader
	payload   []byte
	signed    []byte // "header.payload" as sent
	signature []byte
}

// errToken is an invalid token; its text is a short reason safe to log and
// to audit (it never contains the token).
type errToken string

func (e errToken) Error() string { return string(e) }

var b64 = base64.RawURLEncoding.Strict()

// parseJWS splits and decodes a compact JWS without verifying it.
func parseJWS(token string) (*jws, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errToken("malformed token")
	}
	hb, err := b64.DecodeString(parts[0])
	if err != nil {
		return nil, errToken("malformed token header")
	}
	var h jwtHeader
	if err := strictUnmarshal(hb, &h); err != nil {
		return nil, errToken("malformed token header")
	}
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, errToken("malformed token payload")
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return nil, errToken("malformed token signature")
	}
	if len(h.Crit) > 0 {
		return nil, errToken("unsupported critical header")
	}
	if len(h.JWK) > 0 || len(h.JKU) > 0 || len(h.X5U) > 0 {
		return nil, errToken("embedded keys are not accepted")
	}
	switch strings.ToLower(h.Typ) {
	case "", "jwt", "at+jwt", "application/jwt", "application/at+jwt":
	default:
		return nil, errToken("unsupported token type")
	}
	return &jws{header: h, payload: payload, signed: []byte(token[:len(parts[0])+1+len(parts[1])]), signature: sig}, nil
}

// strictUnmarshal decodes one JSON object and refuses trailing data.
func strictUnmarshal(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data")
	}
	return nil
}

// verifySignature checks sig over signed with key under alg. The key's type
// must be the one alg needs: this, not the token header, decides how the
// bytes are interpreted, which is what defeats HS/RS confusion.
func verifySignature(alg string, key crypto.PublicKey, signed, sig []byte) error {
	a, ok := algorithms[alg]
	if !ok {
		return errToken("algorithm not allowed")
	}
	var digest []byte
	if a.hash != 0 {
		h := a.hash.New()
		h.Write(signed)
		digest = h.Sum(nil)
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		if a.kty != "RSA" {
			return errToken("key type does not match the algorithm")
		}
		var err error
		if a.pss {
			err = rsa.VerifyPSS(k, a.hash, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			err = rsa.VerifyPKCS1v15(k, a.hash, digest, sig)
		}
		if err != nil {
			return errToken("bad signature")
		}
		return nil
	case *ecdsa.PublicKey:
		if a.kty != "EC" || k.Curve.Params().Name != a.crv {
			return errToken("key type does not match the algorithm")
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return errToken("bad signature")
		}
		r := new(big.Int).SetBytes(sig[:size])
		s := new(big.Int).SetBytes(sig[size:])
		if !ecdsa.Verify(k, digest, r, s) {
			return errToken("bad signature")
		}
		return nil
	case ed25519.PublicKey:
		if a.kty != "OKP" {
			return errToken("key type does not match the algorithm")
		}
		if len(sig) != ed25519.SignatureSize || !ed25519.Verify(k, signed, sig) {
			return errToken("bad signature")
		}
		return nil
	}
	return fmt.Errorf("auth: unsupported key type %T", key)
}
