package main_test

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// interopDir is the Node.js project with the dicomweb-client tests,
// relative to this package.
var interopDir = filepath.Join("..", "..", "web", "interop")

// TestInteropDicomwebClient runs web/interop (node --test) against a fresh
// server on the disk store: the real dicomweb-client package, the DICOMweb
// client OHIF uses, stores, searches, retrieves and deletes through it.
func TestInteropDicomwebClient(t *testing.T) {
	node := lookTool(t, "node")
	corpus, err := corpusDir()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := filepath.Abs(interopDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "dicomweb-client", "package.json")); err != nil {
		npm := lookTool(t, "npm")
		t.Logf("%s: node_modules missing, running npm ci", dir)
		runLogged(t, 5*time.Minute, dir, nil, npm, "ci", "--no-audit", "--no-fund")
	}

	s := startServer(t, diskStore)
	env := append(cleanEnv(),
		"MINIPACS_URL="+s.url(""),
		"MINIPACS_CORPUS="+corpus,
		"NO_COLOR=1",
	)
	// No path argument: node finds *.test.js under dir (and skips
	// node_modules) the same way on Node 20, where arguments are paths, and
	// on Node 22+, where they are globs.
	runLogged(t, 2*time.Minute, dir, env, node, "--test", "--test-reporter=spec", "--test-timeout=30000")
}

// lookTool finds an executable: a missing one skips the test, except under
// CI, where every tool must be installed (scripts/install-deps).
func lookTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s not found (CI must have it: scripts/install-deps): %v", name, err)
	}
	t.Skipf("%s not found: %v", name, err)
	return ""
}

// runLogged runs a command in dir, streaming its output line by line into
// the test log, and fails the test when it fails or outlives timeout.
func runLogged(t *testing.T, timeout time.Duration, dir string, env []string, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			t.Log(sc.Text())
		}
		io.Copy(io.Discard, pr) // a line longer than the buffer: drain, never block the child
	}()
	err := cmd.Run()
	pw.Close()
	<-done
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		t.Fatalf("%s %s (in %s): %v", filepath.Base(name), strings.Join(args, " "), dir, err)
	}
}
