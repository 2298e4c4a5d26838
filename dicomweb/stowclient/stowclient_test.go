package stowclient_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/stowclient"
	"github.com/minipacs/minipacs/dicomweb/testkit/dicomwebtest"
	"github.com/minipacs/minipacs/dicomweb/testkit/testcorpus"
)

// archive starts a real DICOMweb server (disk store, bbolt index) on
// loopback.
func archive(t *testing.T) *stowclient.Client {
	t.Helper()
	return &stowclient.Client{Base: dicomwebtest.New(t, dicomwebtest.Options{}).Base}
}

// folder copies some corpus files into a folder tree with a DICOMDIR, a
// text file and an empty file.
func folder(t *testing.T) string {
	dir := t.TempDir()
	for i, name := range []string{"CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "SC_rgb_rle.dcm", "rtplan.dcm", "MR_truncated.dcm"} {
		sub := filepath.Join(dir, "a", string(rune('0'+i%3)))
		os.MkdirAll(sub, 0o755)
		if err := os.WriteFile(filepath.Join(sub, name), testcorpus.File(t, "test_files/"+name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "DICOMDIR"), testcorpus.File(t, "test_files/dicomdirtests/DICOMDIR"), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not dicom"), 0o644)
	os.WriteFile(filepath.Join(dir, "no_meta.dcm"), testcorpus.File(t, "test_files/no_meta.dcm"), 0o644)
	os.WriteFile(filepath.Join(dir, "empty"), nil, 0o644)
	return dir
}

func TestWalk(t *testing.T) {
	sc, err := stowclient.Walk(context.Background(), []string{folder(t)})
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Files) != 6 {
		t.Errorf("%d files to send, want 6", len(sc.Files))
	}
	want := map[string]int{stowclient.SkipDICOMDIR: 1, stowclient.SkipNoPart10: 2, stowclient.SkipEmpty: 1}
	for r, n := range want {
		if len(sc.Skipped[r]) != n {
			t.Errorf("skipped %q: %v, want %d", r, sc.Skipped[r], n)
		}
	}
	for _, f := range sc.Files {
		if !strings.HasSuffix(f.Path, "MR_truncated.dcm") && (f.SOPInstanceUID == "" || f.StudyInstanceUID == "") {
			t.Errorf("%s: UIDs not read", f.Path)
		}
	}
}

func TestImportAndResume(t *testing.T) {
	ctx := context.Background()
	cl := archive(t)
	sc, err := stowclient.Walk(ctx, []string{folder(t)})
	if err != nil {
		t.Fatal(err)
	}
	var last stowclient.Progress
	im := &stowclient.Importer{Client: cl, Parallel: 2, BatchFiles: 2, Resume: true, Progress: func(p stowclient.Progress) { last = p }}
	sum, err := im.Run(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Stored != 5 || len(sum.Failed) != 1 || sum.Present != 0 {
		t.Fatalf("first run: stored %d present %d failed %v", sum.Stored, sum.Present, sum.Failed)
	}
	if f := sum.Failed[0]; !strings.HasSuffix(f.File.Path, "MR_truncated.dcm") || !strings.Contains(f.Reason, "0x") {
		t.Errorf("failure %s: %q", f.File.Path, f.Reason)
	}
	if last.Files != 6 || last.Bytes != sc.Bytes {
		t.Errorf("progress at the end: %+v", last)
	}
	// Run again: everything stored is found present and not sent.
	sum, err = im.Run(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Stored != 0 || sum.Present != 5 || len(sum.Failed) != 1 {
		t.Fatalf("second run: stored %d present %d failed %d", sum.Stored, sum.Present, len(sum.Failed))
	}
	// Without resume everything is sent again and accepted (same content).
	im.Resume = false
	sum, err = im.Run(ctx, sc)
	if err != nil || sum.Stored != 5 {
		t.Fatalf("resend: %v %+v", err, sum)
	}
}

func TestStoredInstancesPaging(t *testing.T) {
	ctx := context.Background()
	cl := archive(t)
	have, err := cl.StoredInstances(ctx, "1.2.3.4")
	if err != nil || len(have) != 0 {
		t.Fatalf("empty study: %v %v", have, err)
	}
	sc, _ := stowclient.Walk(ctx, []string{folder(t)})
	outs, err := cl.Store(ctx, sc.Files)
	if err != nil {
		t.Fatal(err)
	}
	var studies []string
	for _, o := range outs {
		if o.Stored {
			studies = append(studies, o.File.StudyInstanceUID)
		}
	}
	sort.Strings(studies)
	for _, s := range studies {
		have, err := cl.StoredInstances(ctx, s)
		if err != nil || len(have) == 0 {
			t.Errorf("study %s: %v %v", s, have, err)
		}
	}
}

func TestTransportError(t *testing.T) {
	cl := &stowclient.Client{Base: "http://127.0.0.1:1/dicomweb"}
	sc, _ := stowclient.Walk(context.Background(), []string{folder(t)})
	im := &stowclient.Importer{Client: cl}
	sum, err := im.Run(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Failed) != len(sc.Files) {
		t.Fatalf("failed %d of %d", len(sum.Failed), len(sc.Files))
	}
}
