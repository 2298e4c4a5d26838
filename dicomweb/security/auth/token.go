package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
)

// TokenPrefix starts every API token GenerateToken makes, so that tokens
// are recognisable in a secret scanner and never mistaken for a JWT.
const TokenPrefix = "mpt_"

// GenerateToken returns a new random API token (256 bits) and the hex
// SHA-256 digest to put in the API token file.
func GenerateToken() (token, hash string) {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand documentation)
	token = TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token)
}

// HashToken is the digest under which a token is stored.
func HashToken(token string) string {
	d := sha256.Sum256([]byte(token))
	return hex.EncodeToString(d[:])
}

// apiToken is one configured token.
type apiToken struct {
	digest [sha256.Size]byte
	cred   credLine
}

func checkTokenHash(s string) error {
	if len(s) != 2*sha256.Size || strings.ToLower(s) != s {
		return errors.New("token hash: want 64 lower-case hex digits (SHA-256)")
	}
	if _, err := hex.DecodeString(s); err != nil {
		return errors.New("token hash: want 64 lower-case hex digits (SHA-256)")
	}
	return nil
}

func loadTokens(path string) ([]apiToken, error) {
	lines, err := readCredFile(path, checkTokenHash)
	if err != nil {
		return nil, err
	}
	out := make([]apiToken, len(lines))
	for i, l := range lines {
		hex.Decode(out[i].digest[:], []byte(l.secret))
		out[i].cred = l
	}
	return out, nil
}

// matchToken finds the token's entry. Every entry is compared, in
// constant time, whatever matches.
func matchToken(tokens []apiToken, token string) *credLine {
	d := sha256.Sum256([]byte(token))
	var found *credLine
	for i := range tokens {
		if subtle.ConstantTimeCompare(d[:], tokens[i].digest[:]) == 1 {
			found = &tokens[i].cred
		}
	}
	return found
}
