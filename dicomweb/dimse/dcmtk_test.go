package dimse

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/dicomweb/testkit/exectest"
	"github.com/minipacs/minipacs/dicomweb/testkit/testcorpus"
)

// storeFiles have distinct SOP Instance UIDs and cover the transfer
// syntaxes: Explicit and Implicit VR LE, Deflated, JPEG baseline and
// extended, JPEG-LS, JPEG 2000, RLE; waveform_ecg.dcm (291 KB) spans many
// PDUs.
var storeFiles = []string{
	"CT_small.dcm", "rtplan.dcm", "test-SR.dcm", "waveform_ecg.dcm", "image_dfl.dcm",
	"SC_rgb_jpeg_dcmtk.dcm", "JPEG-lossy.dcm", "MR_small_jpeg_ls_lossless.dcm",
	"JPEG2000.dcm", "SC_rgb_rle.dcm",
}

// corpus is the directory of the pydicom test files (a missing corpus
// fails the test).
func corpus(t *testing.T) string {
	return filepath.Join(testcorpus.DirT(t), "test_files")
}

// run runs a DCMTK tool and returns its combined output and error.
func run(t *testing.T, tool string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exectest.LookTool(t, tool), args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func hostPort(t *testing.T, addr string) (string, string) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

// recorder is an Auditor that keeps the events.
type recorder struct {
	mu        sync.Mutex
	assocs    []AssociationEvent
	stores    []StoreEvent
	queries   []QueryEvent
	retrieves []RetrieveEvent
	commits   []CommitEvent
}

func (r *recorder) Association(_ context.Context, ev AssociationEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.assocs = append(r.assocs, ev)
}

func (r *recorder) Stored(_ context.Context, ev StoreEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stores = append(r.stores, ev)
}

func (r *recorder) Queried(_ context.Context, ev QueryEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queries = append(r.queries, ev)
}

func (r *recorder) Retrieved(_ context.Context, ev RetrieveEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.retrieves = append(r.retrieves, ev)
}

func (r *recorder) Committed(_ context.Context, ev CommitEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.commits = append(r.commits, ev)
}

func TestEchoSCU(t *testing.T) {
	a := newArchive(t)
	peers, err := ParsePeers(strings.NewReader("ECHOER 127.0.0.1 - echo\nSTORER 10.0.0.0/8 - all\n"))
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	_, open := startServer(t, Config{Ingester: a.ing, Policy: &Policy{AcceptAny: true}, Auditor: rec})
	_, strict := startServer(t, Config{Ingester: a.ing, AETitle: "ARCHIVE", Policy: peers})
	for _, tc := range []struct {
		name    string
		addr    string
		args    []string
		ok      bool
		wantOut string
	}{
		{"accept any", open, []string{"-aec", "MINIPACS"}, true, ""},
		{"wrong called AE", open, []string{"-aec", "OTHER"}, false, "Called AE Title Not Recognized"},
		{"known peer", strict, []string{"-aec", "ARCHIVE", "-aet", "ECHOER"}, true, ""},
		{"unknown calling AE", strict, []string{"-aec", "ARCHIVE", "-aet", "STRANGER"}, false, "Calling AE Title Not Recognized"},
		{"known AE from another address", strict, []string{"-aec", "ARCHIVE", "-aet", "STORER"}, false, "Calling AE Title Not Recognized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, p := hostPort(t, tc.addr)
			out, err := run(t, "echoscu", append([]string{"-v", h, p}, tc.args...)...)
			t.Log(out)
			if (err == nil) != tc.ok {
				t.Fatalf("echoscu error %v, want success %v", err, tc.ok)
			}
			if !strings.Contains(out, tc.wantOut) {
				t.Errorf("output lacks %q", tc.wantOut)
			}
		})
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var outcomes []string
	for _, ev := range rec.assocs {
		outcomes = append(outcomes, ev.Outcome.String())
	}
	slices.Sort(outcomes) // the release is audited as the next association starts
	if got := strings.Join(outcomes, " "); got != "accepted rejected released" {
		t.Errorf("audited associations %q", got)
	}
}

func TestEchoSCUOperationNotAllowed(t *testing.T) {
	a := newArchive(t)
	peers, _ := ParsePeers(strings.NewReader("STOREONLY 127.0.0.1 - store\n"))
	_, addr := startServer(t, Config{Ingester: a.ing, Policy: peers})
	h, p := hostPort(t, addr)
	out, err := run(t, "echoscu", "-v", "-aet", "STOREONLY", "-aec", "MINIPACS", h, p)
	t.Log(out)
	if err == nil {
		t.Fatal("C-ECHO by a peer allowed only store succeeded")
	}
}

func TestStoreSCU(t *testing.T) {
	dir := corpus(t)
	cfg := storescuConfig(t, dir, storeFiles)
	var files []string
	for _, f := range storeFiles {
		files = append(files, filepath.Join(dir, f))
	}
	// What storescu puts on the wire is not the file: DCMTK re-encodes
	// the data set (group lengths, padding). DCMTK's own storescp, in
	// bit-preserving mode, writes the data set bytes as received: that
	// is the reference the archive's objects are compared with.
	want := referenceDataSets(t, cfg, files)
	for _, tc := range []struct {
		name   string
		maxPDU uint32
		args   []string
	}{
		{"one association", 0, nil},
		{"pdu 4096", 4096, []string{"-pdu", "4096"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newArchive(t)
			rec := &recorder{}
			_, addr := startServer(t, Config{Ingester: a.ing, Policy: &Policy{AcceptAny: true}, Auditor: rec,
				Limits: Limits{MaxPDULength: tc.maxPDU}})
			h, p := hostPort(t, addr)
			args := append([]string{"-v", "-aec", "MINIPACS", "-aet", "MODALITY", "-xf", cfg, "Test"}, tc.args...)
			args = append(append(args, h, p), files...)
			out, err := run(t, "storescu", args...)
			t.Log(out)
			if err != nil {
				t.Fatalf("storescu: %v", err)
			}
			if n := strings.Count(out, "Requesting Association"); n != 1 {
				t.Errorf("%d associations, want 1", n)
			}
			if n := strings.Count(out, "Received Store Response (Success)"); n != len(files) {
				t.Errorf("%d successful C-STORE responses, want %d", n, len(files))
			}
			for _, f := range files {
				checkStored(t, a, f, want)
			}
			rec.mu.Lock()
			stores := rec.stores
			rec.stores = nil
			rec.mu.Unlock()
			if len(stores) != len(files) {
				t.Errorf("%d C-STORE audited, want %d", len(stores), len(files))
			}
			for _, ev := range stores {
				if ev.Status != StatusSuccess || ev.Existed || ev.CallingAE != "MODALITY" || ev.StudyUID == "" {
					t.Errorf("audited %+v", ev)
				}
			}
			// The same files again: identical instances already stored
			// are a success.
			out, err = run(t, "storescu", args...)
			if n := strings.Count(out, "Received Store Response (Success)"); err != nil || n != len(files) {
				t.Fatalf("second storescu: %v, %d successes\n%s", err, n, out)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			for _, ev := range rec.stores {
				if !ev.Existed {
					t.Errorf("second store audited %+v", ev)
				}
			}
		})
	}
}

// referenceDataSets sends files to DCMTK's storescp (bit-preserving) and
// returns the data set bytes it received, by SOP Instance UID.
func referenceDataSets(t *testing.T, cfg string, files []string) map[string][]byte {
	t.Helper()
	storescp := exectest.LookTool(t, "storescp")
	out := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port := hostPort(t, ln.Addr().String())
	ln.Close()
	var log exectest.Buffer
	cmd := exec.Command(storescp, "-aet", "REF", "+B", "-od", out, "+xa", port)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			c.Close()
			break
		}
		if i == 100 {
			t.Fatalf("storescp does not listen: %v\n%s", err, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	args := append([]string{"-aec", "REF", "-xf", cfg, "Test", "127.0.0.1", port}, files...)
	if o, err := run(t, "storescu", args...); err != nil {
		t.Fatalf("storescu to storescp: %v\n%s\n%s", err, o, log.String())
	}
	ents, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	ref := map[string][]byte{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(out, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		f, err := part10.Parse(context.Background(), bytes.NewReader(b), int64(len(b)), part10.DefaultLimits())
		if err != nil {
			t.Fatalf("storescp's %s: %v", e.Name(), err)
		}
		ref[f.Meta.String(part10.Tag(0x00020003))] = b[f.DataSetOffset:]
	}
	if len(ref) != len(files) {
		t.Fatalf("storescp stored %d objects, want %d", len(ref), len(files))
	}
	return ref
}

// checkStored compares the stored object of the file at path with the
// file and with want (the data sets storescp received): same transfer
// syntax (no transcoding), a zero preamble and "DICM", a File Meta group
// of ours naming the same SOP instance, and the data set bytes
// (everything after the File Meta group) identical to what storescp
// received.
func checkStored(t *testing.T, a *archive, path string, want map[string][]byte) {
	t.Helper()
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	of, err := part10.Parse(context.Background(), bytes.NewReader(orig), int64(len(orig)), part10.DefaultLimits())
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	sop := strings.TrimRight(of.DataSet.String(part10.TagSOPInstanceUID), "\x00 ")
	stored, ref := a.object(t, sop)
	sf, err := part10.Parse(context.Background(), bytes.NewReader(stored), int64(len(stored)), part10.DefaultLimits())
	if err != nil {
		t.Fatalf("%s: stored object: %v", path, err)
	}
	name := filepath.Base(path)
	if sf.TransferSyntax.UID != of.TransferSyntax.UID || ref.TransferSyntaxUID != of.TransferSyntax.UID {
		t.Errorf("%s: stored in %s (index %s), sent in %s", name, sf.TransferSyntax.UID, ref.TransferSyntaxUID, of.TransferSyntax.UID)
	}
	if !bytes.Equal(stored[:128], make([]byte, 128)) || string(stored[128:132]) != "DICM" {
		t.Errorf("%s: no zero preamble and DICM prefix", name)
	}
	if got := sf.Meta.String(part10.Tag(0x00020003)); got != sop {
		t.Errorf("%s: Media Storage SOP Instance UID %q, want %q", name, got, sop)
	}
	if got := sf.Meta.String(part10.Tag(0x00020012)); got != ImplementationClassUID {
		t.Errorf("%s: Implementation Class UID %q", name, got)
	}
	if w, ok := want[sop]; !ok || !bytes.Equal(stored[sf.DataSetOffset:], w) {
		t.Errorf("%s: data set differs from storescp's (stored %d bytes after the meta group, storescp %d)", name,
			len(stored)-int(sf.DataSetOffset), len(w))
	}
}

// storescuConfig writes a storescu association profile ("Test") that
// proposes, for each file, its SOP class in its own transfer syntax (so
// that compressed files are sent as they are) and in the uncompressed
// ones: DCMTK's -x options propose one compressed syntax at a time.
func storescuConfig(t *testing.T, dir string, files []string) string {
	t.Helper()
	var syntaxes, contexts []string
	seenTS, seenPC := map[string]bool{}, map[string]bool{}
	addPC := func(pc string) {
		if !seenPC[pc] {
			seenPC[pc] = true
			contexts = append(contexts, fmt.Sprintf("PresentationContext%d = %s", len(contexts)+1, pc))
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		pf, err := part10.Parse(context.Background(), bytes.NewReader(b), int64(len(b)), part10.DefaultLimits())
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		class := strings.TrimRight(pf.DataSet.String(part10.TagSOPClassUID), "\x00 ")
		ts := pf.TransferSyntax.UID
		key := "TS" + strings.ReplaceAll(ts, ".", "_")
		if !seenTS[key] {
			seenTS[key] = true
			syntaxes = append(syntaxes, fmt.Sprintf("[%s]\nTransferSyntax1 = %s", key, ts))
		}
		addPC(class + "\\" + key)
		addPC(class + "\\Uncompressed")
	}
	cfg := "[[TransferSyntaxes]]\n[Uncompressed]\nTransferSyntax1 = LittleEndianExplicit\nTransferSyntax2 = LittleEndianImplicit\n" +
		strings.Join(syntaxes, "\n") + "\n[[PresentationContexts]]\n[Contexts]\n" + strings.Join(contexts, "\n") +
		"\n[[Profiles]]\n[Test]\nPresentationContexts = Contexts\n"
	path := filepath.Join(t.TempDir(), "storescu.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// corpusFiles lists the corpus files (pydicom test and character set
// files) that are Part-10 objects with SOP UIDs, one per SOP Instance UID,
// split into native and compressed transfer syntaxes.
func corpusFiles(t *testing.T) (native, compressed []string) {
	t.Helper()
	seen := map[string]bool{}
	for _, sub := range []string{"test_files", "charset_files"} {
		dir := filepath.Join(testcorpus.DirT(t), sub)
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			path := filepath.Join(dir, e.Name())
			b, err := os.ReadFile(path)
			if err != nil || e.IsDir() || !strings.HasSuffix(e.Name(), ".dcm") {
				continue
			}
			f, err := part10.Parse(context.Background(), bytes.NewReader(b), int64(len(b)), part10.DefaultLimits())
			if err != nil || f.Meta == nil || f.Meta.Find(part10.Tag(0x00020010)) == nil {
				continue
			}
			sop := strings.TrimRight(f.DataSet.String(part10.TagSOPInstanceUID), "\x00 ")
			class := strings.TrimRight(f.DataSet.String(part10.TagSOPClassUID), "\x00 ")
			if sop == "" || class == "" || seen[sop] || !isStorageSOPClass(class, false) {
				continue
			}
			seen[sop] = true
			if isNative(f.TransferSyntax.UID) {
				native = append(native, path)
			} else {
				compressed = append(compressed, path)
			}
		}
	}
	return native, compressed
}

// TestStoreSCUCorpus: the whole corpus through DCMTK storescu: the native
// files as Implicit VR Little Endian only (-xi) on one association, then
// every file, compressed ones in their own syntax, over four associations
// at once. Every C-STORE succeeds and every instance is stored, in the
// syntax it was sent in.
func TestStoreSCUCorpus(t *testing.T) {
	native, compressed := corpusFiles(t)
	if len(native) < 20 || len(compressed) < 15 {
		t.Fatalf("corpus: %d native, %d compressed files", len(native), len(compressed))
	}
	check := func(t *testing.T, a *archive, files []string, implicit bool) {
		for _, path := range files {
			b, _ := os.ReadFile(path)
			f, _ := part10.Parse(context.Background(), bytes.NewReader(b), int64(len(b)), part10.DefaultLimits())
			sop := strings.TrimRight(f.DataSet.String(part10.TagSOPInstanceUID), "\x00 ")
			ref, err := a.idx.Lookup(context.Background(), sop)
			if err != nil {
				t.Errorf("%s: %v", filepath.Base(path), err)
				continue
			}
			want := f.TransferSyntax.UID
			if implicit {
				want = part10.ImplicitVRLittleEndian
			}
			if isNative(want) && isNative(ref.TransferSyntaxUID) && !implicit {
				continue // storescu may pick another native syntax
			}
			if ref.TransferSyntaxUID != want {
				t.Errorf("%s: stored in %s, want %s", filepath.Base(path), ref.TransferSyntaxUID, want)
			}
		}
	}
	t.Run("implicit only", func(t *testing.T) {
		a := newArchive(t)
		_, addr := startServer(t, Config{Ingester: a.ing, Policy: &Policy{AcceptAny: true}})
		h, p := hostPort(t, addr)
		out, err := run(t, "storescu", append([]string{"-v", "-xi", "-R", "-aec", "MINIPACS", h, p}, native...)...)
		if err != nil {
			t.Fatalf("storescu: %v\n%s", err, out)
		}
		if n := strings.Count(out, "Received Store Response (Success)"); n != len(native) {
			t.Errorf("%d successes of %d\n%s", n, len(native), out)
		}
		check(t, a, native, true)
	})
	t.Run("four associations", func(t *testing.T) {
		all := append(slices.Clone(native), compressed...)
		cfg := storescuConfig(t, "/", all) // the paths are absolute
		a := newArchive(t)
		_, addr := startServer(t, Config{Ingester: a.ing, Policy: &Policy{AcceptAny: true}})
		h, p := hostPort(t, addr)
		var wg sync.WaitGroup
		outs := make([]string, 4)
		errs := make([]error, 4)
		for i := range 4 {
			var part []string
			for j := i; j < len(all); j += 4 {
				part = append(part, all[j])
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				args := append([]string{"-v", "-aec", "MINIPACS", "-xf", cfg, "Test", h, p}, part...)
				outs[i], errs[i] = run(t, "storescu", args...)
			}()
		}
		wg.Wait()
		n := 0
		for i := range 4 {
			if errs[i] != nil {
				t.Errorf("storescu %d: %v\n%s", i, errs[i], outs[i])
			}
			n += strings.Count(outs[i], "Received Store Response (Success)")
		}
		if n != len(all) {
			t.Errorf("%d successes of %d", n, len(all))
		}
		check(t, a, all, false)
	})
}
