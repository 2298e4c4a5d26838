// Package exectest helps tests that run external programs: the minipacs
// binary, node, npm. It finds tools (skipping the test when one is missing,
// failing it under CI), streams a command's output into the test log, and
// collects a child's output in a buffer that is safe to read while the
// child writes.
package exectest

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// LookTool returns the path of the executable name. A missing one skips
// the test, except when $CI is set: CI must have every tool installed
// (scripts/install-deps), so there it fails the test.
func LookTool(t testing.TB, name string) string {
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

// RunLogged runs name with args in dir (env nil: the test's environment),
// streaming its output line by line into the test log, and fails the test
// when the command fails or outlives timeout.
func RunLogged(t testing.TB, timeout time.Duration, dir string, env []string, name string, args ...string) {
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

// Buffer is a bytes.Buffer safe for concurrent use: a child process's
// stdout and stderr, or a logger, write to it while the test reads it.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
