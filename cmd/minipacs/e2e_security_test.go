package main_test

// Security end-to-end tests against the real binary (issue 5): the auth
// matrix through the real router with a real local OIDC issuer, per-patient
// restriction, the audit trail (1,000 mixed requests, one record each, hash
// chain verified and broken), path-escape payloads in UIDs, TLS (versions,
// HSTS, certificate reload on SIGHUP, the exposure rule) and the hard
// limits (413 before the body, parts, part size, 431, slowloris, 415, QIDO
// clamp).

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb/testkit/exectest"
)

// ---- keys and a real local OIDC issuer ----

type secKeySet struct {
	rsa, rsa2 *rsa.PrivateKey
	ec        *ecdsa.PrivateKey
}

// secKeys are generated once: RSA generation is slow.
var secKeys = sync.OnceValue(func() secKeySet {
	r1, err1 := rsa.GenerateKey(rand.Reader, 2048)
	r2, err2 := rsa.GenerateKey(rand.Reader, 2048)
	ec, err3 := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err := errors.Join(err1, err2, err3); err != nil {
		panic(err)
	}
	return secKeySet{r1, r2, ec}
})

const secAudience = "minipacs-e2e"

// secIssuer is an OIDC issuer on 127.0.0.1: discovery document and JWKS.
type secIssuer struct {
	URL string
}

func newSecIssuer(t *testing.T) *secIssuer {
	t.Helper()
	is := &secIssuer{}
	k := secKeys()
	b64 := base64.RawURLEncoding.EncodeToString
	jwks := map[string]any{"keys": []any{
		map[string]any{"kty": "RSA", "kid": "rsa1", "use": "sig", "alg": "RS256",
			"n": b64(k.rsa.PublicKey.N.Bytes()), "e": b64(big.NewInt(int64(k.rsa.PublicKey.E)).Bytes())},
		map[string]any{"kty": "EC", "kid": "ec1", "use": "sig", "crv": "P-256",
			"x": b64(ecPoint(k.ec)[1:33]), "y": b64(ecPoint(k.ec)[33:])},
	}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"issuer": is.URL, "jwks_uri": is.URL + "/jwks"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(jwks)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	is.URL = srv.URL
	return is
}

// claims are valid claims of the issuer for sub with roles.
func (is *secIssuer) claims(sub string, roles ...string) map[string]any {
	now := time.Now().Unix()
	c := map[string]any{"iss": is.URL, "aud": secAudience, "sub": sub, "iat": now, "exp": now + 600}
	if roles != nil {
		c["roles"] = roles
	}
	return c
}

// secJWT makes a compact JWS of claims. key is the signing key: an RSA or
// EC private key, or the HMAC secret for HS256; alg "none" has no
// signature.
func secJWT(t *testing.T, alg, kid string, key any, claims map[string]any) string {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	hdr := map[string]any{"alg": alg, "typ": "JWT"}
	if kid != "" {
		hdr["kid"] = kid
	}
	hb, _ := json.Marshal(hdr)
	cb, _ := json.Marshal(claims)
	in := b64(hb) + "." + b64(cb)
	digest := sha256.Sum256([]byte(in))
	var sig []byte
	var err error
	switch alg {
	case "none":
	case "HS256":
		m := hmac.New(sha256.New, key.([]byte))
		m.Write([]byte(in))
		sig = m.Sum(nil)
	case "RS256":
		sig, err = rsa.SignPKCS1v15(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, digest[:])
	case "ES256":
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, key.(*ecdsa.PrivateKey), digest[:])
		if err == nil {
			sig = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
		}
	default:
		t.Fatalf("secJWT: unsupported alg %s", alg)
	}
	if err != nil {
		t.Fatalf("secJWT: %v", err)
	}
	return in + "." + b64(sig)
}

// ---- credential files made with `minipacs token` ----

var (
	secTokenLine = regexp.MustCompile(`(?m)^token: (\S+)\napi token file line:\n(.+)$`)
	secUsersLine = regexp.MustCompile(`(?m)^users file line:\n(.+)$`)
)

// secMakeToken runs `minipacs token` and returns the token and its line.
func secMakeToken(t *testing.T, name, roles string, extra ...string) (tok, line string) {
	t.Helper()
	out, err := exec.Command(binPath, append([]string{"token", "--name", name, "--roles", roles}, extra...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("minipacs token: %v\n%s", err, out)
	}
	m := secTokenLine.FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("minipacs token: unexpected output %q", out)
	}
	return m[1], m[2]
}

// secMakeBasic runs `minipacs token --basic` and returns the users line.
func secMakeBasic(t *testing.T, user, password, roles string) string {
	t.Helper()
	cmd := exec.Command(binPath, "token", "--basic", user, "--roles", roles, "--password-stdin", "--bcrypt-cost", "4")
	cmd.Stdin = strings.NewReader(password + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("minipacs token --basic: %v\n%s", err, out)
	}
	m := secUsersLine.FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("minipacs token --basic: unexpected output %q", out)
	}
	return m[1]
}

