package main_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb/testkit/exectest"
)

// interopDir is the Node.js project with the dicomweb-client tests,
// relative to this package.
var interopDir = filepath.Join("..", "..", "web", "interop")

// TestInteropDicomwebClient runs web/interop (node --test) against a fresh
// server on the disk store: the real dicomweb-client package, the DICOMweb
// client OHIF uses, stores, searches, retrieves and deletes through it.
func TestInteropDicomwebClient(t *testing.T) {
	node := exectest.LookTool(t, "node")
	corpus, err := corpusDir()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := filepath.Abs(interopDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "dicomweb-client", "package.json")); err != nil {
		npm := exectest.LookTool(t, "npm")
		t.Logf("%s: node_modules missing, running npm ci", dir)
		exectest.RunLogged(t, 5*time.Minute, dir, nil, npm, "ci", "--no-audit", "--no-fund")
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
	exectest.RunLogged(t, 2*time.Minute, dir, env, node, "--test", "--test-reporter=spec", "--test-timeout=30000")
}
