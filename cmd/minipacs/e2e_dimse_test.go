package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/dicomweb/testkit/certtest"
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
	// The C-STORE records name the patient (CT_small.dcm's PatientID).
	if raw, err := os.ReadFile(filepath.Join(s.dataDir, "audit", "audit.log")); err != nil || !bytes.Contains(raw, []byte(`"1CT1"`)) {
		t.Errorf("no audit record names the patient 1CT1 (%v)", err)
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

// dcmtk runs a DCMTK tool (at most a minute) and returns its output and
// error.
func dcmtk(t *testing.T, tool string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, exectest.LookTool(t, tool), args...).CombinedOutput()
	return string(out), err
}

// TestE2EDIMSEQueryRetrieve: through the binary, findscu at study level
// answers the studies that QIDO-RS answers over HTTP, and movescu sends a
// study to a storescp named in the peers file, each object arriving with
// the pixel data as stored.
func TestE2EDIMSEQueryRetrieve(t *testing.T) {
	dimseAddr := freeAddr(t)
	host, port, _ := net.SplitHostPort(dimseAddr)
	destAddr := freeAddr(t)
	_, destPort, _ := net.SplitHostPort(destAddr)
	dir := t.TempDir()
	peers := filepath.Join(dir, "peers")
	if err := os.WriteFile(peers, []byte("SCU 127.0.0.1 - all\nDEST 127.0.0.1 "+destPort+" store\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServerDir(t, t.TempDir(), []string{"--dimse-listen", dimseAddr, "--dimse-peers", peers}, nil)
	corpus := filepath.Join(testcorpus.DirT(t), "test_files")
	files := []string{"CT_small.dcm", "MR_small.dcm", "SC_rgb_jpeg_dcmtk.dcm", "rtplan.dcm"}
	var paths []string
	for _, f := range files {
		paths = append(paths, filepath.Join(corpus, f))
	}
	if out, err := dcmtk(t, "storescu", append([]string{"-aet", "SCU", "-aec", "MINIPACS", "-R", "-xy", host, port}, paths...)...); err != nil {
		t.Fatalf("storescu: %v\n%s", err, out)
	}

	// C-FIND against QIDO-RS.
	rsp := t.TempDir()
	if out, err := dcmtk(t, "findscu", "-S", "-aet", "SCU", "-aec", "MINIPACS", "-X", "-od", rsp,
		"-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID", "-k", "PatientName", host, port); err != nil {
		t.Fatalf("findscu: %v\n%s", err, out)
	}
	var found []string
	ents, _ := os.ReadDir(rsp)
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(rsp, e.Name()))
		f, err := part10.Parse(context.Background(), bytes.NewReader(b), int64(len(b)), part10.DefaultLimits())
		if err != nil {
			t.Fatalf("findscu answer: %v", err)
		}
		found = append(found, strings.TrimRight(f.DataSet.String(part10.TagStudyInstanceUID), "\x00 "))
	}
	r := get(t, s.url("/studies"), "application/dicom+json")
	var studies []map[string]jsonAttr
	if err := json.Unmarshal(r.body, &studies); err != nil {
		t.Fatalf("QIDO: %v: %s", err, r.body)
	}
	var qido []string
	for _, st := range studies {
		qido = append(qido, st["0020000D"].str(0))
	}
	slices.Sort(found)
	slices.Sort(qido)
	if len(qido) == 0 || !slices.Equal(found, qido) {
		t.Errorf("C-FIND studies %v, QIDO-RS %v", found, qido)
	}

	// C-MOVE to a storescp.
	recv := t.TempDir()
	scp := exec.Command(exectest.LookTool(t, "storescp"), "-aet", "DEST", "+B", "+xa", "-od", recv, destPort)
	if err := scp.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { scp.Process.Kill(); scp.Wait() }()
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", destAddr); err == nil {
			c.Close()
			break
		} else if i == 100 {
			t.Fatalf("storescp does not listen: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, st := range qido {
		if out, err := dcmtk(t, "movescu", "-S", "-aet", "SCU", "-aec", "MINIPACS", "-aem", "DEST",
			"-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID="+st, host, port); err != nil || strings.Contains(out, "Failed") {
			t.Fatalf("movescu: %v\n%s", err, out)
		}
	}
	got, _ := os.ReadDir(recv)
	if len(got) != len(files) {
		t.Fatalf("storescp received %d objects, want %d", len(got), len(files))
	}
	for _, f := range paths {
		orig, _ := os.ReadFile(f)
		of, _ := part10.Parse(context.Background(), bytes.NewReader(orig), int64(len(orig)), part10.DefaultLimits())
		sop := strings.TrimRight(of.DataSet.String(part10.TagSOPInstanceUID), "\x00 ")
		var match []byte
		for _, e := range got {
			if strings.HasSuffix(e.Name(), sop) {
				match, _ = os.ReadFile(filepath.Join(recv, e.Name()))
			}
		}
		if match == nil {
			t.Errorf("%s not received", filepath.Base(f))
			continue
		}
		mf, err := part10.Parse(context.Background(), bytes.NewReader(match), int64(len(match)), part10.DefaultLimits())
		if err != nil {
			t.Fatalf("%s as received: %v", filepath.Base(f), err)
		}
		if of.DataSet.Find(part10.TagPixelData) != nil && !bytes.Equal(pixelBytes(t, mf, match), pixelBytes(t, of, orig)) {
			t.Errorf("%s: pixel data differs after C-STORE and C-MOVE", filepath.Base(f))
		}
	}
}

