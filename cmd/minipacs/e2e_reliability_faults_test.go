package main_test

// Storage faults: minipacs on --storage s3 behind a fault-injecting proxy
// (storage/s3/faultproxy) in front of the real MinIO. Object store errors
// and hangs make STOW fail per instance (0xA700 out of resources), WADO
// answer 503 with Retry-After, while QIDO keeps answering from the index;
// every call ends within the S3 timeout; the same request succeeds once
// the fault clears; no proxied request stays open.

import (
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/minipacs/minipacs/storage/s3/faultproxy"
)

func TestReliabilityStorageFaults(t *testing.T) {
	st := s3Store(t)
	if out, _ := exec.Command(binPath, "serve", "-h").CombinedOutput(); !strings.Contains(string(out), "s3-timeout") {
		t.Fatal("the binary has no --s3-timeout flag (s3.Config.Timeout)")
	}
	p, err := faultproxy.New(minioSrv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	args := st.args(t)
	for i, a := range args {
		if a == "--s3-endpoint" {
			args[i+1] = p.Endpoint()
		}
	}
	const timeout = 2 * time.Second
	args = append(args, "--s3-timeout", timeout.String())
	s := startServerDir(t, t.TempDir(), args, st.env)
	corpus := genCorpus(t, "-mode", "tiny", "-n", "40", "-seed", "66")
	stored := corpus[:5]
	if status, body, err := postBatch(t.Context(), httpClient, s.base, stored); err != nil || status != 200 {
		t.Fatalf("clean upload: %d %v %.300s", status, err, body)
	}
	next := 5
	faults := []struct {
		name string
		rule faultproxy.Rule
	}{
		{"503 on everything", faultproxy.Rule{Fault: faultproxy.Status, Code: 503}},
		{"500 on everything", faultproxy.Rule{Fault: faultproxy.Status, Code: 500}},
		{"connection resets", faultproxy.Rule{Fault: faultproxy.Reset}},
		{"stall", faultproxy.Rule{Fault: faultproxy.Stall}},
		{"reset mid-body", faultproxy.Rule{Fault: faultproxy.ResetMidBody, Chunk: 100}},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			in := corpus[next]
			next++
			p.Set(f.rule)
			// STOW: per-instance failure, nothing acknowledged.
			start := time.Now()
			status, body, err := postBatch(t.Context(), httpClient, s.base, []*synthInstance{in})
			took := time.Since(start)
			if err != nil {
				t.Fatalf("STOW: %v", err)
			}
			if f.rule.Fault != faultproxy.ResetMidBody { // a PUT has no response body to cut
				if status != http.StatusConflict || !strings.Contains(string(body), `"00081197":{"vr":"US","Value":[42752]}`) {
					t.Errorf("STOW during the fault: %d %.300s, want 409 with FailureReason 42752 (0xA700)", status, body)
				}
			}
			if took > 3*timeout+5*time.Second {
				t.Errorf("STOW took %v with a %v timeout", took, timeout)
			}
			// WADO: 503 + Retry-After (the headers of a 200 never went out).
			start = time.Now()
			if f.rule.Fault == faultproxy.ResetMidBody {
				// The store's answer breaks after its headers: the 200 may
				// have started, and then the transfer must break (never a
				// complete body with an error in it).
				if v := retrieveOne(s, stored[0]); v == "" {
					t.Errorf("WADO during %s: a complete, correct answer", f.name)
				}
			} else if r := do(t, "GET", s.url(stored[0].path()), http.Header{"Accept": {acceptDICOM}}, nil); r.status != 503 || r.header.Get("Retry-After") == "" {
				t.Errorf("WADO during the fault: %s, want 503 with Retry-After", r)
			}
			if d := time.Since(start); d > 3*timeout+5*time.Second {
				t.Errorf("WADO took %v", d)
			}
			// QIDO: from the index, unaffected.
			r := get(t, s.url("/studies/"+stored[0].study+"/series"), acceptJSON)
			if r.status != 200 || !strings.Contains(string(r.body), stored[0].series) {
				t.Errorf("QIDO during the fault: %s", r)
			}
			// Fault clears: the same requests succeed.
			p.Clear()
			if status, body, err := postBatch(t.Context(), httpClient, s.base, []*synthInstance{in}); err != nil || status != 200 {
				t.Errorf("STOW retried after the fault: %d %v %.300s", status, err, body)
			}
			if v := retrieveOne(s, in); v != "" {
				t.Error(v)
			}
			if v := retrieveOne(s, stored[0]); v != "" {
				t.Error(v)
			}
			if n := p.WaitIdle(10 * time.Second); n != 0 {
				t.Errorf("%d object store requests still open", n)
			}
		})
	}
	// A download whose client disconnects mid-way, with a slow store.
	p.Set(faultproxy.Rule{Method: "GET", Fault: faultproxy.SlowBody, Chunk: 64, Delay: 50 * time.Millisecond})
	req, _ := http.NewRequest("GET", s.url(stored[1].path()), nil)
	req.Header.Set("Accept", acceptDICOM)
	c := &http.Client{Timeout: 300 * time.Millisecond}
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
	}
	p.Clear()
	if n := p.WaitIdle(10 * time.Second); n != 0 {
		t.Errorf("client gone mid-download: %d object store requests still open", n)
	}
}
