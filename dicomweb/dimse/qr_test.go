package dimse

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb/archive/retrieve"
	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/dicomweb/testkit/exectest"
	"github.com/minipacs/minipacs/dicomweb/testkit/testcorpus"
)

// loaded is an instance put in the test archive.
type loaded struct {
	path                  string
	study, series, sop    string
	sopClass, transferSyn string
}

// load ingests files of the pydicom corpus into a and returns them.
func (a *archive) load(t *testing.T, files ...string) []loaded {
	t.Helper()
	ctx := context.Background()
	var out []loaded
	for _, name := range files {
		path := filepath.Join(corpus(t), name)
		if strings.Contains(name, "/") { // another folder of the corpus
			path = filepath.Join(testcorpus.DirT(t), name)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		b := a.ing.Begin(ctx, "")
		if err := b.Add(ctx, f); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		f.Close()
		res := b.Commit(ctx)[0]
		if res.Failure != 0 {
			t.Fatalf("%s: ingest failure 0x%04x: %v", name, res.Failure, res.Err)
		}
		ref, err := a.idx.Lookup(ctx, res.SOPInstanceUID)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, loaded{path, res.StudyUID, res.SeriesUID, res.SOPInstanceUID, ref.SOPClassUID, ref.TransferSyntaxUID})
	}
	return out
}

// qrServer starts a Server over a with every service, the peers file
// peers, and returns its port and the audit recorder.
func qrServer(t *testing.T, a *archive, peers string) (string, *recorder) {
	t.Helper()
	pol, err := ParsePeers(strings.NewReader(peers))
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	_, addr := startServer(t, Config{Ingester: a.ing, Index: a.idx, Retriever: retrieve.New(a.idx, a.store), Policy: pol, Auditor: rec})
	_, port := hostPort(t, addr)
	return port, rec
}

// freePort returns a loopback TCP port free at the time of the call.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startStorescp runs DCMTK's storescp as AE aet on a free port, writing
// what it receives to a new directory, until the test ends.
func startStorescp(t *testing.T, aet string, args ...string) (int, string) {
	t.Helper()
	port := freePort(t)
	dir := t.TempDir()
	all := append([]string{"-aet", aet, "-od", dir, "+B"}, args...)
	all = append(all, strconv.Itoa(port))
	cmd := exec.Command(exectest.LookTool(t, "storescp"), all...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("storescp output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return port, dir
		}
		if time.Now().After(deadline) {
			t.Fatalf("storescp did not listen: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dataSetOf returns the bytes after the file meta group of a Part-10
// file, and its transfer syntax.
func dataSetOf(t *testing.T, b []byte) ([]byte, string) {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(b))
	off, err := part10.MetaEnd(br)
	if err != nil {
		t.Fatalf("meta: %v", err)
	}
	f, err := part10.Parse(context.Background(), bytes.NewReader(b), int64(len(b)), part10.Limits{})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return b[off:], f.TransferSyntax.UID
}

// received reads the files a storescp or getscu wrote, by SOP Instance UID.
func received(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		f, err := part10.Parse(context.Background(), bytes.NewReader(b), int64(len(b)), part10.Limits{})
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		out[f.DataSet.String(part10.TagSOPInstanceUID)] = b
	}
	return out
}

// checkReceived compares what a peer received with what the archive
// holds: bit-exact after the meta group when sent as stored, else a
// native syntax that parses.
func checkReceived(t *testing.T, a *archive, want []loaded, got map[string][]byte, exact bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("received %d instances, want %d", len(got), len(want))
	}
	for _, w := range want {
		b, ok := got[w.sop]
		if !ok {
			t.Errorf("%s not received", filepath.Base(w.path))
			continue
		}
		stored, _ := a.object(t, w.sop)
		sds, sts := dataSetOf(t, stored)
		rds, rts := dataSetOf(t, b)
		switch {
		case rts == sts:
			if rts == part10.DeflatedExplicitVRLittleEndian && len(sds)%2 == 1 {
				sds = append(sds, 0) // sent padded to even length (PS3.5 A.5)
			}
			if !bytes.Equal(sds, rds) {
				t.Errorf("%s: received in the stored syntax %s but not bit-exact", filepath.Base(w.path), sts)
			}
		case exact:
			t.Errorf("%s: received in %s, stored in %s", filepath.Base(w.path), rts, sts)
		case rts != part10.ExplicitVRLittleEndian && rts != part10.ImplicitVRLittleEndian:
			t.Errorf("%s: received in %s, want a native fallback", filepath.Base(w.path), rts)
		}
	}
}

// TestMoveSCU: DCMTK movescu asks for each study to be sent to a storescp
// named in the peers file: everything arrives, bit-exact when storescp
// accepts every syntax (+xa), decoded to a native syntax when it accepts
// only those (its default); an unknown destination is 0xA801.
func TestMoveSCU(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		exact bool
	}{
		{"accept-all", []string{"+xa"}, true},
		{"native-only", nil, false},
		{"implicit-only", []string{"+xi"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newArchive(t)
			want := a.load(t, storeFiles...)
			destPort, dir := startStorescp(t, "DEST", tc.args...)
			port, rec := qrServer(t, a, fmt.Sprintf("MOVER 127.0.0.1 - find,move\nDEST 127.0.0.1 %d store\n", destPort))
			studies := map[string]bool{}
			for _, w := range want {
				studies[w.study] = true
			}
			for study := range studies {
				out, err := run(t, "movescu", "-v", "-S", "-aet", "MOVER", "-aec", "MINIPACS", "-aem", "DEST",
					"-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID="+study, "127.0.0.1", port)
				if err != nil || strings.Contains(out, "Failed") {
					t.Fatalf("movescu: %v\n%s", err, out)
				}
			}
			checkReceived(t, a, want, received(t, dir), tc.exact)
			rec.mu.Lock()
			sent := 0
			for _, r := range rec.retrieves {
				sent += r.Completed
				if r.Destination != "DEST" || r.Failed != 0 {
					t.Errorf("audit: %+v", r)
				}
			}
			rec.mu.Unlock()
			if sent != len(want) {
				t.Errorf("audit: %d instances sent, want %d", sent, len(want))
			}

			out, _ := run(t, "movescu", "-v", "-S", "-aet", "MOVER", "-aec", "MINIPACS", "-aem", "NOWHERE",
				"-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID="+want[0].study, "127.0.0.1", port)
			if !strings.Contains(out, "MoveDestinationUnknown") {
				t.Errorf("move to an unknown AE: want status 0xA801, got\n%s", out)
			}
		})
	}
}