// TestE2EDIMSEKill: `kill -9` while storescu sends: every instance whose
// C-STORE got a success response is retrievable after a restart, with the
// pixel data sent.
func TestE2EDIMSEKill(t *testing.T) {
	storescu := exectest.LookTool(t, "storescu")
	insts := genCorpus(t, "-mode", "ct", "-studies", "1", "-series-per-study", "1", "-instances-per-series", "300", "-rows", "128", "-cols", "128")
	dir := t.TempDir()
	bySOP := map[string]string{}
	var paths []string
	for _, in := range insts {
		p := filepath.Join(dir, in.sop+".dcm")
		if err := os.WriteFile(p, in.data, 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
		bySOP[p] = in.sop
	}
	dataDir := t.TempDir()
	dimseAddr := freeAddr(t)
	host, port, _ := net.SplitHostPort(dimseAddr)
	args := []string{"--dimse-listen", dimseAddr}
	s := startServerDir(t, dataDir, args, nil)

	cmd := exec.Command(storescu, append([]string{"-v", "-aec", "MINIPACS", host, port}, paths...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var acked []string
	current := ""
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		if f, ok := strings.CutPrefix(line, "I: Sending file: "); ok {
			current = f
		}
		if strings.Contains(line, "Received Store Response (Success)") && current != "" {
			acked = append(acked, bySOP[current])
			if len(acked) == 60 {
				s.stop(syscall.SIGKILL)
				break
			}
		}
	}
	if len(acked) < 60 {
		t.Fatalf("only %d C-STOREs acknowledged before the kill", len(acked))
	}
	io.Copy(io.Discard, stdout)
	cmd.Wait()

	s = startServerDir(t, dataDir, args, nil)
	byUID := map[string]*synthInstance{}
	for _, in := range insts {
		byUID[in.sop] = in
	}
	for _, sop := range acked {
		in := byUID[sop]
		r := get(t, s.url(in.path()), acceptDICOM)
		if !expectStatus(t, sop, r, 200) {
			continue
		}
		parts := readMultipart(t, r, "application/dicom")
		gf, err := part10.Parse(context.Background(), bytes.NewReader(parts[0].data), int64(len(parts[0].data)), part10.DefaultLimits())
		if err != nil {
			t.Fatalf("%s: %v", sop, err)
		}
		of, _ := part10.Parse(context.Background(), bytes.NewReader(in.data), int64(len(in.data)), part10.DefaultLimits())
		if !bytes.Equal(pixelBytes(t, gf, parts[0].data), pixelBytes(t, of, in.data)) {
			t.Errorf("%s: pixel data differs", sop)
		}
	}
}

// TestE2EDIMSETLS: with --dimse-tls-cert/--dimse-tls-key the listener
// speaks DICOM TLS: echoscu and storescu over TLS succeed (the server's
// certificate trusted), a plain TCP association fails; a peers file
// changed and SIGHUP'd admits a new AE without a restart.
func TestE2EDIMSETLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := certtest.Write(t, dir, "minipacs-dimse")
	peers := filepath.Join(dir, "peers")
	if err := os.WriteFile(peers, []byte("ECHOSCU 127.0.0.1 - echo\nSTORESCU 127.0.0.1 - store\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dimseAddr := freeAddr(t)
	host, port, _ := net.SplitHostPort(dimseAddr)
	s := startServerDir(t, t.TempDir(), []string{"--dimse-listen", dimseAddr, "--dimse-peers", peers,
		"--dimse-tls-cert", cert, "--dimse-tls-key", key}, nil)
	if out, err := dcmtk(t, "echoscu", "+tla", "+cf", cert, "-aec", "MINIPACS", host, port); err != nil {
		t.Fatalf("echoscu over TLS: %v\n%s", err, out)
	}
	ct := filepath.Join(testcorpus.DirT(t), "test_files", "CT_small.dcm")
	if out, err := dcmtk(t, "storescu", "-v", "+tla", "+cf", cert, "-aec", "MINIPACS", host, port, ct); err != nil || !strings.Contains(out, "Success") {
		t.Fatalf("storescu over TLS: %v\n%s", err, out)
	}
	if out, err := dcmtk(t, "echoscu", "-to", "5", "-ta", "5", "-aec", "MINIPACS", host, port); err == nil {
		t.Fatalf("echoscu without TLS succeeded:\n%s", out)
	}
	if out, err := dcmtk(t, "echoscu", "+tla", "+cf", cert, "-aet", "NEWCOMER", "-aec", "MINIPACS", host, port); err == nil {
		t.Fatalf("an AE not in the peers file associated:\n%s", out)
	}
	if err := os.WriteFile(peers, []byte("ECHOSCU 127.0.0.1 - echo\nNEWCOMER 127.0.0.1 - echo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := dcmtk(t, "echoscu", "+tla", "+cf", cert, "-aet", "NEWCOMER", "-aec", "MINIPACS", host, port)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the peers file was not reloaded on SIGHUP:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
