package hl7

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb/testkit/exectest"
)

// TestMLLPSend sends the testdata messages with python-hl7's mllp_send
// (a real MLLP peer, scripts/install-deps installs python3-hl7), twice:
// every message is answered AA, the second time from the journal.
func TestMLLPSend(t *testing.T) {
	tool := exectest.LookTool(t, "mllp_send")
	python := exectest.LookTool(t, "/usr/bin/python3")
	ts := startServer(t, Config{})
	files := []string{"adt_a01.hl7", "adt_a08.hl7", "adt_a40.hl7", "adt_a47.hl7", "orm_o01.hl7", "omi_o23.hl7", "oru_r01.hl7", "adt_a08_hash.hl7"}
	// mllp_send reads messages ended by <FS> (and strips <VT> and CR).
	var in bytes.Buffer
	for _, f := range files {
		in.Write(readMessage(t, f))
		in.WriteByte(endBlock)
	}
	path := filepath.Join(t.TempDir(), "messages.hl7")
	if err := os.WriteFile(path, in.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(ts.addr, ":")
	for round := range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, python, tool, "--port", port, "--file", path, "127.0.0.1")
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("mllp_send: %v\n%s", err, out)
		}
		// It prints each ACK (framed) on a line.
		var acks []*Message
		for _, b := range bytes.Split(out, []byte{endBlock}) {
			b = bytes.Trim(b, "\r\n\x0b")
			if len(b) == 0 {
				continue
			}
			m, err := Parse(b)
			if err != nil {
				t.Fatalf("ACK %q: %v", b, err)
			}
			acks = append(acks, m)
		}
		if len(acks) != len(files) {
			t.Fatalf("round %d: %d ACKs, want %d:\n%q", round, len(acks), len(files), out)
		}
		for i, a := range acks {
			in, _ := Parse(readMessage(t, files[i]))
			if got := a.Segment("MSA"); got == nil || got.Field(1) != "AA" || got.Field(2) != in.ControlID() {
				t.Errorf("round %d, %s: ACK %q", round, files[i], a.String())
			}
		}
		if got := ts.app.got(); len(got) != len(files) {
			t.Fatalf("round %d: applied %v, want each message once", round, got)
		}
	}
}
