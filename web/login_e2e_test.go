package web_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb/testkit/exectest"
	"github.com/minipacs/minipacs/dicomweb/testkit/oidctest"
	"github.com/minipacs/minipacs/dicomweb/testkit/testcorpus"
)

// TestBrowserSignIn starts the real binary with browser sign-in against
// a loopback OIDC issuer (oidctest) and runs web/e2e/login.test.js in
// headless Chromium: /web/ sends the browser through the issuer's login
// form and back, the study list shows, OHIF draws the CT series with the
// session cookie, a DELETE without the CSRF header gets 403, upload and
// delete through the page work, sign-out ends the session, and a reader
// restricted to one patient (restrict claim) sees only that patient's
// study. Missing node, npm or Chromium skip it, except under CI.
func TestBrowserSignIn(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no browser")
	}
	node := exectest.LookTool(t, "node")
	chromium := exectest.LookTool(t, "chromium")
	e2eDir, _ := filepath.Abs("e2e")
	if _, err := os.ReadFile(filepath.Join(e2eDir, "login.test.js")); err != nil { // for go test's cache
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e2eDir, "node_modules", "playwright-core", "package.json")); err != nil {
		npm := exectest.LookTool(t, "npm")
		exectest.RunLogged(t, 5*time.Minute, e2eDir, nil, npm, "ci", "--no-audit", "--no-fund")
	}
	viewerDir, _ := filepath.Abs(filepath.Join("viewer", "dist"))
	noOHIF := ""
	if _, err := os.Stat(filepath.Join(viewerDir, "index.html")); err != nil {
		noOHIF = "1"
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "minipacs")
	ctDir := filepath.Join(tmp, "ct")
	var wg sync.WaitGroup
	var buildErr, genErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		buildErr = runQuiet("..", "go", "build", "-o", bin, "./cmd/minipacs")
	}()
	go func() {
		defer wg.Done()
		genErr = runQuiet("..", "go", "run", "./cmd/gencorpus", "-mode", "ct", "-studies", "1",
			"-series-per-study", "1", "-instances-per-series", "20", "-out", ctDir)
	}()
	wg.Wait()
	if buildErr != nil || genErr != nil {
		t.Fatalf("build: %v; gencorpus: %v", buildErr, genErr)
	}
	ct := readManifest(t, ctDir)
	if len(ct) != 20 {
		t.Fatalf("gencorpus wrote %d files", len(ct))
	}

	const clientID = "minipacs-browser"
	issuer, err := oidctest.Start(oidctest.Config{
		ClientID: clientID, Audience: "minipacs",
		Users: map[string]oidctest.User{
			"admin": {Subject: "u-admin", Claims: map[string]any{"roles": []string{"reader", "writer", "admin"}}},
			// A reader restricted to the CT patient.
			"reader1": {Subject: "u-reader1", Claims: map[string]any{"roles": []string{"reader"}, "patients": []string{ct[0].patientID}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(issuer.Close)
	base := startMinipacs(t, bin, filepath.Join(tmp, "data"), "--viewer-dir", viewerDir,
		"--oidc-issuer", issuer.URL, "--oidc-audience", "minipacs", "--oidc-client-id", clientID,
		"--restrict-claim", "patients", "--session-max-age", "1h")

	// Load the CT series and another patient's study with an admin's
	// bearer token.
	admin := issuer.AccessToken("admin")
	files := []string{filepath.Join(testcorpus.DirT(t), "test_files", "CT_small.dcm")}
	for _, r := range ct {
		files = append(files, filepath.Join(ctDir, r.path))
	}
	stowFilesAs(t, base+"/dicomweb/studies", admin, files)
	other := otherStudy(t, base, admin, ct[0].study)

	env := append(os.Environ(),
		"MINIPACS_URL="+base,
		"MINIPACS_ISSUER="+issuer.URL,
		"CHROMIUM="+chromium,
		"MINIPACS_CT_STUDY="+ct[0].study,
		"MINIPACS_OTHER_STUDY="+other,
		"MINIPACS_UPLOAD_FILE="+filepath.Join(testcorpus.DirT(t), "test_files", "MR_small.dcm"),
		"MINIPACS_TMP="+tmp,
		"NO_COLOR=1",
	)
	if noOHIF != "" {
		env = append(env, "MINIPACS_NO_OHIF=1")
	}
	exectest.RunLogged(t, 4*time.Minute, e2eDir, env, node, "--test", "--test-reporter=spec", "--test-concurrency=1", "--test-timeout=180000", "login.test.js")
	if n := issuer.Exchanges.Load(); n < 3 {
		t.Errorf("%d code exchanges at the issuer, want at least 3 (two users and a sign-in after sign-out)", n)
	}
	if issuer.EndSession.Load() == 0 {
		t.Error("sign-out did not reach the issuer's end_session endpoint")
	}
}

// otherStudy is the UID of a study other than the CT one.
func otherStudy(t *testing.T, base, token, ct string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/dicomweb/studies", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/dicom+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var studies []map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&studies); err != nil {
		t.Fatalf("QIDO: %d %v", resp.StatusCode, err)
	}
	for _, s := range studies {
		var uid struct{ Value []string }
		json.Unmarshal(s["0020000D"], &uid)
		if len(uid.Value) == 1 && uid.Value[0] != ct {
			return uid.Value[0]
		}
	}
	t.Fatalf("no other study among %d", len(studies))
	return ""
}
