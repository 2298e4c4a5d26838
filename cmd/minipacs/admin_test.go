package main_test

// End-to-end tests of the admin tools (admin.go, verify.go, gc.go,
// backup.go) against the real binary, on disk and on MinIO.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minipacs/minipacs/dicomweb/archive/ingest"
	"github.com/minipacs/minipacs/index"
)

func TestAdminTools(t *testing.T) {
	kinds := []struct {
		name string
		kind func(t *testing.T) storeKind
	}{
		{"disk", func(*testing.T) storeKind { return diskStore }},
		{"s3", s3Store},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			testAdminTools(t, k.kind(t))
		})
	}
}

func testAdminTools(t *testing.T, st storeKind) {
	corpus := genCorpus(t, "-mode", "tiny", "-n", "48", "-seed", "606")
	dataDir := t.TempDir()
	args := st.args(t)
	storeArgs := storageOnly(args)
	s := startServerDir(t, dataDir, append(append([]string{}, args...), "--scrub-interval", "200ms", "--scrub-rate", "0"), st.env)
	client := &http.Client{Timeout: 30 * time.Second}
	ctx := context.Background()
	post := func(batch []*synthInstance) {
		code, body, err := postBatch(ctx, client, s.base, batch)
		if err != nil || code != http.StatusOK {
			t.Errorf("STOW: %d %v %s", code, err, body)
		}
	}
	for i := 0; i < 24; i += 8 {
		post(corpus[i : i+8])
	}

	// Hot backup while uploads go on: it holds every instance
	// acknowledged before it started.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 24; i < len(corpus); i += 2 {
			post(corpus[i : i+2])
		}
	}()
	hot := filepath.Join(t.TempDir(), "hot.db")
	out, err := runCmd(t, st.env, "backup", dataDir, "--url", s.base, hot)
	wg.Wait()
	if err != nil {
		t.Fatalf("backup --url: %v\n%s", err, out)
	}
	if !strings.Contains(out, "consistency check passed") {
		t.Errorf("backup output: %s", out)
	}
	hotSOPs := indexSOPs(t, hot)
	for _, in := range corpus[:24] {
		if !hotSOPs[in.sop] {
			t.Fatalf("hot backup lacks instance %s acknowledged before it started", in.sop)
		}
	}
	t.Logf("hot backup: %d instances (24 before it started, %d at the end)", len(hotSOPs), len(corpus))

	// The background scrub has checked everything, and /metrics says so.
	waitMetrics(t, s.base, func(m map[string]float64) bool {
		return m["minipacs_scrub_passes_total"] >= 2 && m["minipacs_scrub_objects_checked_total"] >= float64(len(corpus))
	}, func(m map[string]float64) {
		if m["minipacs_scrub_mismatch_total"] != 0 || m["minipacs_scrub_missing_total"] != 0 || m["minipacs_scrub_errors_total"] != 0 ||
			m["minipacs_index_instances"] != float64(len(corpus)) || m["minipacs_scrub_last_completed_timestamp_seconds"] < float64(time.Now().Add(-time.Minute).Unix()) {
			t.Errorf("metrics: %v", m)
		}
	})

	// Offline tools refuse to run beside the server.
	if out, err := runCmd(t, st.env, "verify", dataDir, storeArgs...); err == nil || !strings.Contains(out, "locked") || !strings.Contains(out, "stop the server") {
		t.Errorf("verify beside the server: %v\n%s", err, out)
	}
	want := qidoAnswers(t, s)
	s.stop(syscall.SIGTERM)

	out, err = runCmd(t, st.env, "verify", dataDir, storeArgs...)
	if err != nil || !strings.Contains(out, fmt.Sprintf("verified %d of %d instances", len(corpus), len(corpus))) {
		t.Fatalf("verify of a clean archive: %v\n%s", err, out)
	}
	cold := filepath.Join(t.TempDir(), "cold.db")
	if out, err := runCmd(t, st.env, "backup", dataDir, "--offline", cold); err != nil {
		t.Fatalf("backup --offline: %v\n%s", err, out)
	}

	// Restore the offline backup: identical answers.
	restore := func(from string) {
		t.Helper()
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dataDir, "index.db"), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	restore(cold)
	s = startServerDir(t, dataDir, args, st.env)
	if got := qidoAnswers(t, s); !equalAnswers(got, want) {
		t.Errorf("answers after restoring the offline backup differ")
	}
	s.stop(syscall.SIGTERM)

	// Restore the hot backup: the later instances are orphans (verify
	// says so), reindex brings them back.
	restore(hot)
	out, err = runCmd(t, st.env, "verify", dataDir, storeArgs...)
	if wantOrphans := len(corpus) - len(hotSOPs); err == nil && wantOrphans > 0 || !strings.Contains(out, fmt.Sprintf("%d orphans", wantOrphans)) {
		t.Errorf("verify after restoring the hot backup (%d orphans expected): %v\n%s", wantOrphans, err, out)
	}
	if out, err := runCmd(t, st.env, "reindex", dataDir, storeArgs...); err != nil {
		t.Fatalf("reindex: %v\n%s", err, out)
	}
	s = startServerDir(t, dataDir, args, st.env)
	if got := qidoAnswers(t, s); !equalAnswers(got, want) {
		t.Errorf("answers after restore + reindex differ")
	}
	s.stop(syscall.SIGTERM)

	// Damage: one byte flipped, one object deleted, one orphan added.
	keyOf := func(in *synthInstance) string { return ingest.ObjectKey(in.sum) }
	raw := rawStore(t, dataDir, args)
	flipped := bytes.Clone(corpus[3].data)
	clear(flipped[:128])
	flipped[len(flipped)-1] ^= 0x40
	raw.put(t, keyOf(corpus[3]), flipped)
	raw.remove(t, keyOf(corpus[5]))
	orphan := ingest.ObjectKey([32]byte{1, 2, 3})
	raw.put(t, orphan, []byte("orphan"))

	out, err = runCmd(t, st.env, "verify", dataDir, storeArgs...)
	for _, w := range []string{"mismatch " + keyOf(corpus[3]), "missing " + keyOf(corpus[5]), "orphan " + orphan, "sop=" + corpus[3].sop} {
		if !strings.Contains(out, w) {
			t.Errorf("verify output lacks %q", w)
		}
	}
	if err == nil {
		t.Errorf("verify found damage but exited 0:\n%s", out)
	}
	out, _ = runCmd(t, st.env, "verify", dataDir, append(append([]string{}, storeArgs...), "--json", "--sample-n", "1000")...)
	var rep struct {
		Instances, Checked, Missing, Mismatch, Orphans int
		Problems                                       []struct{ Kind, Key string }
	}
	// The output mixes stderr (logs) in: the report is the JSON object.
	if i := strings.Index(out, "{\n"); i >= 0 {
		out = out[i:]
	}
	if err := json.NewDecoder(strings.NewReader(out)).Decode(&rep); err != nil {
		t.Fatalf("verify --json: %v\n%s", err, out)
	}
	if rep.Instances != len(corpus) || rep.Checked != len(corpus)-1 || rep.Missing != 1 || rep.Mismatch != 1 || rep.Orphans != 1 || len(rep.Problems) != 3 {
		t.Errorf("verify --json: %+v", rep)
	}

	// gc: the fresh orphan survives a grace period, goes without one,
	// and no referenced object is ever removed.
	if out, err := runCmd(t, st.env, "gc", dataDir, append(append([]string{}, storeArgs...), "--grace", "1h")...); err != nil || !strings.Contains(out, "removed 0") {
		t.Errorf("gc --grace 1h: %v\n%s", err, out)
	}
	if out, err := runCmd(t, st.env, "gc", dataDir, append(append([]string{}, storeArgs...), "--grace", "0", "--dry-run")...); err != nil || !strings.Contains(out, "would remove "+orphan) {
		t.Errorf("gc --dry-run: %v\n%s", err, out)
	}
	if !raw.has(t, orphan) {
		t.Fatal("gc --dry-run removed the orphan")
	}
	if out, err := runCmd(t, st.env, "gc", dataDir, append(append([]string{}, storeArgs...), "--grace", "0")...); err != nil || !strings.Contains(out, "removed "+orphan) {
		t.Errorf("gc --grace 0: %v\n%s", err, out)
	}
	if raw.has(t, orphan) {
		t.Error("orphan still there after gc")
	}
	for i, in := range corpus {
		if i != 5 && !raw.has(t, keyOf(in)) {
			t.Errorf("gc removed the referenced object of instance %d", i)
		}
	}
}

