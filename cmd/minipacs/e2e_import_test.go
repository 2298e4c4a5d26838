package main_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/dicomweb/testkit/testcorpus"
)

// runImport runs `minipacs import` and returns its exit code and output.
func runImport(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, binPath, append([]string{"import"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

// TestImportCorpus imports the whole pydicom test_files tree (loose files,
// DICOMDIR trees, broken files, non-DICOM files) into a running server.
func TestImportCorpus(t *testing.T) {
	srv := startServer(t, diskStore)
	dir := filepath.Join(testcorpus.DirT(t), "test_files")
	code, out, errs := runImport(t, context.Background(), "--url", srv.base, "--parallel", "3", "--batch", "5", dir)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (the corpus holds broken files)\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{"skipped", "DICOMDIR", "no DICOM Part-10 header", "FAILED", "MR_truncated.dcm", "found "} {
		if !strings.Contains(out+errs, want) {
			t.Errorf("output lacks %q:\n%s\n%s", want, out, errs)
		}
	}
	if strings.Contains(out, "FAILED") && strings.Contains(out, "CT_small.dcm:") {
		t.Errorf("CT_small.dcm failed:\n%s", out)
	}
	// A second run finds everything stored already present.
	code, out2, _ := runImport(t, context.Background(), "--url", srv.base+"/dicomweb", dir)
	if code != 1 || !strings.Contains(out2, "stored 0,") {
		t.Errorf("second run: exit %d\n%s", code, out2)
	}
}

// TestImportResume interrupts an import with SIGKILL and runs it again:
// the second run sends only what is missing and ends with exit 0.
func TestImportResume(t *testing.T) {
	srv := startServer(t, diskStore)
	dir := t.TempDir()
	base := testcorpus.File(t, "test_files/CT_small.dcm")
	const n = 400
	sop := metaString(base, 0x0003)
	for i := 0; i < n; i++ {
		data := replaceUID(t, base, sop, sameLengthUID(sop, 100000+i))
		sub := filepath.Join(dir, "s"+string(rune('a'+i%5)))
		os.MkdirAll(sub, 0o755)
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%04d.dcm", i)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(binPath, "import", "--url", srv.base, "--parallel", "1", "--batch", "2", dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once part of the study has arrived.
	deadline := time.Now().Add(60 * time.Second)
	study := metaStudy(t, base)
	for {
		r := get(t, srv.url("/studies/"+study+"/instances?limit=1000"), "application/dicom+json")
		if r.status == 200 && bytes.Count(r.body, []byte(`"00080018"`)) >= 40 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("import made no progress")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	code, out, errs := runImport(t, context.Background(), "--url", srv.base, dir)
	if code != 0 {
		t.Fatalf("resumed import: exit %d\n%s\n%s", code, out, errs)
	}
	var stored, present int
	if _, err := fmt.Sscanf(out, "stored %d, already present %d", &stored, &present); err != nil {
		t.Fatalf("summary: %v\n%s", err, out)
	}
	if present < 40 || stored+present != n {
		t.Errorf("stored %d + present %d, want %d with present >= 40", stored, present, n)
	}
	r := get(t, srv.url("/studies/"+study+"/instances?limit=1000"), "application/dicom+json")
	if got := bytes.Count(r.body, []byte(`"00080018"`)); got != n {
		t.Errorf("archive holds %d instances, want %d", got, n)
	}
}

// metaStudy reads the StudyInstanceUID of a Part-10 file.
func metaStudy(t *testing.T, data []byte) string {
	t.Helper()
	f, err := part10.Parse(context.Background(), bytes.NewReader(data), int64(len(data)), part10.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return f.DataSet.String(part10.TagStudyInstanceUID)
}
