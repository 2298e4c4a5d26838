package scrub

import (
	"context"
	"log/slog"
	"time"

	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/storage"
)

// ScrubConfig configures a background Scrubber.
type ScrubConfig struct {
	// Interval between the end of one pass and the start of the next
	// (0: the scrubber does nothing).
	Interval time.Duration
	// InitialDelay before the first pass (default: Interval or 10
	// minutes, whichever is shorter, so a server restarted daily still
	// scrubs).
	InitialDelay time.Duration
	// BytesPerSecond throttles reading (0: no limit).
	BytesPerSecond int64
	// Concurrency is the number of objects read at once (default 2).
	Concurrency int
	Logger      *slog.Logger
}

// Scrubber verifies every indexed object periodically, in the background
// of the server, throttled. It never lists orphans (uploads in flight make
// them appear) and never changes anything: it counts and logs.
type Scrubber struct {
	idx      Index
	store    storage.Store
	cfg      ScrubConfig
	log      *slog.Logger
	counters Counters
}

// NewScrubber returns a scrubber of store against idx.
func NewScrubber(idx Index, store storage.Store, cfg ScrubConfig) *Scrubber {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 2
	}
	if cfg.InitialDelay <= 0 {
		cfg.InitialDelay = min(cfg.Interval, 10*time.Minute)
	}
	return &Scrubber{idx: idx, store: store, cfg: cfg, log: cfg.Logger.With("component", "scrub")}
}

// Counters returns the scrubber's cumulative counters.
func (s *Scrubber) Counters() *Counters { return &s.counters }

// Run scrubs every Interval until ctx is done. It returns at once when
// Interval is 0.
func (s *Scrubber) Run(ctx context.Context) {
	if s.cfg.Interval <= 0 {
		return
	}
	t := time.NewTimer(s.cfg.InitialDelay)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.turn(ctx)
		t.Reset(s.cfg.Interval)
	}
}

// turn runs a pass, or, on an index that several nodes share
// (index.Turns), a pass when it is this node's turn: no other node
// scrubbing and none having completed a pass within the interval. Each
// node otherwise re-reads the whole bucket once an interval.
func (s *Scrubber) turn(ctx context.Context) {
	turns, ok := s.idx.(index.Turns)
	if !ok {
		s.RunOnce(ctx)
		return
	}
	done, mine, err := turns.TakeTurn(ctx, "scrub", s.cfg.Interval)
	if err != nil {
		s.log.Warn("scrub: cannot take the turn", "err", err)
		return
	}
	if !mine {
		s.log.Debug("scrub: another node scrubs, or did within the interval")
		return
	}
	rep := s.RunOnce(ctx)
	done(rep != nil)
}

// RunOnce makes one pass over the whole index and returns its report (nil
// when the pass failed; the failure is logged).
func (s *Scrubber) RunOnce(ctx context.Context) *Report {
	s.counters.Running.Store(true)
	defer s.counters.Running.Store(false)
	s.log.Info("scrub pass started", "bytes_per_second", s.cfg.BytesPerSecond)
	rep, err := Verify(ctx, s.idx, s.store, Options{
		Concurrency:    s.cfg.Concurrency,
		BytesPerSecond: s.cfg.BytesPerSecond,
		Counters:       &s.counters,
		MaxProblems:    100,
		Logger:         s.log,
	})
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("scrub pass failed", "err", err, "checked", rep.Checked)
		}
		return nil
	}
	s.counters.Passes.Add(1)
	s.counters.setLastCompleted(rep.Finished)
	lv := slog.LevelInfo
	if !rep.OK() {
		lv = slog.LevelError
	}
	s.log.Log(ctx, lv, "scrub pass completed", "instances", rep.Instances, "checked", rep.Checked, "bytes", rep.Bytes,
		"missing", rep.Missing, "mismatch", rep.Mismatch, "unreadable", rep.Unreadable,
		"duration", rep.Finished.Sub(rep.Started).Round(time.Millisecond))
	return rep
}