func secWriteFile(t *testing.T, dir, name string, lines ...string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("# e2e credentials\n"+strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// ---- a server over HTTP or HTTPS ----

// secServer is a running minipacs with a client that trusts its
// certificate (HTTPS) and talks to it without keep-alive surprises.
type secServer struct {
	*server
	client *http.Client
}

// startSecServer starts minipacs on a free loopback port (HTTPS when ca
// is set, trusted through it) and stops it when the test ends.
func startSecServer(t *testing.T, dataDir string, ca *x509.CertPool, args ...string) *secServer {
	t.Helper()
	scheme := "http"
	tr := &http.Transport{MaxIdleConnsPerHost: 32}
	if ca != nil {
		scheme = "https"
		tr.TLSClientConfig = &tls.Config{RootCAs: ca, ServerName: "127.0.0.1"}
	}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	return &secServer{server: launch(t, dataDir, args, nil, scheme, client), client: client}
}

// secDo sends one request; it never calls t.Fatal, so goroutines may use it.
func (s *secServer) secDo(method, path string, hdr http.Header, body []byte) (*response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: body: %w", method, path, err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

func (s *secServer) must(t *testing.T, method, path string, hdr http.Header, body []byte) *response {
	t.Helper()
	r, err := s.secDo(method, path, hdr, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// secHdr builds a header from key, value pairs.
func secHdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			h.Add(kv[i], kv[i+1])
		}
	}
	return h
}

func bearer(tok string) string { return "Bearer " + tok }

func basicAuth(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}

// secRaw sends raw bytes on a new connection and reads one response.
func secRaw(addr string, raw []byte, timeout time.Duration) (*http.Response, []byte, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write(raw); err != nil {
		return nil, nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, b, nil
}

// ---- synthetic DICOM ----

func secElem(group, elem uint16, vr string, val []byte) []byte {
	var b []byte
	b = binary.LittleEndian.AppendUint16(b, group)
	b = binary.LittleEndian.AppendUint16(b, elem)
	b = append(b, vr...)
	switch vr {
	case "OB", "OW", "SQ", "UN", "UT":
		b = append(b, 0, 0)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(val)))
	default:
		b = binary.LittleEndian.AppendUint16(b, uint16(len(val)))
	}
	return append(b, val...)
}

func secStr(s string, padding byte) []byte {
	b := []byte(s)
	if len(b)%2 == 1 {
		b = append(b, padding)
	}
	return b
}

func secUS(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }

// secInst is one synthetic CT instance.
type secInst struct {
	study, series, sop string
	patID, patName     string
	data               []byte
}

func (in *secInst) path() string {
	return "/dicomweb/studies/" + in.study + "/series/" + in.series + "/instances/" + in.sop
}

// secUIDRoot is a UID root unique to this test run.
var secUIDRoot = sync.OnceValue(func() string {
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("1.2.826.0.1.3680043.10.5.%d", binary.BigEndian.Uint32(b[:])%1000000)
})

// newSecInst builds a Part-10 Explicit VR Little Endian CT image of
// rows×cols 16-bit pixels.
func newSecInst(study, series, sop, patID, patName string, rows, cols int) *secInst {
	const ct = "1.2.840.10008.5.1.4.1.1.2"
	var ds []byte
	ds = append(ds, secElem(0x0008, 0x0016, "UI", secStr(ct, 0))...)
	ds = append(ds, secElem(0x0008, 0x0018, "UI", secStr(sop, 0))...)
	ds = append(ds, secElem(0x0008, 0x0020, "DA", []byte("20240101"))...)
	ds = append(ds, secElem(0x0008, 0x0050, "SH", secStr("ACC"+sop[len(sop)-4:], ' '))...)
	ds = append(ds, secElem(0x0008, 0x0060, "CS", secStr("CT", ' '))...)
	ds = append(ds, secElem(0x0010, 0x0010, "PN", secStr(patName, ' '))...)
	ds = append(ds, secElem(0x0010, 0x0020, "LO", secStr(patID, ' '))...)
	ds = append(ds, secElem(0x0020, 0x000D, "UI", secStr(study, 0))...)
	ds = append(ds, secElem(0x0020, 0x000E, "UI", secStr(series, 0))...)
	ds = append(ds, secElem(0x0020, 0x0013, "IS", secStr("1", ' '))...)
	ds = append(ds, secElem(0x0028, 0x0002, "US", secUS(1))...)
	ds = append(ds, secElem(0x0028, 0x0004, "CS", secStr("MONOCHROME2", ' '))...)
	ds = append(ds, secElem(0x0028, 0x0010, "US", secUS(uint16(rows)))...)
	ds = append(ds, secElem(0x0028, 0x0011, "US", secUS(uint16(cols)))...)
	ds = append(ds, secElem(0x0028, 0x0100, "US", secUS(16))...)
	ds = append(ds, secElem(0x0028, 0x0101, "US", secUS(12))...)
	ds = append(ds, secElem(0x0028, 0x0102, "US", secUS(11))...)
	ds = append(ds, secElem(0x0028, 0x0103, "US", secUS(0))...)
	px := make([]byte, rows*cols*2)
	for i := 0; i < rows*cols; i++ {
		binary.LittleEndian.PutUint16(px[2*i:], uint16(i*37%4096))
	}
	ds = append(ds, secElem(0x7FE0, 0x0010, "OW", px)...)

	var meta []byte
	meta = append(meta, secElem(0x0002, 0x0001, "OB", []byte{0, 1})...)
	meta = append(meta, secElem(0x0002, 0x0002, "UI", secStr(ct, 0))...)
	meta = append(meta, secElem(0x0002, 0x0003, "UI", secStr(sop, 0))...)
	meta = append(meta, secElem(0x0002, 0x0010, "UI", secStr("1.2.840.10008.1.2.1", 0))...)
	out := make([]byte, 128, 256+len(meta)+len(ds))
	out = append(out, "DICM"...)
	out = append(out, secElem(0x0002, 0x0000, "UL", binary.LittleEndian.AppendUint32(nil, uint32(len(meta))))...)
	out = append(out, meta...)
	out = append(out, ds...)
	return &secInst{study: study, series: series, sop: sop, patID: patID, patName: patName, data: out}
}

// secStudy makes a study of one series with n instances of a patient;
// tag makes its UIDs unique within the run.
func secStudy(tag string, n int, patID, patName string) []*secInst {
	root := secUIDRoot() + "." + tag
	var out []*secInst
	for i := 1; i <= n; i++ {
		out = append(out, newSecInst(root+".1", root+".2", fmt.Sprintf("%s.3.%d", root, i), patID, patName, 4, 4))
	}
	return out
}

func secMultipart(insts ...*secInst) (body []byte, ct string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, in := range insts {
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", "application/dicom")
		w, _ := mw.CreatePart(h)
		w.Write(in.data)
	}
	mw.Close()
	return buf.Bytes(), `multipart/related; type="application/dicom"; boundary=` + mw.Boundary()
}

// secStow stores insts with the Authorization value authz.
func (s *secServer) secStow(authz string, insts ...*secInst) (*response, error) {
	body, ct := secMultipart(insts...)
	return s.secDo(http.MethodPost, "/dicomweb/studies", secHdr("Authorization", authz, "Content-Type", ct, "Accept", acceptJSON), body)
}

func (s *secServer) mustStow(t *testing.T, authz string, insts ...*secInst) {
	t.Helper()
	r, err := s.secStow(authz, insts...)
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusOK {
		t.Fatalf("STOW of %d instances: %s", len(insts), r)
	}
}

// qidoUIDs returns the values of tag in a QIDO JSON answer.
func qidoUIDs(t *testing.T, r *response, tag string) []string {
	t.Helper()
	if r.status == http.StatusNoContent || len(bytes.TrimSpace(r.body)) == 0 {
		return nil
	}
	var list []map[string]jsonAttr
	if err := json.Unmarshal(r.body, &list); err != nil {
		t.Fatalf("QIDO answer is not a JSON array: %v: %s", err, r)
	}
	var out []string
	for _, o := range list {
		out = append(out, o[tag].str(0))
	}
	return out
}

// secBulkURI returns the path of the pixel data's BulkDataURI of in.
func secBulkURI(t *testing.T, s *secServer, authz string, in *secInst) string {
	t.Helper()
	r := s.must(t, "GET", in.path()+"/metadata", secHdr("Authorization", authz, "Accept", acceptJSON), nil)
	var md []map[string]jsonAttr
	if err := json.Unmarshal(r.body, &md); err != nil || len(md) != 1 {
		t.Fatalf("metadata of %s: %v: %s", in.sop, err, r)
	}
	uri := md[0]["7FE00010"].BulkDataURI
	i := strings.Index(uri, "/dicomweb/")
	if i < 0 {
		t.Fatalf("pixel data BulkDataURI %q: no /dicomweb/ in it", uri)
	}
	return uri[i:]
}

// =====================================================================
// 1. Auth matrix
// =====================================================================

// secCred is one way of presenting (or not) a credential.
type secCred struct {
	name string
	// authz is the Authorization header value ("" for none); query is
	// added to the URL.
	authz, query string
	// roles held when the credential is valid; nil: the credential is
	// refused (401). "auth" marks an authenticated principal with no role.
	roles []string
	// wantErr is the error= of the Bearer challenge on 401 ("" for none).
	wantErr string
}

func (c *secCred) valid() bool { return c.roles != nil }

func (c *secCred) has(role string) bool {
	for _, r := range c.roles {
		if r == role || r == "admin" && (role == "reader" || role == "writer") {
			return true
		}
	}
	return false
}

// secRoute is one route of the matrix.
type secRoute struct {
	name, method string
	// role: "public", "auth" (no route: any authenticated principal),
	// "reader", "writer", "admin".
	role string
	// path gives the request path for the credential (DELETE cases get a
	// study of their own).
	path   func(c *secCred) string
	accept string
	// body gives the request body and Content-Type.
	body    func(c *secCred) ([]byte, string)
	success int
}

func TestSecurityAuthMatrix(t *testing.T) {
	t.Parallel()
	is := newSecIssuer(t)
	k := secKeys()
	dir := t.TempDir()

	modTok, modLine := secMakeToken(t, "modality", "writer")
	adminTok, adminLine := secMakeToken(t, "script", "admin")
	readTok, readLine := secMakeToken(t, "viewer", "reader")
	tokens := secWriteFile(t, dir, "tokens", modLine, adminLine, readLine)
	users := secWriteFile(t, dir, "users", secMakeBasic(t, "alice", "alice-password-1", "reader"))
	s := startSecServer(t, filepath.Join(dir, "data"), nil,
		"--api-tokens", tokens, "--basic-users", users,
		"--oidc-issuer", is.URL, "--oidc-audience", secAudience)

	// A study to read; a study of its own for every DELETE that must work.
	const patName, patID = "Matrixname^Secret", "PMATRIX"
	seed := secStudy("1", 1, patID, patName)[0]
	s.mustStow(t, bearer(adminTok), seed)

	pubPEM := func() []byte {
		der, _ := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}()
	expired := is.claims("exp-user", "admin")
	expired["iat"], expired["exp"] = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-time.Hour).Unix()
	notYet := is.claims("nbf-user", "admin")
	notYet["nbf"], notYet["exp"] = time.Now().Add(time.Hour).Unix(), time.Now().Add(2*time.Hour).Unix()
	wrongIss := is.claims("iss-user", "admin")
	wrongIss["iss"] = "http://127.0.0.1:1/other"
	wrongAud := is.claims("aud-user", "admin")
	wrongAud["aud"] = "someone-else"
	oidcAdmin := secJWT(t, "RS256", "rsa1", k.rsa, is.claims("oidc-admin", "admin"))

	creds := []*secCred{
		{name: "none"},
		{name: "garbage", authz: "Bearer garbage", wantErr: "invalid_token"},
		{name: "unknown-api-token", authz: bearer("mpt_" + strings.Repeat("A", 43)), wantErr: "invalid_token"},
		{name: "basic-wrong-password", authz: basicAuth("alice", "wrong-password")},
		{name: "expired", authz: bearer(secJWT(t, "RS256", "rsa1", k.rsa, expired)), wantErr: "invalid_token"},
		{name: "not-yet-valid", authz: bearer(secJWT(t, "RS256", "rsa1", k.rsa, notYet)), wantErr: "invalid_token"},
		{name: "wrong-issuer", authz: bearer(secJWT(t, "RS256", "rsa1", k.rsa, wrongIss)), wantErr: "invalid_token"},
		{name: "wrong-audience", authz: bearer(secJWT(t, "RS256", "rsa1", k.rsa, wrongAud)), wantErr: "invalid_token"},
		{name: "bad-signature", authz: bearer(secJWT(t, "RS256", "rsa1", k.rsa2, is.claims("sig-user", "admin"))), wantErr: "invalid_token"},
		{name: "alg-none", authz: bearer(secJWT(t, "none", "rsa1", nil, is.claims("none-user", "admin"))), wantErr: "invalid_token"},
		{name: "hs256-rsa-public-key", authz: bearer(secJWT(t, "HS256", "rsa1", pubPEM, is.claims("hs-user", "admin"))), wantErr: "invalid_token"},
		{name: "token-in-query", query: "access_token=" + oidcAdmin, wantErr: "invalid_request"},
		{name: "api-token-in-query", query: "access_token=" + adminTok, wantErr: "invalid_request"},

		{name: "oidc-admin-rs256", authz: bearer(oidcAdmin), roles: []string{"admin"}},
		{name: "oidc-reader-es256", authz: bearer(secJWT(t, "ES256", "ec1", k.ec, is.claims("oidc-reader", "reader"))), roles: []string{"reader"}},
		{name: "oidc-writer", authz: bearer(secJWT(t, "RS256", "rsa1", k.rsa, is.claims("oidc-writer", "writer"))), roles: []string{"writer"}},
		{name: "oidc-no-role", authz: bearer(secJWT(t, "RS256", "rsa1", k.rsa, is.claims("oidc-nobody", "unrelated"))), roles: []string{"auth"}},
		{name: "api-writer", authz: bearer(modTok), roles: []string{"writer"}},
		{name: "api-reader", authz: bearer(readTok), roles: []string{"reader"}},
		{name: "api-admin", authz: bearer(adminTok), roles: []string{"admin"}},
		{name: "basic-reader", authz: basicAuth("alice", "alice-password-1"), roles: []string{"reader"}},
	}

	// Studies for the DELETEs that succeed: one per (level, credential).
	victims := map[string]*secInst{}
	var victimList []*secInst
	for _, level := range []string{"study", "series", "instance"} {
		for i, c := range creds {
			if c.has("admin") {
				in := secStudy(fmt.Sprintf("9%d%d", len(level), i), 1, "PVICTIM", "Victim^Name")[0]
				victims[level+"/"+c.name] = in
				victimList = append(victimList, in)
			}
		}
	}
	s.mustStow(t, bearer(adminTok), victimList...)

	st := "/dicomweb/studies/" + seed.study
	se := st + "/series/" + seed.series
	in := se + "/instances/" + seed.sop
	bulk := secBulkURI(t, s, bearer(adminTok), seed)
	fixed := func(p string) func(*secCred) string { return func(*secCred) string { return p } }
	var stowN int
	var stowMu sync.Mutex
	stowBody := func(*secCred) ([]byte, string) {
		stowMu.Lock()
		stowN++
		n := stowN
		stowMu.Unlock()
		return secMultipart(secStudy(fmt.Sprintf("5.%d", n), 1, "PSTOW", "Stow^Name")[0])
	}
	del := func(level string) func(*secCred) string {
		return func(c *secCred) string {
			v := victims[level+"/"+c.name]
			if v == nil {
				v = seed // refused before the handler: the seed survives
			}
			p := "/dicomweb/studies/" + v.study
			if level != "study" {
				p += "/series/" + v.series
			}
			if level == "instance" {
				p += "/instances/" + v.sop
			}
			return p
		}
	}
	routes := []secRoute{
		{name: "healthz", method: "GET", role: "public", path: fixed("/healthz"), success: 200},
		{name: "readyz", method: "GET", role: "public", path: fixed("/readyz"), success: 200},
		{name: "web", method: "GET", role: "public", path: fixed("/web/"), success: 200},
		{name: "web-zip", method: "GET", role: "reader", path: fixed("/web/studies/" + seed.study + "/zip"), success: 200},
		{name: "no-such-route", method: "GET", role: "auth", path: fixed("/dicomweb/no-such-route"), success: 404},
		{name: "stow", method: "POST", role: "writer", path: fixed("/dicomweb/studies"), body: stowBody, accept: acceptJSON, success: 200},
		{name: "qido-studies", method: "GET", role: "reader", path: fixed("/dicomweb/studies?PatientID=" + patID), accept: acceptJSON, success: 200},
		{name: "qido-series", method: "GET", role: "reader", path: fixed("/dicomweb/series?PatientID=" + patID), accept: acceptJSON, success: 200},
		{name: "qido-instances", method: "GET", role: "reader", path: fixed("/dicomweb/instances?PatientID=" + patID), accept: acceptJSON, success: 200},
		{name: "qido-study-series", method: "GET", role: "reader", path: fixed(st + "/series"), accept: acceptJSON, success: 200},
		{name: "qido-study-instances", method: "GET", role: "reader", path: fixed(st + "/instances"), accept: acceptJSON, success: 200},
		{name: "qido-series-instances", method: "GET", role: "reader", path: fixed(se + "/instances"), accept: acceptJSON, success: 200},
		{name: "wado-study", method: "GET", role: "reader", path: fixed(st), accept: acceptDICOM, success: 200},
		{name: "wado-series", method: "GET", role: "reader", path: fixed(se), accept: acceptDICOM, success: 200},
		{name: "wado-instance", method: "GET", role: "reader", path: fixed(in), accept: acceptDICOM, success: 200},
		{name: "metadata-study", method: "GET", role: "reader", path: fixed(st + "/metadata"), accept: acceptJSON, success: 200},
		{name: "metadata-series", method: "GET", role: "reader", path: fixed(se + "/metadata"), accept: acceptJSON, success: 200},
		{name: "metadata-instance", method: "GET", role: "reader", path: fixed(in + "/metadata"), accept: acceptJSON, success: 200},
		{name: "frames", method: "GET", role: "reader", path: fixed(in + "/frames/1"), accept: acceptFrames, success: 200},
		{name: "bulkdata", method: "GET", role: "reader", path: fixed(bulk), accept: acceptBulk, success: 200},
		{name: "rendered-study", method: "GET", role: "reader", path: fixed(st + "/rendered"), accept: "image/png", success: 200},
		{name: "rendered-series", method: "GET", role: "reader", path: fixed(se + "/rendered"), accept: "image/png", success: 200},
		{name: "rendered-instance", method: "GET", role: "reader", path: fixed(in + "/rendered"), accept: "image/png", success: 200},
		{name: "rendered-frame", method: "GET", role: "reader", path: fixed(in + "/frames/1/rendered"), accept: "image/png", success: 200},
		{name: "thumbnail-study", method: "GET", role: "reader", path: fixed(st + "/thumbnail"), accept: "image/png", success: 200},
		{name: "thumbnail-series", method: "GET", role: "reader", path: fixed(se + "/thumbnail"), accept: "image/png", success: 200},
		{name: "thumbnail-instance", method: "GET", role: "reader", path: fixed(in + "/thumbnail"), accept: "image/png", success: 200},
		{name: "thumbnail-frame", method: "GET", role: "reader", path: fixed(in + "/frames/1/thumbnail"), accept: "image/png", success: 200},
		{name: "delete-study", method: "DELETE", role: "admin", path: del("study"), success: 204},
		{name: "delete-series", method: "DELETE", role: "admin", path: del("series"), success: 204},
		{name: "delete-instance", method: "DELETE", role: "admin", path: del("instance"), success: 204},
		{name: "metrics", method: "GET", role: "admin", path: fixed("/metrics"), success: 200},
		{name: "backup", method: "POST", role: "admin", path: fixed("/admin/backup"), success: 200},
	}

	type result struct {
		route *secRoute
		cred  *secCred
		want  int
		r     *response
		err   error
	}
	var cases []*result
	for i := range routes {
		rt := &routes[i]
		for _, c := range creds {
			want := rt.success
			switch {
			case rt.role == "public":
			case !c.valid():
				want = http.StatusUnauthorized
			case rt.role == "auth":
			case !c.has(rt.role):
				want = http.StatusForbidden
			}
			cases = append(cases, &result{route: rt, cred: c, want: want})
		}
	}
	work := make(chan *result)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for tc := range work {
				p := tc.route.path(tc.cred)
				if tc.cred.query != "" {
					sep := "?"
					if strings.Contains(p, "?") {
						sep = "&"
					}
					p += sep + tc.cred.query
				}
				h := secHdr("Authorization", tc.cred.authz, "Accept", tc.route.accept)
				var body []byte
				if tc.route.body != nil {
					var ct string
					body, ct = tc.route.body(tc.cred)
					h.Set("Content-Type", ct)
				}
				tc.r, tc.err = s.secDo(tc.route.method, p, h, body)
			}
		}()
	}
	for _, tc := range cases {
		work <- tc
	}
	close(work)
	wg.Wait()

	counts := map[int]int{}
	for _, tc := range cases {
		name := tc.route.name + "/" + tc.cred.name
		if tc.err != nil {
			t.Errorf("%s: %v", name, tc.err)
			continue
		}
		r := tc.r
		counts[r.status]++
		if r.status != tc.want {
			t.Errorf("%s: status %d, want %d: %s", name, r.status, tc.want, r)
			continue
		}
		if r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no X-Content-Type-Options: nosniff", name)
		}
		if r.header.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS over plain HTTP", name)
		}
		switch r.status {
		case http.StatusUnauthorized, http.StatusForbidden:
			for _, leak := range []string{patName, "Matrixname", patID, seed.study, "Victim"} {
				if bytes.Contains(r.body, []byte(leak)) {
					t.Errorf("%s: %d body leaks %q: %q", name, r.status, leak, r.body)
				}
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("%s: %d with Content-Type %q, want text/plain", name, r.status, ct)
			}
		}
		if r.status == http.StatusUnauthorized {
			ch := strings.Join(r.header.Values("WWW-Authenticate"), ", ")
			if !strings.Contains(ch, `Bearer realm="minipacs"`) || !strings.Contains(ch, `Basic realm="minipacs"`) {
				t.Errorf("%s: 401 WWW-Authenticate %q, want Bearer and Basic challenges", name, ch)
			}
			if tc.cred.wantErr != "" && !strings.Contains(ch, `error="`+tc.cred.wantErr+`"`) {
				t.Errorf("%s: 401 WWW-Authenticate %q, want error=%q", name, ch, tc.cred.wantErr)
			}
		}
		if r.status == http.StatusForbidden && strings.HasPrefix(tc.cred.authz, "Bearer ") {
			if ch := r.header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="insufficient_scope"`) {
				t.Errorf("%s: 403 WWW-Authenticate %q, want insufficient_scope", name, ch)
			}
		}
	}
	// The DELETEs that succeeded removed their study; the refused ones did
	// not touch the seed.
	r := s.must(t, "GET", "/dicomweb/studies?StudyInstanceUID="+seed.study, secHdr("Authorization", bearer(readTok), "Accept", acceptJSON), nil)
	if got := qidoUIDs(t, r, "0020000D"); len(got) != 1 {
		t.Errorf("seed study after the matrix: %v, want it intact", got)
	}
	for key, v := range victims {
		r := s.must(t, "GET", v.path()+"/metadata", secHdr("Authorization", bearer(readTok), "Accept", acceptJSON), nil)
		if r.status != http.StatusNotFound {
			t.Errorf("victim of %s: metadata after DELETE %d, want 404", key, r.status)
		}
	}
	t.Logf("auth matrix: %d routes × %d credentials = %d cases; statuses %v", len(routes), len(creds), len(cases), counts)
}

// =====================================================================
// 2. Per-patient restriction
// =====================================================================

func TestSecurityPatientRestriction(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	adminTok, adminLine := secMakeToken(t, "all", "admin")
	rTok, rLine := secMakeToken(t, "restricted", "reader", "--patients", "PA")
	rdTok, rdLine := secMakeToken(t, "restricted-admin", "admin", "--patients", "PA")
	tokens := secWriteFile(t, dir, "tokens", adminLine, rLine, rdLine)
	s := startSecServer(t, filepath.Join(dir, "data"), nil, "--api-tokens", tokens)

	// 12 studies of 2 instances, patients PA and PB interleaved.
	var all []*secInst
	var studies [][]*secInst
	for i := 0; i < 12; i++ {
		pid, name := "PA", "Alpha^Patient"
		if i%2 == 1 {
			pid, name = "PB", "Beta^Patient"
		}
		st := secStudy(fmt.Sprintf("2.%d", i), 2, pid, name)
		studies = append(studies, st)
		all = append(all, st...)
	}
	s.mustStow(t, bearer(adminTok), all...)
	wantSet := func(level string, pid string) map[string]bool {
		m := map[string]bool{}
		for _, in := range all {
			if pid != "" && in.patID != pid {
				continue
			}
			m[map[string]string{"studies": in.study, "series": in.series, "instances": in.sop}[level]] = true
		}
		return m
	}
	tagOf := map[string]string{"studies": "0020000D", "series": "0020000E", "instances": "00080018"}
	q := func(tok, path string) *response {
		return s.must(t, "GET", path, secHdr("Authorization", bearer(tok), "Accept", acceptJSON), nil)
	}

	cases := 0
	for _, level := range []string{"studies", "series", "instances"} {
		for _, who := range []struct{ name, tok, pid string }{{"restricted", rTok, "PA"}, {"unrestricted", adminTok, ""}} {
			want := wantSet(level, who.pid)
			// One page with everything, then pages of 4 (full but the last).
			r := q(who.tok, "/dicomweb/"+level)
			cases++
			got := qidoUIDs(t, r, tagOf[level])
			if !sameSet(got, want) {
				t.Errorf("%s QIDO /%s: %d results %v, want the %d of %v", who.name, level, len(got), got, len(want), keysOf(want))
			}
			seen := map[string]bool{}
			for off := 0; off < len(want)+4; off += 4 {
				r := q(who.tok, fmt.Sprintf("/dicomweb/%s?limit=4&offset=%d", level, off))
				cases++
				page := qidoUIDs(t, r, tagOf[level])
				wantN := min(4, max(0, len(want)-off))
				if len(page) != wantN {
					t.Errorf("%s QIDO /%s limit=4 offset=%d: %d results, want %d (a full page)", who.name, level, off, len(page), wantN)
				}
				for _, u := range page {
					if !want[u] || seen[u] {
						t.Errorf("%s QIDO /%s offset=%d: %s not allowed or repeated", who.name, level, off, u)
					}
					seen[u] = true
				}
			}
			if len(seen) != len(want) {
				t.Errorf("%s QIDO /%s paged: %d distinct results, want %d", who.name, level, len(seen), len(want))
			}
		}
	}
	// A search naming the other patient finds nothing.
	r := q(rTok, "/dicomweb/studies?PatientID=PB")
	cases++
	if got := qidoUIDs(t, r, "0020000D"); len(got) != 0 || r.status >= 300 {
		t.Errorf("restricted QIDO PatientID=PB: %d %v, want no result", r.status, got)
	}

	// Every study-level path of the other patient is 404, of the allowed
	// patient 200; the web ZIP download too.
	own, other := studies[0][0], studies[1][0]
	paths := func(in *secInst) map[string][2]string {
		st := "/dicomweb/studies/" + in.study
		se := st + "/series/" + in.series
		return map[string][2]string{
			"qido-study-series":    {st + "/series", acceptJSON},
			"qido-study-instances": {st + "/instances", acceptJSON},
			"qido-series-inst":     {se + "/instances", acceptJSON},
			"wado-study":           {st, acceptDICOM},
			"wado-series":          {se, acceptDICOM},
			"wado-instance":        {in.path(), acceptDICOM},
			"metadata-study":       {st + "/metadata", acceptJSON},
			"metadata-instance":    {in.path() + "/metadata", acceptJSON},
			"frames":               {in.path() + "/frames/1", acceptFrames},
			"rendered":             {in.path() + "/rendered", "image/png"},
			"thumbnail-study":      {st + "/thumbnail", "image/png"},
			"web-zip":              {"/web/studies/" + in.study + "/zip", ""},
		}
	}
	for _, tok := range []string{rTok, rdTok} {
		for name, p := range paths(other) {
			r := s.must(t, "GET", p[0], secHdr("Authorization", bearer(tok), "Accept", p[1]), nil)
			cases++
			if r.status != http.StatusNotFound {
				t.Errorf("restricted %s of the other patient's study: %d, want 404: %s", name, r.status, r)
			}
			if bytes.Contains(r.body, []byte("Beta")) {
				t.Errorf("restricted %s of the other patient's study: body names the patient", name)
			}
		}
		for name, p := range paths(own) {
			r := s.must(t, "GET", p[0], secHdr("Authorization", bearer(tok), "Accept", p[1]), nil)
			cases++
			if r.status != http.StatusOK {
				t.Errorf("restricted %s of the allowed study: %d, want 200: %s", name, r.status, r)
			}
		}
	}
	// DELETE: the other patient's study, series and instance are 404 and
	// survive; the allowed patient's study can be deleted.
	for _, p := range []string{"/dicomweb/studies/" + other.study, "/dicomweb/studies/" + other.study + "/series/" + other.series, other.path()} {
		r := s.must(t, "DELETE", p, secHdr("Authorization", bearer(rdTok)), nil)
		cases++
		if r.status != http.StatusNotFound {
			t.Errorf("restricted DELETE %s: %d, want 404", p, r.status)
		}
	}
	if r := s.must(t, "GET", other.path()+"/metadata", secHdr("Authorization", bearer(adminTok), "Accept", acceptJSON), nil); r.status != http.StatusOK {
		t.Errorf("the other patient's instance after refused DELETEs: %d, want 200", r.status)
	}
	r = s.must(t, "DELETE", "/dicomweb/studies/"+own.study, secHdr("Authorization", bearer(rdTok)), nil)
	cases++
	if r.status != http.StatusNoContent {
		t.Errorf("restricted DELETE of the allowed study: %d, want 204", r.status)
	}
	t.Logf("patient restriction: %d requests checked", cases)
}

func sameSet(got []string, want map[string]bool) bool {
	if len(got) != len(want) {
		return false
	}
	for _, g := range got {
		if !want[g] {
			return false
		}
	}
	return true
}

func keysOf(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// =====================================================================
// 3. Audit trail
// =====================================================================

// auditLine is one line of the audit log (dicomweb/security/audit/doc.go).
type auditLine struct {
	Seq    uint64 `json:"seq"`
	Record struct {
		EventID struct {
			Code string `json:"code"`
		} `json:"eventID"`
		Action        string `json:"eventActionCode"`
		Outcome       int    `json:"eventOutcomeIndicator"`
		EventTypeCode []struct {
			Code string `json:"code"`
		} `json:"eventTypeCode"`
		Participants []struct {
			UserID    string `json:"userID"`
			Requestor bool   `json:"userIsRequestor"`
		} `json:"activeParticipant"`
		Objects []struct {
			IDType struct {
				Code string `json:"code"`
			} `json:"participantObjectIDTypeCode"`
			ID   string `json:"participantObjectID"`
			Name string `json:"participantObjectName"`
		} `json:"participantObjectIdentification"`
	} `json:"record"`
}

// key is what the test matches: event, action, outcome, requesting user,
// studies.
func (l *auditLine) key() string {
	user := ""
	for _, p := range l.Record.Participants {
		if p.Requestor {
			user = p.UserID
		}
	}
	var studies []string
	for _, o := range l.Record.Objects {
		if o.IDType.Code == "110180" {
			studies = append(studies, o.ID)
		}
	}
	sort.Strings(studies)
	return auditKey(l.Record.EventID.Code, l.Record.Action, l.Record.Outcome, user, studies...)
}

func auditKey(code, action string, outcome int, user string, studies ...string) string {
	return fmt.Sprintf("%s %s %d user=%s studies=%s", code, action, outcome, user, strings.Join(studies, ","))
}

func readAuditLog(t *testing.T, path string) ([]auditLine, []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	lines := make([]auditLine, len(raw))
	for i, l := range raw {
		if err := json.Unmarshal([]byte(l), &lines[i]); err != nil {
			t.Fatalf("audit log line %d is not JSON: %v", i+1, err)
		}
	}
	return lines, raw
}

func TestSecurityAudit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	modTok, modLine := secMakeToken(t, "modality", "writer")
	viewTok, viewLine := secMakeToken(t, "viewer", "reader")
	bossTok, bossLine := secMakeToken(t, "boss", "admin")
	tokens := secWriteFile(t, dir, "tokens", modLine, viewLine, bossLine)
	s := startSecServer(t, data, nil, "--api-tokens", tokens)

	const nStudies, nDeleted = 100, 20
	insts := make([]*secInst, nStudies)
	for i := range insts {
		insts[i] = secStudy(fmt.Sprintf("3.%d", i), 1, fmt.Sprintf("PAUD%03d", i), fmt.Sprintf("Zqauditname^Person%03d", i))[0]
	}
	type req struct {
		method, path, authz, accept string
		body                        []byte
		ct                          string
		status                      int
		key                         string
	}
	var mu sync.Mutex
	run := func(reqs []req) {
		t.Helper()
		work := make(chan int)
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					rq := reqs[i]
					r, err := s.secDo(rq.method, rq.path, secHdr("Authorization", rq.authz, "Accept", rq.accept, "Content-Type", rq.ct), rq.body)
					mu.Lock()
					switch {
					case err != nil:
						t.Errorf("%s %s: %v", rq.method, rq.path, err)
					case r.status != rq.status:
						t.Errorf("%s %s: %d, want %d: %s", rq.method, rq.path, r.status, rq.status, r)
					}
					mu.Unlock()
				}
			}()
		}
		for i := range reqs {
			work <- i
		}
		close(work)
		wg.Wait()
	}
	var want []string
	total := 0
	// Phase 1: every study stored (110104 C).
	var phase []req
	for _, in := range insts {
		body, ct := secMultipart(in)
		phase = append(phase, req{method: "POST", path: "/dicomweb/studies", authz: bearer(modTok), accept: acceptJSON, body: body, ct: ct,
			status: 200, key: auditKey("110104", "C", 0, "modality", in.study)})
	}
	run(phase)
	for _, rq := range phase {
		want = append(want, rq.key)
	}
	total += len(phase)
	// Phase 2: reads, queries, refusals on the studies that stay.
	phase = nil
	for _, in := range insts[:nStudies-nDeleted] {
		st := "/dicomweb/studies/" + in.study
		add := func(method, path, authz, accept string, status int, key string) {
			phase = append(phase, req{method: method, path: path, authz: authz, accept: accept, status: status, key: key})
		}
		add("GET", "/dicomweb/studies?PatientID="+in.patID, bearer(viewTok), acceptJSON, 200, auditKey("110112", "E", 0, "viewer"))
		add("GET", st+"/series", bearer(viewTok), acceptJSON, 200, auditKey("110112", "E", 0, "viewer", in.study))
		add("GET", st, bearer(viewTok), acceptDICOM, 200, auditKey("110104", "R", 0, "viewer", in.study))
		add("GET", st+"/metadata", bearer(viewTok), acceptJSON, 200, auditKey("110103", "R", 0, "viewer", in.study))
		add("GET", in.path()+"/frames/1", bearer(viewTok), acceptFrames, 200, auditKey("110103", "R", 0, "viewer", in.study))
		add("GET", in.path()+"/rendered", bearer(viewTok), "image/png", 200, auditKey("110103", "R", 0, "viewer", in.study))
		add("GET", st+"/thumbnail", bearer(viewTok), "image/png", 200, auditKey("110103", "R", 0, "viewer", in.study))
		add("GET", st+"/metadata", "", acceptJSON, 401, auditKey("110114", "E", 4, "anonymous"))
		add("GET", st, "Bearer mpt_not-a-real-token", acceptDICOM, 401, auditKey("110114", "E", 4, "anonymous"))
		add("DELETE", st, bearer(viewTok), "", 403, auditKey("110113", "E", 4, "viewer"))
		add("GET", st+"/metadata", bearer(modTok), acceptJSON, 403, auditKey("110113", "E", 4, "modality"))
	}
	run(phase)
	for _, rq := range phase {
		want = append(want, rq.key)
	}
	total += len(phase)
	// Phase 3: deletions (110105).
	phase = nil
	for _, in := range insts[nStudies-nDeleted:] {
		phase = append(phase, req{method: "DELETE", path: "/dicomweb/studies/" + in.study, authz: bearer(bossTok), status: 204,
			key: auditKey("110105", "D", 0, "boss", in.study)})
	}
	run(phase)
	for _, rq := range phase {
		want = append(want, rq.key)
	}
	total += len(phase)
	if total != 1000 {
		t.Fatalf("the test made %d requests, want 1000", total)
	}
	if code, _ := s.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("minipacs exit status %d", code)
	}

	logPath := filepath.Join(data, "audit", "audit.log")
	lines, raw := readAuditLog(t, logPath)
	if len(lines) != total+2 {
		t.Errorf("audit log: %d records, want %d requests + start + stop", len(lines), total+2)
	}
	var got []string
	var start, stop int
	for i := range lines {
		l := &lines[i]
		if l.Seq != uint64(i+1) {
			t.Errorf("audit line %d: seq %d", i+1, l.Seq)
		}
		if l.Record.EventID.Code == "110100" {
			if len(l.Record.EventTypeCode) == 1 && l.Record.EventTypeCode[0].Code == "110120" && i == 0 {
				start++
			} else if len(l.Record.EventTypeCode) == 1 && l.Record.EventTypeCode[0].Code == "110121" && i == len(lines)-1 {
				stop++
			} else {
				t.Errorf("audit line %d: unexpected application activity %+v", i+1, l.Record)
			}
			continue
		}
		got = append(got, l.key())
	}
	if start != 1 || stop != 1 {
		t.Errorf("application start/stop records: %d/%d, want first and last line", start, stop)
	}
	sort.Strings(want)
	sort.Strings(got)
	if d := lineDiff(strings.Join(want, "\n"), strings.Join(got, "\n")); d != "" {
		t.Errorf("audit records differ from the requests (- wanted, + found):\n%s", d)
	}
	byEvent := map[string]int{}
	for _, l := range lines {
		byEvent[l.Record.EventID.Code]++
	}
	t.Logf("audit: %d requests, %d records by event %v", total, len(lines), byEvent)

	// Patient names: in the audit trail, never in the ordinary log.
	logText := s.stderr.String()
	auditText, _ := os.ReadFile(logPath)
	if !bytes.Contains(auditText, []byte("Zqauditname")) {
		t.Errorf("the audit log does not name the patients")
	}
	if i := strings.Index(logText, "Zqauditname"); i >= 0 {
		t.Errorf("the server log names a patient: %q", logText[max(0, i-200):min(len(logText), i+100)])
	}
	for _, in := range insts[:3] {
		if strings.Contains(logText, in.patID) {
			t.Errorf("the server log names patient ID %s", in.patID)
		}
	}

	// The chain verifies; one flipped byte in a middle record is named.
	verify := func() (int, string) {
		out, err := exec.Command(binPath, "audit", "verify", logPath).CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return exitCode(err), string(out)
	}
	code, out := verify()
	if code != 0 || !strings.Contains(out, fmt.Sprintf("ok: %d records", len(lines))) {
		t.Fatalf("audit verify of the intact log: exit %d: %s", code, out)
	}
	mid := len(raw) / 2 // 0-based: line mid+1
	line := raw[mid]
	j := strings.Index(line, `"eventDateTime":"`) + len(`"eventDateTime":"`) + 3 // a digit of the year
	if j < len(`"eventDateTime":"`)+3 {
		t.Fatalf("no eventDateTime in line %d", mid+1)
	}
	off := int64(0)
	for _, l := range raw[:mid] {
		off += int64(len(l)) + 1
	}
	f, err := os.OpenFile(logPath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := []byte{line[j] ^ 0x01} // '2'<->'3', '0'<->'1': still a digit
	if _, err := f.WriteAt(b, off+int64(j)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	code, out = verify()
	wantName := fmt.Sprintf("line %d (seq %d)", mid+1, lines[mid].Seq)
	if code == 0 || !strings.Contains(out, wantName) {
		t.Errorf("audit verify after flipping a byte of line %d: exit %d, want non-zero naming %q: %s", mid+1, code, wantName, out)
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// =====================================================================
// 4. Path-escape payloads in UIDs
// =====================================================================

// secSnapshot lists the files under root (relative path → size), skipping
// what cannot be read.
func secSnapshot(root string, skip func(rel string) bool) map[string]int64 {
	out := map[string]int64{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if skip != nil && skip(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if info, err := d.Info(); err == nil && !d.IsDir() {
			out[rel] = info.Size()
		}
		return nil
	})
	return out
}

func TestSecurityPathEscape(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	s := startSecServer(t, data, nil) // loopback, no auth: anonymous admin
	seed := secStudy("4", 1, "PESC", "Escape^Name")[0]
	s.mustStow(t, "", seed)
	bulk := secBulkURI(t, s, "", seed)

	marker := "mpxesc" + randHex(4)
	payloads := []struct{ name, seg string }{
		{"dotdot-encoded-slash", "..%2f..%2f" + marker},
		{"dotdot-encoded-slash-upper", "..%2F..%2F..%2Ftmp%2F" + marker},
		{"encoded-dots-raw-slash", "%2e%2e/%2e%2e/" + marker},
		{"encoded-dots", "%2e%2e"},
		{"dotdot", ".."},
		{"nul", "1.2.3%00" + marker},
		{"nul-only", "%00"},
		{"overlong-dot", "%c0%ae%c0%ae%c0%af" + marker},
		{"overlong-dot-2", "%e0%80%ae%e0%80%ae%2f" + marker},
		{"backslash-encoded", "..%5c..%5c" + marker},
		{"backslash-raw", `..\..\` + marker},
		{"uid-65-chars", "1." + strings.Repeat("2", 63)},
		{"uid-letters", "1.2.abc"},
		{"absolute", "%2ftmp%2f" + marker},
		{"space", "1.2%203"},
		{"percent-garbage", "1.2%zz"},
	}
	st, se, in := seed.study, seed.series, seed.sop
	type pos struct {
		name, method string
		path         func(p string) string
		accept       string
	}
	positions := []pos{
		{"study-wado", "GET", func(p string) string { return "/dicomweb/studies/" + p }, acceptDICOM},
		{"study-metadata", "GET", func(p string) string { return "/dicomweb/studies/" + p + "/metadata" }, acceptJSON},
		{"study-stow", "POST", func(p string) string { return "/dicomweb/studies/" + p }, acceptJSON},
		{"study-delete", "DELETE", func(p string) string { return "/dicomweb/studies/" + p }, ""},
		{"study-qido", "GET", func(p string) string { return "/dicomweb/studies/" + p + "/series" }, acceptJSON},
		{"series-wado", "GET", func(p string) string { return "/dicomweb/studies/" + st + "/series/" + p }, acceptDICOM},
		{"series-delete", "DELETE", func(p string) string { return "/dicomweb/studies/" + st + "/series/" + p }, ""},
		{"instance-wado", "GET", func(p string) string { return "/dicomweb/studies/" + st + "/series/" + se + "/instances/" + p }, acceptDICOM},
		{"instance-metadata", "GET", func(p string) string {
			return "/dicomweb/studies/" + st + "/series/" + se + "/instances/" + p + "/metadata"
		}, acceptJSON},
		{"instance-delete", "DELETE", func(p string) string { return "/dicomweb/studies/" + st + "/series/" + se + "/instances/" + p }, ""},
		{"frames", "GET", func(p string) string { return seed.path() + "/frames/" + p }, acceptFrames},
		{"frames-rendered", "GET", func(p string) string { return seed.path() + "/frames/" + p + "/rendered" }, "image/png"},
		{"bulkdata", "GET", func(p string) string { return seed.path() + "/bulkdata/" + p }, acceptBulk},
		{"web-zip", "GET", func(p string) string { return "/web/studies/" + p + "/zip" }, ""},
	}
	_ = in

	skipLive := func(rel string) bool { return rel == "audit" || rel == "index.db" }
	before := secSnapshot(data, skipLive)
	parentBefore := secSnapshot(dir, func(rel string) bool { return rel == "data" })

	body, ct := secMultipart(seed)
	counts := map[int]int{}
	n := 0
	for _, p := range positions {
		for _, pl := range payloads {
			path := p.path(pl.seg)
			raw := p.method + " " + path + " HTTP/1.1\r\nHost: " + s.addr + "\r\nConnection: close\r\n"
			if p.accept != "" {
				raw += "Accept: " + p.accept + "\r\n"
			}
			var b []byte
			if p.method == "POST" {
				raw += "Content-Type: " + ct + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n"
				b = body
			}
			resp, rb, err := secRaw(s.addr, append([]byte(raw+"\r\n"), b...), 10*time.Second)
			n++
			if err != nil {
				t.Errorf("%s/%s: %v", p.name, pl.name, err)
				continue
			}
			counts[resp.StatusCode]++
			// 400 from the UID check; 404 where the router decides (a
			// raw '/' splits the segment) and for bulk data, whose path
			// is only looked up in the instance's list of bulk values.
			want := http.StatusBadRequest
			if pl.name == "encoded-dots-raw-slash" || p.name == "bulkdata" && pl.name != "percent-garbage" {
				want = http.StatusNotFound
			}
			if resp.StatusCode != want {
				t.Errorf("%s/%s %s %s: %d, want %d: %q", p.name, pl.name, p.method, path, resp.StatusCode, want, rb)
			}
			if bytes.Contains(rb, []byte(marker)) {
				t.Errorf("%s/%s: the error echoes the input: %q", p.name, pl.name, rb)
			}
		}
	}
	// The seed is intact and nothing was created, in the data directory,
	// beside it, or anywhere under the temporary directory.
	if r := s.must(t, "GET", seed.path()+"/metadata", secHdr("Accept", acceptJSON), nil); r.status != 200 {
		t.Errorf("seed after the payloads: %d", r.status)
	}
	if r := s.must(t, "GET", bulk, secHdr("Accept", acceptBulk), nil); r.status != 200 {
		t.Errorf("seed bulk data after the payloads: %d", r.status)
	}
	after := secSnapshot(data, skipLive)
	if d := lineDiff(fmtSnap(before), fmtSnap(after)); d != "" {
		t.Errorf("the data directory changed:\n%s", d)
	}
	if d := lineDiff(fmtSnap(parentBefore), fmtSnap(secSnapshot(dir, func(rel string) bool { return rel == "data" }))); d != "" {
		t.Errorf("files appeared beside the data directory:\n%s", d)
	}
	// A traversal lands in the test directory (walked in full) or in one of
	// the data directory's ancestors, /tmp and / (their entries are
	// checked; walking all of /tmp would take seconds).
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), marker) {
			t.Errorf("a payload created %s", p)
		}
		return nil
	})
	for a := dir; ; a = filepath.Dir(a) {
		for _, root := range []string{a, os.TempDir(), "/tmp"} {
			ents, _ := os.ReadDir(root)
			for _, e := range ents {
				if strings.Contains(e.Name(), marker) {
					t.Errorf("a payload created %s", filepath.Join(root, e.Name()))
				}
			}
		}
		if a == filepath.Dir(a) {
			break
		}
	}
	t.Logf("path escape: %d positions × %d payloads = %d requests; statuses %v", len(positions), len(payloads), n, counts)
}

func fmtSnap(m map[string]int64) string {
	var l []string
	for k, v := range m {
		l = append(l, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(l)
	return strings.Join(l, "\n")
}

// =====================================================================
// 5. TLS and the exposure rule
// =====================================================================

// secCert writes a self-signed certificate for 127.0.0.1 with the given
// serial to certFile/keyFile and returns it.
func secCert(t *testing.T, serial int64, certFile, keyFile string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "minipacs-e2e"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	// Write the key first and rename, so a reload never sees half a pair.
	for _, f := range []struct {
		path string
		blk  *pem.Block
	}{{keyFile, &pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}}, {certFile, &pem.Block{Type: "CERTIFICATE", Bytes: der}}} {
		tmp := f.path + ".tmp"
		if err := os.WriteFile(tmp, pem.EncodeToMemory(f.blk), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, f.path); err != nil {
			t.Fatal(err)
		}
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func TestSecurityTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	c1 := secCert(t, 1001, certFile, keyFile)
	pool := x509.NewCertPool()
	pool.AddCert(c1)
	s := startSecServer(t, filepath.Join(dir, "data"), pool, "--tls-cert", certFile, "--tls-key", keyFile)

	// handshake connects with versions [lo, hi] and returns the peer
	// certificate's serial, or an error.
	handshake := func(lo, hi uint16, roots *x509.CertPool) (*tls.ConnectionState, error) {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", s.addr,
			&tls.Config{MinVersion: lo, MaxVersion: hi, RootCAs: roots, InsecureSkipVerify: roots == nil, ServerName: "127.0.0.1"})
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		st := conn.ConnectionState()
		return &st, nil
	}
	for _, v := range []struct {
		name string
		ver  uint16
		ok   bool
	}{{"TLS 1.0", tls.VersionTLS10, false}, {"TLS 1.1", tls.VersionTLS11, false}, {"TLS 1.2", tls.VersionTLS12, true}, {"TLS 1.3", tls.VersionTLS13, true}} {
		st, err := handshake(v.ver, v.ver, pool)
		switch {
		case v.ok && err != nil:
			t.Errorf("%s refused: %v", v.name, err)
		case v.ok && st.Version != v.ver:
			t.Errorf("%s: negotiated %x", v.name, st.Version)
		case !v.ok && err == nil:
			t.Errorf("%s accepted", v.name)
		case !v.ok && !strings.Contains(err.Error(), "protocol version"):
			// The server must be the one refusing, with a protocol_version alert.
			t.Errorf("%s: error %v, want the server's protocol version alert", v.name, err)
		}
	}
	r := s.must(t, "GET", "/healthz", nil, nil)
	if h := r.header.Get("Strict-Transport-Security"); !strings.HasPrefix(h, "max-age=31536000") {
		t.Errorf("HSTS header %q, want max-age=31536000...", h)
	}
	if r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("no nosniff over HTTPS")
	}

	// SIGHUP reloads a renewed certificate for new connections.
	c2 := secCert(t, 2002, certFile, keyFile)
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := handshake(tls.VersionTLS12, tls.VersionTLS13, nil)
		if err == nil && st.PeerCertificates[0].SerialNumber.Cmp(c2.SerialNumber) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the served certificate did not change after SIGHUP (err %v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case <-s.exited:
		t.Fatalf("minipacs exited on SIGHUP")
	default:
	}
}

// TestSecurityExposure: a non-loopback listener needs authentication and
// TLS, or --insecure-behind-proxy.
func TestSecurityExposure(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, line := secMakeToken(t, "x", "reader")
	tokens := secWriteFile(t, dir, "tokens", line)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	secCert(t, 7, certFile, keyFile)
	port := func() string { _, p, _ := net.SplitHostPort(freeAddr(t)); return p }

	refused := []struct {
		name, listen, missing string
		args                  []string
	}{
		{"all-interfaces-no-auth-no-tls", "0.0.0.0:" + port(), "authentication and TLS are", nil},
		{"empty-host", ":" + port(), "authentication and TLS are", nil},
		{"auth-without-tls", "0.0.0.0:" + port(), "TLS is", []string{"--api-tokens", tokens}},
		{"tls-without-auth", "0.0.0.0:" + port(), "authentication is", []string{"--tls-cert", certFile, "--tls-key", keyFile}},
	}
	for _, c := range refused {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		args := append([]string{"serve", "--listen", c.listen, "--data", filepath.Join(dir, "d-"+c.name), "--dimse-listen=", "--hl7-listen="}, c.args...)
		out, err := exec.CommandContext(ctx, binPath, args...).CombinedOutput()
		cancel()
		if exitCode(err) <= 0 {
			t.Errorf("%s: exit %v, want a refusal", c.name, err)
			continue
		}
		for _, want := range []string{"refusing to listen on " + c.listen, c.missing + " not configured", "--insecure-behind-proxy"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("%s: message does not say %q:\n%s", c.name, want, out)
			}
		}
	}
	// Allowed: behind a proxy, and with both authentication and TLS.
	for _, c := range []struct {
		name string
		tls  bool
		args []string
	}{
		{"insecure-behind-proxy", false, []string{"--insecure-behind-proxy"}},
		{"auth-and-tls", true, []string{"--api-tokens", tokens, "--tls-cert", certFile, "--tls-key", keyFile}},
	} {
		p := port()
		cmd := exec.Command(binPath, append([]string{"serve", "--listen", "0.0.0.0:" + p, "--data", filepath.Join(dir, "d-"+c.name), "--dimse-listen=", "--hl7-listen="}, c.args...)...)
		var out exectest.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		client := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		url := "http://127.0.0.1:" + p + "/healthz"
		if c.tls {
			url = "https://127.0.0.1:" + p + "/healthz"
		}
		ok := false
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline) && !ok; time.Sleep(30 * time.Millisecond) {
			if resp, err := client.Get(url); err == nil {
				resp.Body.Close()
				ok = resp.StatusCode == 200
			}
		}
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if !ok {
			t.Errorf("%s: did not start on 0.0.0.0:\n%s", c.name, out.String())
		}
	}
}

// =====================================================================
// 6. Hard limits
// =====================================================================

func TestSecurityLimits(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tok, line := secMakeToken(t, "admin", "admin")
	tokens := secWriteFile(t, dir, "tokens", line)
	s := startSecServer(t, filepath.Join(dir, "data"), nil, "--api-tokens", tokens,
		"--max-request-bytes", "1048576", "--max-parts", "5", "--max-part-bytes", "65536",
		"--max-header-bytes", "4096", "--read-header-timeout", "1s", "--qido-max-limit", "3")
	authz := bearer(tok)
	var seeds []*secInst
	for i := 0; i < 5; i++ {
		seeds = append(seeds, secStudy(fmt.Sprintf("6.%d", i), 1, "PLIM", "Limit^Name")[0])
	}
	s.mustStow(t, authz, seeds...) // 5 parts: at the limit

	t.Run("413-from-content-length", func(t *testing.T) {
		// A huge declared length and a tiny body: the answer must come
		// at once, without waiting for (or reading) the body.
		raw := "POST /dicomweb/studies HTTP/1.1\r\nHost: " + s.addr + "\r\nAuthorization: " + authz +
			"\r\nAccept: application/dicom+json\r\nContent-Type: multipart/related; type=\"application/dicom\"; boundary=b" +
			"\r\nContent-Length: 1000000000000\r\n\r\n--b\r\n"
		start := time.Now()
		resp, body, err := secRaw(s.addr, []byte(raw), 5*time.Second)
		if err != nil {
			t.Fatalf("no answer to a huge Content-Length: %v", err)
		}
		if resp.StatusCode != http.StatusRequestEntityTooLarge || time.Since(start) > 2*time.Second {
			t.Errorf("huge Content-Length: %d after %v, want an immediate 413: %q", resp.StatusCode, time.Since(start), body)
		}
	})
	t.Run("413-streamed-body", func(t *testing.T) {
		// No Content-Length (chunked): the body is cut at the limit.
		big := newSecInst(secUIDRoot()+".6.9.1", secUIDRoot()+".6.9.2", secUIDRoot()+".6.9.3", "PLIM", "Limit^Name", 256, 256) // 128 KiB
		var parts []*secInst
		for i := 0; i < 10; i++ {
			parts = append(parts, big)
		}
		body, ct := secMultipart(parts...)
		req, _ := http.NewRequest("POST", s.base+"/dicomweb/studies", io.MultiReader(bytes.NewReader(body)))
		req.Header.Set("Authorization", authz)
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Accept", acceptJSON)
		req.ContentLength = -1
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("1.3 MB chunked body over a 1 MiB limit: %d, want 413", resp.StatusCode)
		}
	})
	t.Run("max-parts", func(t *testing.T) {
		var parts []*secInst
		for i := 0; i < 6; i++ {
			parts = append(parts, secStudy(fmt.Sprintf("6.5%d", i), 1, "PLIM", "Limit^Name")[0])
		}
		r, err := s.secStow(authz, parts...)
		if err != nil {
			t.Fatal(err)
		}
		if r.status != http.StatusRequestEntityTooLarge {
			t.Errorf("6 parts over --max-parts 5: %s, want 413", r)
		}
	})
	t.Run("max-part-bytes", func(t *testing.T) {
		big := newSecInst(secUIDRoot()+".6.8.1", secUIDRoot()+".6.8.2", secUIDRoot()+".6.8.3", "PLIM", "Limit^Name", 200, 200) // 80 KB
		small := secStudy("6.77", 1, "PLIM", "Limit^Name")[0]
		body, ct := secMultipart(big, small)
		r := s.must(t, "POST", "/dicomweb/studies", secHdr("Authorization", authz, "Content-Type", ct, "Accept", acceptJSON), body)
		res, err := parseStow(r.body)
		if err != nil {
			t.Fatalf("STOW answer: %v: %s", err, r)
		}
		if r.status != http.StatusAccepted || len(res.failed) != 1 || res.failed[0].failure != 0xA700 || len(res.referenced) != 1 {
			t.Errorf("an 80 KB part over --max-part-bytes 65536 beside a small one: %s, want 202 with the big part failed 0xA700 (out of resources)", r)
		}
	})
	t.Run("max-header-bytes", func(t *testing.T) {
		r := s.must(t, "GET", "/healthz", secHdr("X-Pad", strings.Repeat("a", 2000)), nil)
		if r.status != 200 {
			t.Errorf("a 2 KB header under the limit: %d", r.status)
		}
		// net/http allows 4096 bytes of slack beyond MaxHeaderBytes.
		raw := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("a", 16<<10) + "\r\n\r\n"
		resp, _, err := secRaw(s.addr, []byte(raw), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("a 16 KiB header over --max-header-bytes 4096: %d, want 431", resp.StatusCode)
		}
	})
	t.Run("slowloris", func(t *testing.T) {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		closed := make(chan time.Duration, 1)
		go func() {
			buf := make([]byte, 512)
			for {
				if _, err := c.Read(buf); err != nil {
					closed <- time.Since(start)
					return
				}
			}
		}()
		c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n"))
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case d := <-closed:
				if d < 900*time.Millisecond || d > 3*time.Second {
					t.Errorf("slow header client cut off after %v, want about the 1s --read-header-timeout", d)
				}
				return
			case <-tick.C:
				c.Write([]byte(fmt.Sprintf("X-Slow-%d: a\r\n", i))) // never finishes the headers
			case <-time.After(5 * time.Second):
				t.Fatalf("a client sending headers slowly was not cut off within 5s")
			}
		}
	})
	t.Run("content-encoding", func(t *testing.T) {
		body, ct := secMultipart(secStudy("6.66", 1, "PLIM", "Limit^Name")[0])
		for _, enc := range []string{"gzip", "deflate", "br"} {
			r := s.must(t, "POST", "/dicomweb/studies", secHdr("Authorization", authz, "Content-Type", ct, "Accept", acceptJSON, "Content-Encoding", enc), body)
			if r.status != http.StatusUnsupportedMediaType || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
				t.Errorf("Content-Encoding: %s: %s, want 415 text/plain", enc, r)
			}
		}
	})
	t.Run("qido-max-limit", func(t *testing.T) {
		r := s.must(t, "GET", "/dicomweb/studies?PatientID=PLIM&limit=100", secHdr("Authorization", authz, "Accept", acceptJSON), nil)
		got := qidoUIDs(t, r, "0020000D")
		warn := strings.Join(r.header.Values("Warning"), "; ")
		if r.status != 200 || len(got) != 3 || !strings.HasPrefix(warn, "299 ") {
			t.Errorf("limit=100 over --qido-max-limit 3: %d, %d results, Warning %q; want 3 results and a 299 Warning", r.status, len(got), warn)
		}
		r = s.must(t, "GET", "/dicomweb/studies?PatientID=PLIM&limit=2", secHdr("Authorization", authz, "Accept", acceptJSON), nil)
		if got := qidoUIDs(t, r, "0020000D"); len(got) != 2 {
			t.Errorf("limit=2: %d results", len(got))
		}
	})
}

// ecPoint is the uncompressed encoding 0x04 || X || Y of a P-256 public key.
func ecPoint(k *ecdsa.PrivateKey) []byte {
	b, _ := k.PublicKey.Bytes()
	return b
}
