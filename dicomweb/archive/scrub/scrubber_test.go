package scrub

import (
	"bytes"
	"context"
	"log/slog"
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

			if c.Passes.Load() != int64(passes) || c.Errors.Load() != 0 || c.BytesChecked.Load() <= 0 {
				t.Errorf("passes %d (want %d), errors %d, bytes %d", c.Passes.Load(), passes, c.Errors.Load(), c.BytesChecked.Load())
			}
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
	if c := s.Counters(); !c.LastCompleted().IsZero() || c.Passes.Load() != 0 {
		t.Errorf("counters before any pass: last completed %v, passes %d", c.LastCompleted(), c.Passes.Load())
	}
}