// indexSOPs opens an index file (a backup) and returns its instances.
func indexSOPs(t *testing.T, path string) map[string]bool {
	t.Helper()
	ctx := context.Background()
	if err := index.CheckFile(ctx, path); err != nil {
		t.Fatal(err)
	}
	ix, err := index.Open(ctx, path, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	sops := map[string]bool{}
	if err := ix.ForEachInstance(ctx, func(r index.Ref) error { sops[r.SOPInstanceUID] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	return sops
}

var metricLine = regexp.MustCompile(`(?m)^([a-z_]+) ([0-9.e+]+)$`)

// waitMetrics polls /metrics until ready holds (10 s at most), then calls
// check with the values.
func waitMetrics(t *testing.T, base string, ready func(map[string]float64) bool, check func(map[string]float64)) {
	t.Helper()
	var m map[string]float64
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		r := get(t, base+"/metrics", "")
		if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain; version=0.0.4") {
			t.Fatalf("/metrics: %s", r)
		}
		m = map[string]float64{}
		for _, sm := range metricLine.FindAllStringSubmatch(string(r.body), -1) {
			v, _ := strconv.ParseFloat(sm[2], 64)
			m[sm[1]] = v
		}
		if ready(m) {
			check(m)
			return
		}
	}
	t.Fatalf("metrics never ready: %v", m)
}

// qidoAnswers records the answers of every QIDO level, with the server's
// address taken out of the URLs.
func qidoAnswers(t *testing.T, s *server) []string {
	t.Helper()
	var out []string
	for _, p := range []string{"/studies?includefield=all", "/series?includefield=all", "/instances?includefield=all&limit=1000"} {
		r := get(t, s.url(p), acceptJSON)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: %s", p, r)
		}
		out = append(out, strings.ReplaceAll(string(r.body), s.base, ""))
	}
	return out
}

