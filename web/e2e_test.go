package web_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minipacs/minipacs/cmd/gencorpus/dcmwriter"
	"github.com/minipacs/minipacs/dicomweb/testkit/exectest"
	"github.com/minipacs/minipacs/dicomweb/testkit/testcorpus"
)

// TestBrowserEndToEnd starts the real minipacs binary with real data (a
// 200-instance CT series from cmd/gencorpus, files of the shared corpus
// and one whose names are HTML) and runs web/e2e (node --test) against
// it: the study browser and OHIF in headless Chromium, driven by
// playwright-core. Missing node, npm or Chromium skip the test, except
// under CI, where they fail it.
func TestBrowserEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no browser")
	}
	node := exectest.LookTool(t, "node")
	chromium := exectest.LookTool(t, "chromium")
	e2eDir, _ := filepath.Abs("e2e")
	// Read the scripts so that go test's cache sees their changes.
	scripts, _ := filepath.Glob(filepath.Join(e2eDir, "*.js"))
	for _, p := range append(scripts, filepath.Join(e2eDir, "package-lock.json")) {
		if _, err := os.ReadFile(p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(e2eDir, "node_modules", "playwright-core", "package.json")); err != nil {
		npm := exectest.LookTool(t, "npm")
		exectest.RunLogged(t, 5*time.Minute, e2eDir, nil, npm, "ci", "--no-audit", "--no-fund")
	}
	viewerDir, _ := filepath.Abs(filepath.Join("viewer", "dist"))
	if _, err := os.Stat(filepath.Join(viewerDir, "index.html")); err != nil {
		exectest.LookTool(t, "npm")
		exectest.RunLogged(t, 5*time.Minute, "viewer", nil, "./install.sh")
	}
	tmp := t.TempDir()

	// Build the server and the CT series in parallel.
	bin := filepath.Join(tmp, "minipacs")
	ctDir := filepath.Join(tmp, "ct")
	tinyDir := filepath.Join(tmp, "tiny")
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
			"-series-per-study", "1", "-instances-per-series", "200", "-out", ctDir)
		if genErr == nil { // 30 one-instance studies: more than a page of results
			genErr = runQuiet("..", "go", "run", "./cmd/gencorpus", "-mode", "tiny", "-n", "30", "-seed", "7", "-out", tinyDir)
		}
	}()
	wg.Wait()
	if buildErr != nil || genErr != nil {
		t.Fatalf("build: %v; gencorpus: %v", buildErr, genErr)
	}
	hl7Ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hl7Addr := hl7Ln.Addr().String()
	hl7Ln.Close()
	base := startMinipacs(t, bin, filepath.Join(tmp, "data"), "--viewer-dir", viewerDir,
		"--cors-origins", allowedOrigin+",http://localhost:3000", "--hl7-listen", hl7Addr)

	// Load the archive over STOW-RS.
	ct := readManifest(t, ctDir)
	if len(ct) != 200 {
		t.Fatalf("gencorpus wrote %d files", len(ct))
	}
	var files []string
	for _, r := range ct {
		files = append(files, filepath.Join(ctDir, r.path))
	}
	for _, r := range readManifest(t, tinyDir) {
		files = append(files, filepath.Join(tinyDir, r.path))
	}
	corpus := testcorpus.DirT(t)
	files = append(files, filepath.Join(corpus, "test_files", "CT_small.dcm"))
	xss := filepath.Join(tmp, "xss.dcm")
	writeHTMLNamedFile(t, xss)
	files = append(files, xss)
	for i := 0; i < len(files); i += 50 {
		stowFiles(t, base+"/dicomweb/studies", files[i:min(i+50, len(files))])
	}

	t.Run("cors", func(t *testing.T) { checkCORS(t, base) })

	// The file that the browser uploads, and one that is not DICOM.
	notDICOM := filepath.Join(tmp, "notes.txt")
	os.WriteFile(notDICOM, []byte("not a DICOM file"), 0o644)

	report := filepath.Join(tmp, "report.json")
	env := append(os.Environ(),
		"MINIPACS_URL="+base,
		"CHROMIUM="+chromium,
		"MINIPACS_CT_STUDY="+ct[0].study,
		"MINIPACS_CT_SERIES="+ct[0].series,
		"MINIPACS_CT_PATIENT_ID="+ct[0].patientID,
		"MINIPACS_HL7="+hl7Addr,
		"MINIPACS_UPLOAD_FILE="+filepath.Join(corpus, "test_files", "MR_small.dcm"),
		"MINIPACS_UPLOAD_JUNK="+notDICOM,
		"MINIPACS_REPORT="+report,
		"MINIPACS_TMP="+tmp,
		"NO_COLOR=1",
	)
	exectest.RunLogged(t, 4*time.Minute, e2eDir, env, node, "--test", "--test-reporter=spec", "--test-concurrency=1", "--test-timeout=180000", "browser.test.js")
	if b, err := os.ReadFile(report); err == nil {
		t.Logf("browser report: %s", b)
	}
}

