package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/crypto/bcrypt"
)

func TestRolesHas(t *testing.T) {
	for _, tc := range []struct {
		granted Roles
		need    Role
		want    bool
	}{
		{0, Public, true},
		{0, Reader, false},
		{RolesOf(Reader), Reader, true},
		{RolesOf(Reader), Writer, false},
		{RolesOf(Writer), Reader, false}, // a modality cannot read
		{RolesOf(Writer), Writer, true},
		{RolesOf(Reader, Writer), Admin, false},
		{RolesOf(Admin), Reader, true},
		{RolesOf(Admin), Writer, true},
		{RolesOf(Admin), Admin, true},
		{RolesOf(Public, Authenticated), Reader, false},
	} {
		if got := tc.granted.Has(tc.need); got != tc.want {
			t.Errorf("%q.Has(%v) = %v, want %v", tc.granted, tc.need, got, tc.want)
		}
	}
	anon := &Principal{Method: MethodAnonymous}
	if anon.Allowed(Authenticated) || !(&Principal{Method: MethodToken}).Allowed(Authenticated) {
		t.Error("Authenticated: anonymous without roles allowed, or token refused")
	}
	var nilP *Principal
	if nilP.Allowed(Reader) || !nilP.Allowed(Public) || nilP.AllowsPatient("P", "") {
		t.Error("nil principal")
	}
	rs, err := ParseRoles("reader, admin")
	if err != nil || rs.String() != "reader,admin" {
		t.Errorf("ParseRoles: %q %v", rs, err)
	}
	if _, err := ParseRoles("reader,root"); err == nil {
		t.Error("ParseRoles accepted root")
	}
	m, err := ParseRoleMap("pacs-read=reader, pacs-admin=admin")
	if err != nil || m["pacs-read"] != Reader || m["pacs-admin"] != Admin || len(m) != 2 {
		t.Errorf("ParseRoleMap: %v %v", m, err)
	}
	for _, bad := range []string{"x", "=reader", "a=god"} {
		if _, err := ParseRoleMap(bad); err == nil {
			t.Errorf("ParseRoleMap(%q) accepted", bad)
		}
	}
}

func TestRestriction(t *testing.T) {
	for _, tc := range []struct {
		name       string
		r          *Restriction
		id, issuer string
		want       bool
	}{
		{"nil", nil, "P", "", true},
		{"empty", &Restriction{}, "P", "", false},
		{"patient", &Restriction{Patients: []PatientRef{{ID: "P"}}}, "P", "ANY", true},
		{"other patient", &Restriction{Patients: []PatientRef{{ID: "P"}}}, "Q", "", false},
		{"patient with issuer", &Restriction{Patients: []PatientRef{ParsePatientRef("P^^^H")}}, "P", "H", true},
		{"patient wrong issuer", &Restriction{Patients: []PatientRef{ParsePatientRef("P^^^H")}}, "P", "K", false},
		{"empty patient list", &Restriction{Patients: []PatientRef{}}, "P", "", false},
		{"tenant", &Restriction{Tenants: []string{"H"}}, "X", "H", true},
		{"other tenant", &Restriction{Tenants: []string{"H"}}, "X", "K", false},
		{"both", &Restriction{Patients: []PatientRef{{ID: "P"}}, Tenants: []string{"H"}}, "P", "K", false},
	} {
		if got := tc.r.AllowsPatient(tc.id, tc.issuer); got != tc.want {
			t.Errorf("%s: AllowsPatient(%q, %q) = %v, want %v", tc.name, tc.id, tc.issuer, got, tc.want)
		}
	}
	p := &Principal{}
	ctx := WithPrincipal(context.Background(), p)
	if FromContext(ctx) != p || FromContext(context.Background()) != nil {
		t.Error("context round trip")
	}
}