func equalAnswers(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

// rawStore writes and removes objects behind the server's back.
type rawStoreT struct {
	dir    string
	bucket string
	c      *minio.Client
}

func rawStore(t *testing.T, dataDir string, args []string) *rawStoreT {
	t.Helper()
	r := &rawStoreT{dir: filepath.Join(dataDir, "objects")}
	for i, a := range args {
		if a == "--s3-bucket" && i+1 < len(args) {
			r.bucket = args[i+1]
		}
	}
	if r.bucket != "" {
		r.c = minioSrv.Client(t)
	}
	return r
}

func (r *rawStoreT) put(t *testing.T, key string, data []byte) {
	t.Helper()
	if r.c != nil {
		if _, err := r.c.PutObject(context.Background(), r.bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		return
	}
	p := filepath.Join(r.dir, filepath.FromSlash(key))
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (r *rawStoreT) remove(t *testing.T, key string) {
	t.Helper()
	if r.c != nil {
		if err := r.c.RemoveObject(context.Background(), r.bucket, key, minio.RemoveObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := os.Remove(filepath.Join(r.dir, filepath.FromSlash(key))); err != nil {
		t.Fatal(err)
	}
}

func (r *rawStoreT) has(t *testing.T, key string) bool {
	t.Helper()
	if r.c != nil {
		_, err := r.c.StatObject(context.Background(), r.bucket, key, minio.StatObjectOptions{})
		if err != nil && minio.ToErrorResponse(err).Code != minio.NoSuchKey {
			t.Fatal(err)
		}
		return err == nil
	}
	_, err := os.Stat(filepath.Join(r.dir, filepath.FromSlash(key)))
	return err == nil
}