const allowedOrigin = "https://viewer.example.org"

// checkCORS sends preflight and actual requests from an allowed and a
// refused origin to the running server.
func checkCORS(t *testing.T, base string) {
	tests := []struct {
		name, method, origin, allow string
		status                      int
	}{
		{"preflight allowed", http.MethodOptions, allowedOrigin, allowedOrigin, http.StatusNoContent},
		{"preflight refused", http.MethodOptions, "https://evil.example.org", "", http.StatusNoContent},
		{"get allowed", http.MethodGet, allowedOrigin, allowedOrigin, http.StatusOK},
		{"get refused", http.MethodGet, "https://evil.example.org", "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, base+"/dicomweb/studies?limit=1", nil)
			req.Header.Set("Origin", tt.origin)
			if tt.method == http.MethodOptions {
				req.Header.Set("Access-Control-Request-Method", "GET")
				req.Header.Set("Access-Control-Request-Headers", "accept,authorization")
			} else {
				req.Header.Set("Accept", "application/dicom+json")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			h := resp.Header
			if resp.StatusCode != tt.status || h.Get("Access-Control-Allow-Origin") != tt.allow {
				t.Errorf("%d, Allow-Origin %q; want %d, %q", resp.StatusCode, h.Get("Access-Control-Allow-Origin"), tt.status, tt.allow)
			}
			if tt.allow != "" && h.Get("Access-Control-Allow-Credentials") != "true" {
				t.Error("no Allow-Credentials for a listed origin")
			}
			if tt.allow != "" && tt.method == http.MethodOptions && !strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") {
				t.Errorf("Allow-Headers %q", h.Get("Access-Control-Allow-Headers"))
			}
			if tt.allow != "" && tt.method == http.MethodGet && !strings.Contains(h.Get("Access-Control-Expose-Headers"), "Warning") {
				t.Errorf("Expose-Headers %q", h.Get("Access-Control-Expose-Headers"))
			}
		})
	}
}

// htmlName is the patient name of writeHTMLNamedFile: it must show as
// text in the browser.
const htmlName = "<script>alert(1)</script>"

// writeHTMLNamedFile writes a small secondary-capture image whose patient
// name and study description are HTML.
func writeHTMLNamedFile(t *testing.T, path string) {
	t.Helper()
	T := dcmwriter.T
	const sop = "1.2.826.0.1.3680043.8.498.77.3"
	ds := dcmwriter.NewDataset(dcmwriter.ASCII)
	ds.UID(T(0x0008, 0x0016), "1.2.840.10008.5.1.4.1.1.7")
	ds.UID(T(0x0008, 0x0018), sop)
	ds.Strings(T(0x0008, 0x0020), "DA", "20240102")
	ds.Strings(T(0x0008, 0x0060), "CS", "OT")
	ds.Strings(T(0x0008, 0x1030), "LO", `<img src=x onerror=alert(2)>`)
	ds.Strings(T(0x0010, 0x0010), "PN", htmlName)
	ds.Strings(T(0x0010, 0x0020), "LO", "XSS-1")
	ds.UID(T(0x0020, 0x000D), "1.2.826.0.1.3680043.8.498.77.1")
	ds.UID(T(0x0020, 0x000E), "1.2.826.0.1.3680043.8.498.77.2")
	ds.US(T(0x0028, 0x0002), 1)
	ds.Strings(T(0x0028, 0x0004), "CS", "MONOCHROME2")
	ds.US(T(0x0028, 0x0010), 8)
	ds.US(T(0x0028, 0x0011), 8)
	ds.US(T(0x0028, 0x0100), 8)
	ds.US(T(0x0028, 0x0101), 8)
	ds.US(T(0x0028, 0x0102), 7)
	ds.US(T(0x0028, 0x0103), 0)
	pix := make([]byte, 64)
	for i := range pix {
		pix[i] = byte(i * 4)
	}
	ds.Binary(T(0x7FE0, 0x0010), "OB", pix)
	var buf bytes.Buffer
	err := dcmwriter.WriteFile(&buf, dcmwriter.FileMeta{
		MediaStorageSOPClassUID: "1.2.840.10008.5.1.4.1.1.7", MediaStorageSOPInstanceUID: sop,
		ImplementationClassUID: "1.2.826.0.1.3680043.8.498.1",
	}, ds)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

type manifestRow struct{ path, study, series, sop, patientID string }

func readManifest(t *testing.T, dir string) []manifestRow {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "manifest.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []manifestRow
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		c := strings.Split(sc.Text(), "\t")
		if len(c) < 5 || c[0] == "path" {
			continue
		}
		out = append(out, manifestRow{path: c[0], study: c[1], series: c[2], sop: c[3], patientID: c[4]})
	}
	return out
}