func TestClaims(t *testing.T) {
	v, err := newOIDC(OIDCConfig{Issuer: "https://idp.example.org", Audience: "a",
		RolesClaim: "realm_access.roles", PatientClaim: "pid", TenantClaim: "tenant", RestrictionRequired: true}, nil, time.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	claims := func(extra map[string]any) map[string]any {
		c := map[string]any{"sub": "u"}
		for k, x := range extra {
			c[k] = x
		}
		return c
	}
	for _, tc := range []struct {
		name       string
		rolesClaim string
		c          map[string]any
		roles      string
		restricted bool
	}{
		{"nested", "", claims(map[string]any{"realm_access": map[string]any{"roles": []any{"reader", "x"}}}), "reader", true},
		{"admin not restricted", "", claims(map[string]any{"realm_access": map[string]any{"roles": []any{"admin"}}}), "admin", false},
		{"nested wrong type", "", claims(map[string]any{"realm_access": "reader"}), "", true},
		{"scope", "scope", claims(map[string]any{"scope": "openid reader writer"}), "reader,writer", true},
		{"namespaced", "https://example.org/roles", claims(map[string]any{"https://example.org/roles": []any{"writer"}}), "writer", true},
		{"absent", "", claims(nil), "", true},
		{"numbers ignored", "roles", claims(map[string]any{"roles": []any{1, "reader"}}), "reader", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vv := *v
			if tc.rolesClaim != "" {
				vv.cfg.RolesClaim = tc.rolesClaim
			}
			p := vv.principal(tc.c)
			if p.Roles.String() != tc.roles || (p.Restriction != nil) != tc.restricted {
				t.Fatalf("roles %q restricted %v, want %q %v", p.Roles, p.Restriction != nil, tc.roles, tc.restricted)
			}
			if tc.restricted && p.AllowsPatient("P", "") {
				t.Fatal("RestrictionRequired: a token without the claim allows a patient")
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"none alg", Config{OIDC: &OIDCConfig{Issuer: "https://i", Audience: "a", Algorithms: []string{"RS256", "none"}}}, `"none" is not allowed`},
		{"HS256 alg", Config{OIDC: &OIDCConfig{Issuer: "https://i", Audience: "a", Algorithms: []string{"HS256"}}}, `"HS256" is not allowed`},
		{"no audience", Config{OIDC: &OIDCConfig{Issuer: "https://i"}}, "audience"},
		{"plain http issuer", Config{OIDC: &OIDCConfig{Issuer: "http://idp.example.org", Audience: "a"}}, "https is required"},
		{"missing token file", Config{APITokensFile: "/nonexistent/tokens"}, "no such file"},
		{"bad realm", Config{Realm: `a"b`}, "realm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(ctx, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestCredFileParsing(t *testing.T) {
	_, hash := GenerateToken()
	for _, tc := range []struct {
		name, in, want string
	}{
		{"ok", "# c\n\n a " + hash + " reader,writer\n", ""},
		{"short hash", "a abc reader\n", "line 1: token hash"},
		{"upper hash", "a " + strings.ToUpper(hash) + " reader\n", "line 1: token hash"},
		{"missing roles", "a " + hash + "\n", "line 1: want NAME"},
		{"bad role", "a " + hash + " root\n", "line 1: auth: unknown role"},
		{"duplicate", "a " + hash + " reader\na " + hash + " reader\n", "line 2: duplicate name"},
		{"bad option", "a " + hash + " reader color=red\n", "line 1: unknown option"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseCredLines(strings.NewReader(tc.in), checkTokenHash)
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), hash[:16]) {
				t.Fatalf("error quotes the hash: %v", err)
			}
		})
	}
	if _, err := parseCredLines(strings.NewReader("u notbcrypt reader\n"), checkBcrypt); err == nil {
		t.Fatal("non-bcrypt hash accepted")
	}
}

func TestGenerateToken(t *testing.T) {
	a, ha := GenerateToken()
	b, hb := GenerateToken()
	if a == b || ha == hb || !strings.HasPrefix(a, TokenPrefix) || len(a) != len(TokenPrefix)+43 || HashToken(a) != ha || checkTokenHash(ha) != nil {
		t.Fatalf("GenerateToken: %q %q", a, ha)
	}
	toks := []apiToken{}
	for _, tk := range []string{a, b} {
		var at apiToken
		copy(at.digest[:], mustHex(HashToken(tk)))
		at.cred.name = tk[:8]
		toks = append(toks, at)
	}
	if c := matchToken(toks, b); c == nil || c.name != b[:8] {
		t.Fatal("matchToken: b not found")
	}
	if matchToken(toks, a+"x") != nil || matchToken(nil, a) != nil {
		t.Fatal("matchToken: false match")
	}
}

func mustHex(s string) []byte {
	b := make([]byte, len(s)/2)
	for i := range b {
		var v byte
		for _, c := range s[2*i : 2*i+2] {
			v <<= 4
			switch {
			case c >= '0' && c <= '9':
				v |= byte(c - '0')
			default:
				v |= byte(c-'a') + 10
			}
		}
		b[i] = v
	}
	return b
}

func TestBasicCache(t *testing.T) {
	now := time.Unix(1e9, 0)
	clock := func() time.Time { return now }
	h, _ := bcrypt.GenerateFromPassword([]byte("pw-123456"), 4)
	b := &basicUsers{
		users: map[string]credLine{"u": {name: "u", secret: string(h), roles: RolesOf(Writer)}},
		cache: newVerifyCache(time.Minute, 2, clock),
		sem:   make(chan struct{}, 2),
	}
	b.dummy, _ = bcrypt.GenerateFromPassword([]byte("x"), 4)
	ctx := context.Background()
	if _, err := b.verify(ctx, "u", "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
	if len(b.cache.m) != 0 {
		t.Fatal("a failure was cached")
	}
	if c, err := b.verify(ctx, "u", "pw-123456"); err != nil || c.name != "u" {
		t.Fatalf("verify: %v", err)
	}
	if !b.cache.hit(b.cache.key("u", "pw-123456")) || b.cache.hit(b.cache.key("u", "pw-1234567")) {
		t.Fatal("cache lookup")
	}
	// The cached entry answers even if bcrypt would now say no (proves the
	// cache is used), until the TTL passes.
	b.users["u"] = credLine{name: "u", secret: string(b.dummy), roles: RolesOf(Writer)}
	if _, err := b.verify(ctx, "u", "pw-123456"); err != nil {
		t.Fatal("cache not used")
	}
	now = now.Add(2 * time.Minute)
	if _, err := b.verify(ctx, "u", "pw-123456"); err == nil {
		t.Fatal("expired cache entry used")
	}
	// Bounded.
	for i := range 10 {
		b.cache.add(b.cache.key("u", strings.Repeat("x", i)))
	}
	if len(b.cache.m) > 2 {
		t.Fatalf("cache holds %d entries, bound 2", len(b.cache.m))
	}
	if _, err := b.verify(ctx, "u", strings.Repeat("p", 73)); err == nil {
		t.Fatal("password over 72 bytes accepted")
	}
}

// jwk is one JSON Web Key as an issuer publishes it.
type jwk struct {
	Kty    string   `json:"kty,omitempty"`
	Kid    string   `json:"kid,omitempty"`
	Use    string   `json:"use,omitempty"`
	Alg    string   `json:"alg,omitempty"`
	KeyOps []string `json:"key_ops,omitempty"`
	Crv    string   `json:"crv,omitempty"`
	N      string   `json:"n,omitempty"`
	E      string   `json:"e,omitempty"`
	X      string   `json:"x,omitempty"`
	Y      string   `json:"y,omitempty"`
	D      string   `json:"d,omitempty"`
	K      string   `json:"k,omitempty"`
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseJWK(t *testing.T) {
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	enc := base64.RawURLEncoding.EncodeToString
	pt, _ := ec.PublicKey.Bytes() // 0x04 || X || Y
	x, y := pt[1:33], pt[33:]
	badY := slices.Clone(y)
	badY[31] ^= 1
	e := enc(big.NewInt(65537).Bytes())
	for _, tc := range []struct {
		name string
		j    jwk
		ok   bool
	}{
		{"weak rsa", jwk{Kty: "RSA", N: enc(small.N.Bytes()), E: e}, false},
		{"ec ok", jwk{Kty: "EC", Crv: "P-256", X: enc(x), Y: enc(y)}, true},
		{"ec off curve", jwk{Kty: "EC", Crv: "P-256", X: enc(x), Y: enc(badY)}, false},
		{"ec wrong curve", jwk{Kty: "EC", Crv: "P-192", X: enc(x), Y: enc(y)}, false},
		{"enc use", jwk{Kty: "EC", Crv: "P-256", X: enc(x), Y: enc(y), Use: "enc"}, false},
		{"key_ops sign only", jwk{Kty: "EC", Crv: "P-256", X: enc(x), Y: enc(y), KeyOps: []string{"sign"}}, false},
		{"alg mismatch", jwk{Kty: "EC", Crv: "P-256", X: enc(x), Y: enc(y), Alg: "RS256"}, false},
		{"alg HS256", jwk{Kty: "EC", Crv: "P-256", X: enc(x), Y: enc(y), Alg: "HS256"}, false},
		{"oct", jwk{Kty: "oct", K: enc([]byte("k"))}, false},
		{"private", jwk{Kty: "EC", Crv: "P-256", X: enc(x), Y: enc(y), D: "AA"}, false},
		{"ed25519 short", jwk{Kty: "OKP", Crv: "Ed25519", X: enc([]byte("short"))}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseJWK(mustMarshal(t, tc.j))
			if (err == nil) != tc.ok {
				t.Fatalf("err %v, want ok=%v", err, tc.ok)
			}
		})
	}
	k, _ := parseJWK(mustMarshal(t, jwk{Kty: "EC", Crv: "P-256", X: enc(x), Y: enc(y), Alg: "ES256"}))
	if !k.fits("ES256") || k.fits("ES384") || k.fits("RS256") || k.fits("HS256") {
		t.Fatal("fits")
	}
}

func TestParseJWS(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, err := json.Marshal(jose.JSONWebKey{Key: &ec.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	pubJWK := string(pub)
	for _, tc := range []struct {
		name, tok, want string
	}{
		{"two parts", "a.b", "malformed token"},
		{"padding", enc(`{"alg":"RS256"}`) + "=." + enc("{}") + ".AA", "malformed token header"},
		{"crit", enc(`{"alg":"RS256","crit":["exp"]}`) + "." + enc("{}") + ".AA", "critical"},
		{"embedded jwk", enc(`{"alg":"ES256","jwk":`+pubJWK+`}`) + "." + enc("{}") + ".AA", "embedded"},
		{"embedded broken jwk", enc(`{"alg":"RS256","jwk":{"kty":"RSA"}}`) + "." + enc("{}") + ".AA", "malformed token header"},
		{"x5u", enc(`{"alg":"RS256","x5u":"https://evil"}`) + "." + enc("{}") + ".AA", "embedded"},
		{"unencoded payload", enc(`{"alg":"RS256","b64":false,"crit":["b64"]}`) + "." + enc("{}") + ".AA", "critical"},
		{"b64 without crit", enc(`{"alg":"RS256","b64":false}`) + "." + enc("{}") + ".AA", "critical"},
		{"typ not a string", enc(`{"alg":"RS256","typ":7}`) + "." + enc("{}") + ".AA", "type"},
		{"alg none", enc(`{"alg":"none"}`) + "." + enc("{}") + ".", "algorithm not allowed"},
		{"alg HS256", enc(`{"alg":"HS256"}`) + "." + enc("{}") + ".AA", "algorithm not allowed"},
		{"alg missing", enc(`{"kid":"rsa1"}`) + "." + enc("{}") + ".AA", "algorithm not allowed"},
		{"bad payload", enc(`{"alg":"RS256"}`) + ".!." + "AA", "malformed token payload"},
		{"bad signature", enc(`{"alg":"RS256"}`) + "." + enc("{}") + ".A!", "malformed token signature"},
		{"jku", enc(`{"alg":"RS256","jku":"https://evil"}`) + "." + enc("{}") + ".AA", "embedded"},
		{"typ", enc(`{"alg":"RS256","typ":"dpop+jwt"}`) + "." + enc("{}") + ".AA", "type"},
		{"trailing", enc(`{"alg":"RS256"}{}`) + "." + enc("{}") + ".AA", "malformed token header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseJWS(tc.tok, []jose.SignatureAlgorithm{"RS256", "ES256"})
			var et errToken
			if err == nil || !errors.As(err, &et) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}