// TestMoveLevels: C-MOVE at SERIES and IMAGE level (a list of SOP
// Instance UIDs) sends exactly the instances named; a move without the
// unique key of its level is refused (0xA900) and sends nothing.
func TestMoveLevels(t *testing.T) {
	a := newArchive(t)
	want := a.load(t, "CT_small.dcm", "MR_small.dcm", "rtplan.dcm")
	destPort, dir := startStorescp(t, "DEST", "+xa")
	port, _ := qrServer(t, a, fmt.Sprintf("MOVER 127.0.0.1 - move\nDEST 127.0.0.1 %d store\n", destPort))
	move := func(keys ...string) string {
		args := []string{"-v", "-S", "-aet", "MOVER", "-aec", "MINIPACS", "-aem", "DEST"}
		for _, k := range keys {
			args = append(args, "-k", k)
		}
		out, _ := run(t, "movescu", append(args, "127.0.0.1", port)...)
		return out
	}
	move("QueryRetrieveLevel=SERIES", "StudyInstanceUID="+want[0].study, "SeriesInstanceUID="+want[0].series)
	move("QueryRetrieveLevel=IMAGE", "StudyInstanceUID="+want[1].study, "SeriesInstanceUID="+want[1].series, "SOPInstanceUID="+want[1].sop)
	if out := move("QueryRetrieveLevel=SERIES", "StudyInstanceUID="+want[2].study); !strings.Contains(out, "DataSetDoesNotMatchSOPClass") {
		t.Errorf("move without SeriesInstanceUID: want 0xA900, got\n%s", out)
	}
	checkReceived(t, a, want[:2], received(t, dir), true)
}

// TestGetSCU: DCMTK getscu retrieves a study on its own association (SCP
// role negotiated for the storage SOP classes): every instance arrives
// bit-exact when it proposes the stored syntax.
func TestGetSCU(t *testing.T) {
	a := newArchive(t)
	want := a.load(t, "CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "JPEG2000.dcm")
	port, rec := qrServer(t, a, "GETTER 127.0.0.1 - get\n")
	dir := t.TempDir()
	for _, w := range want {
		out, err := run(t, "getscu", "-v", "-S", "-aet", "GETTER", "-aec", "MINIPACS", "-od", dir, "+B",
			"-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID="+w.study, "127.0.0.1", port)
		if err != nil {
			t.Fatalf("getscu: %v\n%s", err, out)
		}
	}
	checkReceived(t, a, want, received(t, dir), false)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.retrieves) != len(want) {
		t.Errorf("audit: %d retrieve events, want %d", len(rec.retrieves), len(want))
	}
}

