package main_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/dicomweb/testkit/exectest"
	"github.com/minipacs/minipacs/dicomweb/testkit/testcorpus"
)

// TestE2EDIMSE: `minipacs serve --dimse-listen` answers DCMTK's echoscu,
// stores what storescu sends over one association (a JPEG baseline
// object kept compressed, an uncompressed one), and serves it over
// WADO-RS in its transfer syntax, the pixel data as sent.
func TestE2EDIMSE(t *testing.T) {
	echoscu, storescu := exectest.LookTool(t, "echoscu"), exectest.LookTool(t, "storescu")
	dimseAddr := freeAddr(t)
	s := startServerDir(t, t.TempDir(), []string{"--dimse-listen", dimseAddr, "--dimse-aet", "PACS"}, nil)
	host, port, _ := net.SplitHostPort(dimseAddr)
	run := func(name string, args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run(echoscu, "-aec", "PACS", host, port)
	dir := filepath.Join(testcorpus.DirT(t), "test_files")
	files := []string{filepath.Join(dir, "SC_rgb_jpeg_dcmtk.dcm"), filepath.Join(dir, "CT_small.dcm")}
	// -xy proposes JPEG baseline and the uncompressed syntaxes.
	out := run(storescu, append([]string{"-v", "-xy", "-aec", "PACS", host, port}, files...)...)
	if n := strings.Count(out, "Received Store Response (Success)"); n != len(files) {
		t.Fatalf("%d successes, want %d:\n%s", n, len(files), out)
	}
	var want []string // audit keys
	for _, f := range files {
		orig, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		of, err := part10.Parse(context.Background(), bytes.NewReader(orig), int64(len(orig)), part10.DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		uid := func(ds *part10.DataSet, tag part10.Tag) string { return strings.TrimRight(ds.String(tag), "\x00 ") }
		want = append(want, auditKey("110104", "C", 0, "STORESCU", uid(of.DataSet, part10.TagStudyInstanceUID)))
		r := get(t, s.url("/studies/"+uid(of.DataSet, part10.TagStudyInstanceUID)+"/series/"+uid(of.DataSet, part10.TagSeriesInstanceUID)+
			"/instances/"+uid(of.DataSet, part10.TagSOPInstanceUID)), acceptDICOM)
		if !expectStatus(t, f, r, 200) {
			continue
		}
		parts := readMultipart(t, r, "application/dicom")
		if len(parts) != 1 {
			t.Fatalf("%s: %d parts", f, len(parts))
		}
		got := parts[0].data
		gf, err := part10.Parse(context.Background(), bytes.NewReader(got), int64(len(got)), part10.DefaultLimits())
		if err != nil {
			t.Fatalf("%s: retrieved: %v", f, err)
		}
		if gf.TransferSyntax.UID != of.TransferSyntax.UID {
			t.Errorf("%s: retrieved in %s, sent in %s", filepath.Base(f), gf.TransferSyntax.UID, of.TransferSyntax.UID)
		}
		// The pixel data (the fragments, for JPEG) is as sent.
		if a, b := pixelBytes(t, gf, got), pixelBytes(t, of, orig); !bytes.Equal(a, b) {
			t.Errorf("%s: pixel data differs (%d bytes retrieved, %d sent)", filepath.Base(f), len(a), len(b))
		}
	}
	// The audit trail names the calling AE titles: each C-STORE (110104,
	// durable before its response) and each association (110114 Login and
	// Logout, written just after).
	want = append(want, auditKey("110114", "E", 0, "ECHOSCU"), auditKey("110114", "E", 0, "STORESCU"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		lines, _ := readAuditLog(t, filepath.Join(s.dataDir, "audit", "audit.log"))
		seen := map[string]int{}
		for i := range lines {
			seen[lines[i].key()]++
		}
		var missing []string
		for _, k := range want {
			if seen[k] == 0 {
				missing = append(missing, k)
			}
		}
		// STORESCU's association: a login and a logout record.
		if n := seen[auditKey("110114", "E", 0, "STORESCU")]; n < 2 {
			missing = append(missing, fmt.Sprintf("the logout of STORESCU (%d records)", n))
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit trail lacks %q; has %v", missing, seen)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pixelBytes is the value of the Pixel Data of f (whose bytes are b): from
// its first fragment to the end of its last for encapsulated data.
func pixelBytes(t *testing.T, f *part10.File, b []byte) []byte {
	t.Helper()
	e := f.DataSet.Find(part10.TagPixelData)
	if e == nil {
		t.Fatal("no pixel data")
	}
	if n := len(e.Fragments); n > 0 {
		last := e.Fragments[n-1]
		return b[e.Fragments[0].Offset : last.Offset+last.Length]
	}
	return b[e.Offset : e.Offset+int64(e.Length)]
}
