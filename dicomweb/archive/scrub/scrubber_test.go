package scrub

import (
	"bytes"
	"context"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb/testkit/exectest"
)

func TestScrubber(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b, 6)
			bad := append([]byte(nil), e.objs[2].data...)
			bad[0] ^= 0xff
			ctx := context.Background()
			if err := e.store.Put(ctx, e.objs[2].key, bytes.NewReader(bad), int64(len(bad))); err != nil {
				t.Fatal(err)
			}
			if err := e.store.Delete(ctx, e.objs[4].key); err != nil {
				t.Fatal(err)
			}
			var logs exectest.Buffer
			s := NewScrubber(e.idx, e.store, ScrubConfig{
				Interval: 20 * time.Millisecond, InitialDelay: time.Millisecond, BytesPerSecond: 50 << 20,
				Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			})
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { s.Run(runCtx); close(done) }()
			deadline := time.Now().Add(10 * time.Second)
			for s.Counters().Passes.Load() < 2 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			cancel()
			<-done
			c := s.Counters()
			passes := c.Passes.Load()
			if passes < 2 {
				t.Fatalf("%d passes", passes)
			}
			// Passes counted so far; a pass cut short by cancel counts
			// its objects but not itself, hence the ranges.
			if got := c.Mismatch.Load(); got < passes || got > passes+1 {
				t.Errorf("mismatch_total %d after %d passes", got, passes)
			}
			if got := c.Missing.Load(); got < passes || got > passes+1 {
				t.Errorf("missing_total %d after %d passes", got, passes)
			}
			if got := c.ObjectsChecked.Load(); got < 5*passes {
				t.Errorf("objects_checked_total %d after %d passes", got, passes)
			}
			if c.LastCompleted().IsZero() || time.Since(c.LastCompleted()) > time.Minute || c.Running.Load() {
				t.Errorf("last completed %v, running %v", c.LastCompleted(), c.Running.Load())
			}
			// Problems are logged with key and UIDs.
			if l := logs.String(); !strings.Contains(l, e.objs[2].key) || !strings.Contains(l, e.objs[4].key) || !strings.Contains(l, "sop_instance_uid="+e.objs[2].sop) {
				t.Errorf("log lacks the problems:\n%s", l)
			}

			var out bytes.Buffer
			if err := c.WriteMetrics(&out); err != nil {
				t.Fatal(err)
			}
			checkExposition(t, out.String(), map[string]float64{
				"minipacs_scrub_objects_checked_total":            float64(c.ObjectsChecked.Load()),
				"minipacs_scrub_bytes_checked_total":              float64(c.BytesChecked.Load()),
				"minipacs_scrub_missing_total":                    float64(c.Missing.Load()),
				"minipacs_scrub_mismatch_total":                   float64(c.Mismatch.Load()),
				"minipacs_scrub_errors_total":                     0,
				"minipacs_scrub_passes_total":                     float64(passes),
				"minipacs_scrub_running":                          0,
				"minipacs_scrub_last_completed_timestamp_seconds": -1, // any positive value
			})
		})
	}
}

func TestScrubberOff(t *testing.T) {
	s := NewScrubber(nil, nil, ScrubConfig{})
	done := make(chan struct{})
	go func() { s.Run(context.Background()); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("Run with Interval 0 did not return")
	}
	var out bytes.Buffer
	if err := s.Counters().WriteMetrics(&out); err != nil || !strings.Contains(out.String(), "minipacs_scrub_last_completed_timestamp_seconds 0.000\n") {
		t.Errorf("metrics before any pass: %v\n%s", err, out.String())
	}
}

// checkExposition checks the Prometheus text format: HELP and TYPE before
// each sample, and the sample values (want < 0: any positive value).
var sampleLine = regexp.MustCompile(`^([a-z_]+) ([0-9.e+]+)$`)

func checkExposition(t *testing.T, text string, want map[string]float64) {
	t.Helper()
	seen := map[string]bool{}
	var help, typ string
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, "# HELP "):
			help = strings.Fields(line)[2]
		case strings.HasPrefix(line, "# TYPE "):
			f := strings.Fields(line)
			typ = f[2]
			if f[3] != "counter" && f[3] != "gauge" {
				t.Errorf("bad type line %q", line)
			}
		default:
			m := sampleLine.FindStringSubmatch(line)
			if m == nil {
				t.Errorf("bad sample line %q", line)
				continue
			}
			if help != m[1] || typ != m[1] {
				t.Errorf("sample %s without its HELP/TYPE", m[1])
			}
			w, ok := want[m[1]]
			if !ok {
				t.Errorf("unexpected metric %s", m[1])
				continue
			}
			seen[m[1]] = true
			var v float64
			if _, err := fmtSscan(m[2], &v); err != nil {
				t.Errorf("%s: %v", line, err)
			}
			if (w < 0 && v <= 0) || (w >= 0 && v != w) {
				t.Errorf("%s = %v, want %v", m[1], v, w)
			}
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("metric %s missing", name)
		}
	}
}
