package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// DefaultAlgorithms are the JWS algorithms accepted when OIDCConfig does not
// list its own.
var DefaultAlgorithms = []string{"RS256", "PS256", "ES256", "EdDSA"}

// algorithm describes one supported JWS algorithm. Only asymmetric ones
// exist here: "none" and HS* cannot be configured.
type algorithm struct {
	kty string // the JWK key type it needs
	crv string // the curve, for EC and OKP
}

var algorithms = map[string]algorithm{
	"RS256": {kty: "RSA"},
	"RS384": {kty: "RSA"},
	"RS512": {kty: "RSA"},
	"PS256": {kty: "RSA"},
	"PS384": {kty: "RSA"},
	"PS512": {kty: "RSA"},
	"ES256": {kty: "EC", crv: "P-256"},
	"ES384": {kty: "EC", crv: "P-384"},
	"ES512": {kty: "EC", crv: "P-521"},
	"EdDSA": {kty: "OKP", crv: "Ed25519"},
}

// errToken is an invalid token; its text is a short reason safe to log and
// to audit (it never contains the token).
type errToken string

func (e errToken) Error() string { return string(e) }

// parseJWS parses a compact JWS without verifying it; go-jose refuses any
// alg outside algs, so "none" and HS* never reach a key. The header may not
// bring its own key, mark anything critical or switch off the payload's
// base64 (RFC 7797), and its typ must be a JWT one.
func parseJWS(token string, algs []jose.SignatureAlgorithm) (*jose.JSONWebSignature, error) {
	if strings.Count(token, ".") != 2 {
		return nil, errToken("malformed token")
	}
	t, err := jose.ParseSignedCompact(token, algs)
	if err != nil {
		if _, ok := errors.AsType[*jose.ErrUnexpectedSignatureAlgorithm](err); ok {
			return nil, errToken("algorithm not allowed")
		}
		return nil, malformed(token)
	}
	h := t.Signatures[0].Protected
	if _, ok := h.ExtraHeaders["crit"]; ok {
		return nil, errToken("unsupported critical header")
	}
	if _, ok := h.ExtraHeaders["b64"]; ok {
		return nil, errToken("unsupported critical header")
	}
	if h.JSONWebKey != nil || h.ExtraHeaders["jku"] != nil || h.ExtraHeaders["x5u"] != nil {
		return nil, errToken("embedded keys are not accepted")
	}
	typ, ok := h.ExtraHeaders[jose.HeaderType].(string)
	if !ok && h.ExtraHeaders[jose.HeaderType] != nil {
		return nil, errToken("unsupported token type")
	}
	switch strings.ToLower(typ) {
	case "", "jwt", "at+jwt", "application/jwt", "application/at+jwt":
	default:
		return nil, errToken("unsupported token type")
	}
	return t, nil
}

// malformed names the part of a token go-jose could not parse: the payload
// or the signature when they are not base64url, else the header.
func malformed(token string) errToken {
	_, rest, _ := strings.Cut(token, ".")
	payload, sig, _ := strings.Cut(rest, ".")
	switch {
	case !isB64(payload):
		return "malformed token payload"
	case !isB64(sig):
		return "malformed token signature"
	}
	return "malformed token header"
}

func isB64(s string) bool {
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
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
