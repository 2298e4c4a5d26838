package main_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb/testkit/exectest"
	"github.com/minipacs/minipacs/storage/s3/miniotest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Shared state built once by TestMain.
var (
	binPath  string            // the minipacs binary under test
	minioSrv *miniotest.Server // nil when there is no minio binary
	buildErr error
)

func TestMain(m *testing.M) {
	flag.Parse()
	tmp, err := os.MkdirTemp("", "minipacs-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(tmp, "minipacs")
	buildErr = buildBinary(binPath)

	stopMinio := func() {}
	if buildErr == nil {
		minioSrv, stopMinio, err = miniotest.StartShared("minipacs-e2e-minio")
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e: start minio:", err)
			os.RemoveAll(tmp)
			os.Exit(1)
		}
	}
	code := m.Run()
	stopMinio()
	os.RemoveAll(tmp)
	os.Exit(code)
}

// buildBinary builds ./ (cmd/minipacs) into out, with -race when this test
// binary has the race detector, so that data races in the server show up.
func buildBinary(out string) error {
	goBin := "go" // the go command of PATH, as the README's make test uses
	args := []string{"build", "-o", out}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, ".")
	cmd := exec.Command(goBin, args...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, buf.String())
	}
	return nil
}

// storeKind says which object store a server runs on.
type storeKind struct {
	name string
	// args returns the storage flags for a fresh store (a new bucket for
	// S3); the same args reopen the same store.
	args func(t *testing.T) []string
	env  []string
}

var diskStore = storeKind{name: "disk", args: func(*testing.T) []string { return []string{"--storage", "disk"} }}

func s3Store(t *testing.T) storeKind {
	t.Helper()
	minioSrv := miniotest.Need(t, minioSrv)
	return storeKind{
		name: "s3",
		args: func(t *testing.T) []string {
			t.Helper()
			bucket := minioSrv.NewBucket(t, "e2e")
			return []string{"--storage", "s3", "--s3-endpoint", minioSrv.Endpoint, "--s3-bucket", bucket, "--s3-insecure"}
		},
		env: []string{"MINIPACS_S3_ACCESS_KEY=" + minioSrv.AccessKey, "MINIPACS_S3_SECRET_KEY=" + minioSrv.SecretKey},
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// server is a running minipacs process.
type server struct {
	t       *testing.T
	addr    string // 127.0.0.1:port
	base    string // http://127.0.0.1:port (https with TLS)
	dataDir string
	args    []string
	env     []string
	cmd     *exec.Cmd
	stderr  *exectest.Buffer
	exited  chan struct{}
	waitErr error
	checked sync.Once
}

// dicomweb returns the URL of a DICOMweb path.
func (s *server) url(path string) string { return s.base + "/dicomweb" + path }

// startServer starts minipacs on a fresh data directory with the given
// store and stops it when the test ends.
func startServer(t *testing.T, st storeKind, extraArgs ...string) *server {
	t.Helper()
	args := append(st.args(t), extraArgs...)
	return startServerDir(t, t.TempDir(), args, st.env)
}

// startServerDir starts minipacs on dataDir with args (storage flags and
// more) and env, over HTTP.
func startServerDir(t *testing.T, dataDir string, args, env []string) *server {
	t.Helper()
	return launch(t, dataDir, args, env, "http", &http.Client{Timeout: time.Second})
}

// launch starts `minipacs serve` on a free loopback port and dataDir with
// args, and env added to cleanEnv(), and waits until scheme://addr/healthz
// answers 200 through client. It retries on a port conflict and stops the
// server when the test ends.
func launch(t *testing.T, dataDir string, args, env []string, scheme string, client *http.Client) *server {
	t.Helper()
	if buildErr != nil {
		t.Fatalf("build of cmd/minipacs failed: %v", buildErr)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := tryStart(t, dataDir, args, env, scheme, client)
		if err == nil {
			t.Cleanup(func() {
				s.stop(syscall.SIGTERM)
				if t.Failed() {
					t.Logf("minipacs stderr (%s):\n%s", s.base, tail(s.stderr.String(), 200))
				}
			})
			return s
		}
		lastErr = err
	}
	t.Fatalf("start minipacs: %v", lastErr)
	return nil
}

func tryStart(t *testing.T, dataDir string, args, env []string, scheme string, client *http.Client) (*server, error) {
	addr := freeAddr(t)
	s := &server{
		t: t, addr: addr, base: scheme + "://" + addr, dataDir: dataDir, args: args, env: env,
		stderr: &exectest.Buffer{}, exited: make(chan struct{}),
	}
	// No DIMSE listener on the fixed default port unless a test asks for
	// one (a later --dimse-listen in args wins).
	full := append([]string{"serve", "--listen", addr, "--data", dataDir, "--dimse-listen=", "--hl7-listen="}, args...)
	s.cmd = exec.Command(binPath, full...)
	s.cmd.Env = append(cleanEnv(), env...)
	s.cmd.Stdout = s.stderr
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return nil, fmt.Errorf("minipacs exited during start-up (%v):\n%s", s.waitErr, tail(s.stderr.String(), 50))
		default:
		}
		resp, err := client.Get(s.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.stop(syscall.SIGKILL)
	return nil, fmt.Errorf("minipacs did not answer /healthz within 15s:\n%s", tail(s.stderr.String(), 50))
}

// freeAddr returns a loopback host:port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// cleanEnv is the environment without MINIPACS_* variables, which the
// server reads as flag defaults.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MINIPACS_") {
			env = append(env, kv)
		}
	}
	return env
}

// stop sends sig, waits up to 10 s, then kills. It returns the exit code
// (-1 when killed by a signal) and how long the exit took. Calling it
// again after the process exited is harmless.
func (s *server) stop(sig syscall.Signal) (code int, took time.Duration) {
	start := time.Now()
	select {
	case <-s.exited:
	default:
		s.cmd.Process.Signal(sig)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			s.t.Errorf("minipacs did not exit within 10s of %v: killing it", sig)
			s.cmd.Process.Kill()
			<-s.exited
		}
	}
	took = time.Since(start)
	if s.cmd.ProcessState == nil {
		return -1, took
	}
	s.checked.Do(func() {
		if raceEnabled && strings.Contains(s.stderr.String(), "WARNING: DATA RACE") {
			s.t.Errorf("the server reported a data race:\n%s", tail(s.stderr.String(), 200))
		}
	})
	return s.cmd.ProcessState.ExitCode(), took
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = append([]string{"[... " + strconv.Itoa(len(l)-lines) + " lines cut]"}, l[len(l)-lines:]...)
	}
	return strings.Join(l, "\n")
}
