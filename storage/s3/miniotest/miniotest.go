// Package miniotest starts real MinIO servers for tests.
//
// The minio binary is looked up, in order, at $MINIPACS_MINIO,
// $MINIPACS_TOOLS/minio, /root/.cache/minipacs-tools/minio, in $PATH and at
// $(go env GOPATH)/bin/minio; scripts/install-minio builds it. Without a
// binary, tests are skipped locally but fail when $CI is set, so that CI
// never passes by skipping the S3 suite.
//
// A test that needs its own server calls Start. Several tests can share one
// server started from TestMain:
//
//	var srv *miniotest.Server
//
//	func TestMain(m *testing.M) {
//		dir, _ := os.MkdirTemp("", "minio")
//		s, err := miniotest.StartServer(dir)
//		if err != nil && !errors.Is(err, miniotest.ErrNoBinary) {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//		srv = s
//		code := m.Run()
//		if s != nil {
//			s.Close()
//		}
//		os.RemoveAll(dir)
//		os.Exit(code)
//	}
//
// and tests call miniotest.SkipOrFail(t, ...) when srv is nil.
package miniotest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
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
)

// ErrNoBinary is returned by StartServer when no minio binary is found.
var ErrNoBinary = errors.New("miniotest: no minio binary (run scripts/install-minio or set $MINIPACS_MINIO)")

const (
	defaultToolsDir = "/root/.cache/minipacs-tools"
	startTimeout    = 60 * time.Second
	stopTimeout     = 10 * time.Second
)

// Binary returns the path of the minio binary and whether one was found.
func Binary() (string, bool) {
	var candidates []string
	if p := os.Getenv("MINIPACS_MINIO"); p != "" {
		candidates = append(candidates, p)
	}
	if d := os.Getenv("MINIPACS_TOOLS"); d != "" {
		candidates = append(candidates, filepath.Join(d, "minio"))
	}
	candidates = append(candidates, filepath.Join(defaultToolsDir, "minio"))
	if p, err := exec.LookPath("minio"); err == nil {
		candidates = append(candidates, p)
	}
	if gopath := goPath(); gopath != "" {
		candidates = append(candidates, filepath.Join(gopath, "bin", "minio"))
	}
	for _, p := range candidates {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// goPath returns the first entry of $GOPATH, of `go env GOPATH`, or the
// default ~/go.
func goPath() string {
	if gp := os.Getenv("GOPATH"); gp != "" {
		return filepath.SplitList(gp)[0]
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		if gp := strings.TrimSpace(string(out)); gp != "" {
			return filepath.SplitList(gp)[0]
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, "go")
	}
	return ""
}

// SkipOrFail skips the test, or fails it when $CI is set: the S3 tests
// must not pass silently in CI.
func SkipOrFail(t testing.TB, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(append([]any{"miniotest: $CI is set, refusing to skip:"}, args...)...)
		return
	}
	t.Skip(args...)
}

// Server is a running MinIO server.
type Server struct {
	// Endpoint is host:port of the S3 API (plain HTTP).
	Endpoint  string
	AccessKey string
	SecretKey string

	cmd       *exec.Cmd
	exited    chan struct{} // closed when the process has exited
	logPath   string
	closeOnce sync.Once
	closeErr  error
}

// Start starts a MinIO server in a temporary directory for the test and
// stops it when the test ends. Without a minio binary it calls SkipOrFail.
func Start(t testing.TB) (endpoint, accessKey, secretKey string) {
	t.Helper()
	s := StartT(t)
	return s.Endpoint, s.AccessKey, s.SecretKey
}

// StartT is Start returning the Server, for tests that stop it early.
func StartT(t testing.TB) *Server {
	t.Helper()
	if _, ok := Binary(); !ok {
		SkipOrFail(t, ErrNoBinary)
	}
	s, err := StartServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("miniotest: %v", err)
		}
	})
	return s
}

// StartServer starts a MinIO server storing its data in dir and waits
// until it serves requests. The caller must Close it. It returns
// ErrNoBinary when there is no minio binary.
func StartServer(dir string) (*Server, error) {
	bin, ok := Binary()
	if !ok {
		return nil, ErrNoBinary
	}
	var lastErr error
	// A free port can be taken by someone else before MinIO binds it:
	// try again with new ports.
	for range 3 {
		s, err := start(bin, dir)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func start(bin, dir string) (*Server, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, fmt.Errorf("miniotest: %w", err)
	}
	dataDir := filepath.Join(dir, "data")
	certsDir := filepath.Join(dir, "certs")
	for _, d := range []string{dataDir, certsDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("miniotest: %w", err)
		}
	}
	logPath := filepath.Join(dir, fmt.Sprintf("minio-%d.log", ports[0]))
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("miniotest: %w", err)
	}
	defer logFile.Close() // the child has its own descriptor

	s := &Server{
		Endpoint:  "127.0.0.1:" + strconv.Itoa(ports[0]),
		AccessKey: "minipacs-" + randHex(4),
		SecretKey: randHex(16),
		exited:    make(chan struct{}),
		logPath:   logPath,
	}
	cmd := exec.Command(bin, "server",
		"--address", s.Endpoint,
		"--console-address", "127.0.0.1:"+strconv.Itoa(ports[1]),
		"--certs-dir", certsDir,
		"--quiet",
		dataDir)
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+s.AccessKey,
		"MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CALLHOME_ENABLE=off",
	)
	cmd.SysProcAttr = procAttr()
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("miniotest: start %s: %w", bin, err)
	}
	s.cmd = cmd
	go func() {
		cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(); err != nil {
		s.Close()
		return nil, fmt.Errorf("miniotest: %w\n%s", err, s.logTail())
	}
	return s, nil
}

// waitReady polls the liveness endpoint until the server answers 200 with
// its object layer initialised.
func (s *Server) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	url := "http://" + s.Endpoint + "/minio/health/live"
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			// MinIO answers 200 before its object layer is up, with
			// x-minio-server-status: offline.
			if resp.StatusCode == http.StatusOK && resp.Header.Get("X-Minio-Server-Status") == "" {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("minio exited during start-up: %v", s.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("minio not ready at %s after %v", s.Endpoint, startTimeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Close stops the server: SIGTERM, then SIGKILL if it has not exited
// within a few seconds. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if s.cmd == nil || s.cmd.Process == nil {
			return
		}
		select {
		case <-s.exited:
			return
		default:
		}
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			s.cmd.Process.Kill()
		}
		select {
		case <-s.exited:
		case <-time.After(stopTimeout):
			s.cmd.Process.Kill()
			<-s.exited
			s.closeErr = fmt.Errorf("minio at %s ignored SIGTERM for %v; killed", s.Endpoint, stopTimeout)
		}
	})
	return s.closeErr
}

// URL returns the HTTP URL of the S3 API.
func (s *Server) URL() string { return "http://" + s.Endpoint }

// logTail returns the end of the server log, for error messages.
func (s *Server) logTail() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return ""
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(bytes.TrimSpace(b))
}

// freePorts returns n distinct TCP ports that were free on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