// stowFiles posts files in one multipart/related request, streamed.
func stowFiles(t *testing.T, url string, files []string) {
	t.Helper()
	stowFilesAs(t, url, "", files)
}

// stowFilesAs is stowFiles with a bearer token ("" for none).
func stowFilesAs(t *testing.T, url, token string, files []string) {
	t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		for _, p := range files {
			h := textproto.MIMEHeader{}
			h.Set("Content-Type", "application/dicom")
			w, _ := mw.CreatePart(h)
			f, err := os.Open(p)
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			_, err = io.Copy(w, f)
			f.Close()
			if err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(mw.Close())
	}()
	req, _ := http.NewRequest(http.MethodPost, url, pr)
	req.Header.Set("Content-Type", `multipart/related; type="application/dicom"; boundary=`+mw.Boundary())
	req.Header.Set("Accept", "application/dicom+json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("STOW: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("STOW of %d files: %d %s", len(files), resp.StatusCode, b)
	}
}

// startMinipacs runs the binary on a free loopback port until the test ends.
func startMinipacs(t *testing.T, bin, data string, args ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MINIPACS_") {
			env = append(env, kv)
		}
	}
	var logs exectest.Buffer
	cmd := exec.Command(bin, append([]string{"serve", "--listen", addr, "--data", data, "--dimse-listen=", "--hl7-listen="}, args...)...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("minipacs log:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case <-exited:
			t.Fatalf("minipacs exited during start-up:\n%s", logs.String())
		default:
		}
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
	}
	t.Fatalf("minipacs did not start:\n%s", logs.String())
	return ""
}

func runQuiet(dir, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// TestInvokeImageDisplayBrowser starts the real binary with a small CT
// series and runs web/e2e/iid.test.js in headless Chromium: IHE Invoke
// Image Display launch URLs (PATIENT, STUDY) end in OHIF drawing the
// study's pixels; an unknown patient gives 404, a bad request 400. Missing
// node, npm or Chromium skip it, except under CI, where they fail it.
// (TestBrowserEndToEnd runs the same script with the rest.)
func TestInvokeImageDisplayBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no browser")
	}
	node := exectest.LookTool(t, "node")
	chromium := exectest.LookTool(t, "chromium")
	e2eDir, _ := filepath.Abs("e2e")
	if _, err := os.ReadFile(filepath.Join(e2eDir, "iid.test.js")); err != nil { // for go test's cache
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e2eDir, "node_modules", "playwright-core", "package.json")); err != nil {
		npm := exectest.LookTool(t, "npm")
		exectest.RunLogged(t, 5*time.Minute, e2eDir, nil, npm, "ci", "--no-audit", "--no-fund")
	}
	viewerDir, _ := filepath.Abs(filepath.Join("viewer", "dist"))
	if _, err := os.Stat(filepath.Join(viewerDir, "index.html")); err != nil {
		exectest.LookTool(t, "npm")
		exectest.RunLogged(t, 5*time.Minute, "viewer", nil, "./install.sh")
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
	base := startMinipacs(t, bin, filepath.Join(tmp, "data"), "--viewer-dir", viewerDir)
	ct := readManifest(t, ctDir)
	if len(ct) != 20 {
		t.Fatalf("gencorpus wrote %d files", len(ct))
	}
	// Another patient's study beside it, from the shared corpus.
	files := []string{filepath.Join(testcorpus.DirT(t), "test_files", "CT_small.dcm")}
	for _, r := range ct {
		files = append(files, filepath.Join(ctDir, r.path))
	}
	stowFiles(t, base+"/dicomweb/studies", files)

	env := append(os.Environ(),
		"MINIPACS_URL="+base,
		"CHROMIUM="+chromium,
		"MINIPACS_CT_STUDY="+ct[0].study,
		"MINIPACS_CT_PATIENT_ID="+ct[0].patientID,
		"MINIPACS_TMP="+tmp,
		"NO_COLOR=1",
	)
	exectest.RunLogged(t, 4*time.Minute, e2eDir, env, node, "--test", "--test-reporter=spec", "--test-concurrency=1", "--test-timeout=180000", "iid.test.js")
}
