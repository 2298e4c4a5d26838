package main_test

// Helpers of the reliability suites (e2e_reliability_*_test.go): a
// synthetic corpus from cmd/gencorpus, the consistency check run after every
// crash, and the subcommands of the binary.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minipacs/minipacs/index"
	bolt "go.etcd.io/bbolt"
)

// longRun is true under `make test-long` (MINIPACS_LONG=1): the suites run
// their full sizes instead of the CI ones.
var longRun = os.Getenv("MINIPACS_LONG") == "1"

// synthInstance is one generated instance.
type synthInstance struct {
	study, series, sop string
	data               []byte   // as sent
	sum                [32]byte // SHA-256 of the stored form (preamble zeroed)
}

func (in *synthInstance) path() string {
	return "/studies/" + in.study + "/series/" + in.series + "/instances/" + in.sop
}

var (
	gencorpusOnce sync.Once
	gencorpusBin  string
	gencorpusErr  error
)

// genCorpus runs cmd/gencorpus with args (plus -out) and loads its files
// in manifest order.
func genCorpus(t *testing.T, args ...string) []*synthInstance {
	t.Helper()
	gencorpusOnce.Do(func() {
		gencorpusBin = filepath.Join(filepath.Dir(binPath), "gencorpus")
		out, err := exec.Command("go", "build", "-o", gencorpusBin, "../gencorpus").CombinedOutput()
		if err != nil {
			gencorpusErr = fmt.Errorf("build gencorpus: %w\n%s", err, out)
		}
	})
	if gencorpusErr != nil {
		t.Fatal(gencorpusErr)
	}
	dir := t.TempDir()
	if out, err := exec.Command(gencorpusBin, append(args, "-out", dir)...).CombinedOutput(); err != nil {
		t.Fatalf("gencorpus %v: %v\n%s", args, err, out)
	}
	man, err := os.ReadFile(filepath.Join(dir, "manifest.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	var list []*synthInstance
	for i, line := range strings.Split(strings.TrimSpace(string(man)), "\n") {
		f := strings.Split(line, "\t")
		if i == 0 || len(f) < 4 {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, f[0]))
		if err != nil {
			t.Fatal(err)
		}
		in := &synthInstance{study: f[1], series: f[2], sop: f[3], data: data}
		in.sum = storedSum(data)
		list = append(list, in)
	}
	if len(list) == 0 {
		t.Fatal("gencorpus wrote no files")
	}
	return list
}

// storedSum is the SHA-256 of data with its preamble zeroed, as stored.
func storedSum(data []byte) [32]byte {
	b := bytes.Clone(data)
	clear(b[:min(128, len(b))])
	return sha256.Sum256(b)
}

// runCmd runs a subcommand of the binary on dataDir with the storage args
// and returns its combined output.
func runCmd(t *testing.T, env []string, sub string, dataDir string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, append([]string{sub, "--data", dataDir}, args...)...)
	cmd.Env = append(cleanEnv(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// hasCommand reports whether the binary has subcommand name (verify and
// gc come from another change and may be missing).
func hasCommand(name string) bool {
	out, _ := exec.Command(binPath, "help").CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == name {
			return true
		}
	}
	return false
}

// storageOnly returns the storage flags of a server's args.
func storageOnly(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if strings.HasPrefix(args[i], "--storage") || strings.HasPrefix(args[i], "--s3-") {
			out = append(out, args[i])
			if args[i] != "--s3-insecure" && args[i] != "--s3-create-bucket" && i+1 < len(args) && !strings.Contains(args[i], "=") {
				out = append(out, args[i+1])
				i++
			}
		}
	}
	return out
}

// storeKeys lists the object keys in the store of a stopped server.
func storeKeys(t *testing.T, dataDir string, args []string) map[string]bool {
	t.Helper()
	keys := map[string]bool{}
	bucket := ""
	for i, a := range args {
		if a == "--s3-bucket" && i+1 < len(args) {
			bucket = args[i+1]
		}
	}
	if bucket == "" {
		root := filepath.Join(dataDir, "objects")
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(root, p)
				keys[filepath.ToSlash(rel)] = true
			}
			return nil
		})
		return keys
	}
	c := minioSrv.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("list bucket %s: %v", bucket, o.Err)
		}
		keys[o.Key] = true
	}
	return keys
}

// boltCheck opens the index file read-only and runs bbolt's consistency
// check. The server must be stopped.
func boltCheck(path string) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
}

// ackSet records the instances a server acknowledged (200/202 and listed
// in ReferencedSOPSequence), by SOP Instance UID.
type ackSet struct {
	mu   sync.Mutex
	acks map[string]*synthInstance
}

func newAckSet() *ackSet { return &ackSet{acks: map[string]*synthInstance{}} }

// record adds the instances of batch that res lists as referenced.
func (a *ackSet) record(status int, body []byte, batch []*synthInstance) error {
	if status != http.StatusOK && status != http.StatusAccepted {
		return nil
	}
	res, err := parseStow(body)
	if err != nil {
		return err
	}
	by := map[string]*synthInstance{}
	for _, in := range batch {
		by[in.sop] = in
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range res.referenced {
		in := by[r.instanceUID]
		if in == nil {
			return fmt.Errorf("acknowledged %q, which was not sent", r.instanceUID)
		}
		a.acks[in.sop] = in
	}
	return nil
}

func (a *ackSet) list() []*synthInstance {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]*synthInstance, 0, len(a.acks))
	for _, in := range a.acks {
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].sop < out[j].sop })
	return out
}