// TestStorageCommitment: the npm dcmjs-dimse client (an independent
// implementation) asks for the commitment of stored instances and of one
// never stored; the N-EVENT-REPORT comes on a new association to its
// listener, with the stored ones committed and the other failed (0x0112).
func TestStorageCommitment(t *testing.T) {
	node := exectest.LookTool(t, "node")
	script, _ := filepath.Abs(filepath.Join("testdata", "dcmjs", "commit.mjs"))
	if _, err := os.Stat(filepath.Join("testdata", "dcmjs", "node_modules", "dcmjs-dimse")); err != nil {
		msg := "dcmjs-dimse not installed (npm ci in dicomweb/dimse/testdata/dcmjs; scripts/install-deps does it)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	a := newArchive(t)
	stored := a.load(t, "CT_small.dcm", "MR_small.dcm")
	listen := freePort(t)
	port, rec := qrServer(t, a, fmt.Sprintf("COMMITSCU 127.0.0.1 %d commit\n", listen))
	missing := "1.2.826.0.1.3680043.8.498.99"
	args := []string{script, "--host", "127.0.0.1", "--port", port, "--called", "MINIPACS", "--calling", "COMMITSCU",
		"--listen-port", strconv.Itoa(listen), "--timeout", "30"}
	for _, s := range stored {
		args = append(args, "--uid", s.sopClass+":"+s.sop)
	}
	args = append(args, "--uid", stored[0].sopClass+":"+missing)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("commit.mjs: %v\n%s\n%s", err, out, stderr.String())
	}
	var res struct {
		ActionStatus int    `json:"actionStatus"`
		EventTypeID  int    `json:"eventTypeId"`
		Association  string `json:"association"`
		Committed    []struct {
			SOPInstance string `json:"sopInstance"`
		} `json:"committed"`
		Failed []struct {
			SOPInstance string `json:"sopInstance"`
			Reason      int    `json:"reason"`
		} `json:"failed"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var committed []string
	for _, c := range res.Committed {
		committed = append(committed, c.SOPInstance)
	}
	slices.Sort(committed)
	want := []string{stored[0].sop, stored[1].sop}
	slices.Sort(want)
	if res.ActionStatus != 0 || res.EventTypeID != 2 || res.Association != "new" || !slices.Equal(committed, want) ||
		len(res.Failed) != 1 || res.Failed[0].SOPInstance != missing || res.Failed[0].Reason != int(StatusNoSuchSOPInstance) {
		t.Errorf("result %s", out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		rec.mu.Lock()
		n := len(rec.commits)
		var ev CommitEvent
		if n > 0 {
			ev = rec.commits[0]
		}
		rec.mu.Unlock()
		if n > 0 {
			if ev.Committed != 2 || ev.Failed != 1 || !ev.Delivered || ev.CallingAE != "COMMITSCU" {
				t.Errorf("audit: %+v", ev)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no commitment audit event")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStorageCommitmentCorrupt: an instance whose stored object no longer
// has its recorded hash is not committed (0x0110), however the index
// knows it.
func TestStorageCommitmentCorrupt(t *testing.T) {
	a := newArchive(t)
	stored := a.load(t, "CT_small.dcm", "MR_small.dcm")
	s, _ := startServer(t, Config{Ingester: a.ing, Index: a.idx, Retriever: retrieve.New(a.idx, a.store), Policy: &Policy{AcceptAny: true}})
	_, ref := a.object(t, stored[1].sop)
	path := filepath.Join(a.store.Dir(), "objects", filepath.FromSlash(ref.ObjectKey))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the disk store's file for %s: %v", ref.ObjectKey, err)
	}
	b[len(b)-1] ^= 0xFF
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for i, want := range []uint16{0, StatusProcessingFailure} {
		r := commitRef{sopClass: stored[i].sopClass, sopInstance: stored[i].sop}
		if got := s.checkCommitted(context.Background(), &r); got != want {
			t.Errorf("%s: reason 0x%04x, want 0x%04x", filepath.Base(stored[i].path), got, want)
		}
	}
	r := commitRef{sopClass: "1.2.840.10008.5.1.4.1.1.4", sopInstance: stored[0].sop}
	if got := s.checkCommitted(context.Background(), &r); got != StatusClassInstanceClash {
		t.Errorf("wrong SOP class: reason 0x%04x", got)
	}
}