// postBatch sends a STOW request of batch with client; err is a transport
// error (the server went away).
func postBatch(ctx context.Context, client *http.Client, base string, batch []*synthInstance) (int, []byte, error) {
	parts := make([][]byte, len(batch))
	for i, in := range batch {
		parts[i] = in.data
	}
	body, ct := multipartBody(parts...)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/dicomweb/studies", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Accept", acceptJSON)
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return resp.StatusCode, nil, err
	}
	return resp.StatusCode, buf.Bytes(), nil
}

// retrieveViolations checks over HTTP that every instance of acks is
// retrievable bit-exact from the running server s.
func retrieveViolations(t *testing.T, s *server, acks []*synthInstance) []string {
	t.Helper()
	var (
		mu  sync.Mutex
		out []string
		wg  sync.WaitGroup
	)
	work := make(chan *synthInstance)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for in := range work {
				v := retrieveOne(s, in)
				if v != "" {
					mu.Lock()
					out = append(out, v)
					mu.Unlock()
				}
			}
		}()
	}
	for _, in := range acks {
		work <- in
	}
	close(work)
	wg.Wait()
	sort.Strings(out)
	return out
}

func retrieveOne(s *server, in *synthInstance) string {
	req, _ := http.NewRequest(http.MethodGet, s.url(in.path()), nil)
	req.Header.Set("Accept", acceptDICOM)
	resp, err := httpClient.Do(req)
	if err != nil {
		return fmt.Sprintf("acked %s: GET: %v", in.sop, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Sprintf("acked %s: GET status %d", in.sop, resp.StatusCode)
	}
	r := &response{status: resp.StatusCode, header: resp.Header, body: buf.Bytes()}
	parts, err := splitMultipart(r)
	if err != nil || len(parts) != 1 {
		return fmt.Sprintf("acked %s: bad multipart (%v, %d parts)", in.sop, err, len(parts))
	}
	if sha256.Sum256(parts[0]) != in.sum {
		return fmt.Sprintf("acked %s: content differs (not bit-exact)", in.sop)
	}
	return ""
}

// storeViolations checks a stopped server's data directory: bbolt's
// consistency check, every object the index references exists, and no
// object exists that the index does not reference (orphans). It returns
// the violations and the orphans separately (orphans are then handed to
// gc).
func storeViolations(t *testing.T, dataDir string, args []string) (violations, orphans []string) {
	t.Helper()
	idxPath := filepath.Join(dataDir, "index.db")
	if err := boltCheck(idxPath); err != nil {
		violations = append(violations, "bbolt check: "+err.Error())
		return violations, nil
	}
	ctx := context.Background()
	idx, err := index.Open(ctx, idxPath, index.Options{})
	if err != nil {
		return append(violations, "open index: "+err.Error()), nil
	}
	referenced := map[string]bool{}
	err = idx.ForEachObject(ctx, func(key string) error { referenced[key] = true; return nil })
	idx.Close()
	if err != nil {
		return append(violations, "index objects: "+err.Error()), nil
	}
	keys := storeKeys(t, dataDir, args)
	for k := range referenced {
		if !keys[k] {
			violations = append(violations, "index entry points to a missing object "+k)
		}
	}
	for k := range keys {
		if !referenced[k] {
			orphans = append(orphans, k)
		}
	}
	sort.Strings(violations)
	sort.Strings(orphans)
	return violations, orphans
}

// adminChecks runs `minipacs gc --grace 0` and `minipacs verify` on a
// stopped server's data when the binary has them, and fails on a non-zero
// verify. It returns what was run, for the log.
func adminChecks(t *testing.T, dataDir string, args, env []string) (ran []string, violations []string) {
	t.Helper()
	st := storageOnly(args)
	if hasCommand("gc") {
		out, err := runCmd(t, env, "gc", dataDir, append(append([]string{}, st...), "--grace", "0")...)
		if err != nil {
			violations = append(violations, fmt.Sprintf("gc: %v\n%s", err, tail(out, 20)))
		}
		ran = append(ran, "gc")
	}
	if hasCommand("verify") {
		out, err := runCmd(t, env, "verify", dataDir, st...)
		if err != nil {
			violations = append(violations, fmt.Sprintf("verify: %v\n%s", err, tail(out, 20)))
		}
		ran = append(ran, "verify")
	}
	return ran, violations
}

// killed reports whether the server process ended by SIGKILL.
func (s *server) killedBySignal() bool {
	<-s.exited
	ws, ok := s.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// spoolFiles lists the files left in a data directory's spool.
func spoolFiles(dataDir string) []string {
	var left []string
	filepath.WalkDir(filepath.Join(dataDir, "spool"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, filepath.Base(p))
		}
		return nil
	})
	return left
}

// splitMultipart returns the part bodies of a multipart/related response.
func splitMultipart(r *response) ([][]byte, error) {
	mt, params, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	if err != nil || mt != "multipart/related" {
		return nil, fmt.Errorf("Content-Type %q is not multipart/related", r.header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(r.body), params["boundary"])
	var out [][]byte
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return out, err
		}
		out = append(out, b)
	}
}
