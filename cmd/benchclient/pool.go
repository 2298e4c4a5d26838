package main

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"sync"
	"time"
)

// runWorkers hands every item of items to one of clients goroutines, which
// call do on it, and returns the time from the start of the work to the end
// of the last call. When ctx ends first, handing out stops and the
// cancellation is counted in cnt as one error.
func runWorkers[T any](ctx context.Context, clients int, items iter.Seq[T], cnt *counters, do func(T)) time.Duration {
	work := make(chan T)
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for it := range work {
				do(it)
			}
		})
	}
feed:
	for it := range items {
		select {
		case work <- it:
		case <-ctx.Done():
			cnt.addError(ctx.Err())
			break feed
		}
	}
	close(work)
	wg.Wait()
	return time.Since(start)
}

// repeat yields every element of s, rounds times over.
func repeat[T any](s []T, rounds int) iter.Seq[T] {
	return func(yield func(T) bool) {
		for range rounds {
			for _, v := range s {
				if !yield(v) {
					return
				}
			}
		}
	}
}

// loadFlags are the flags of the subcommands that send requests for every
// instance of a series from concurrent clients (frames, rendered).
type loadFlags struct {
	series  seriesFlags
	clients int
	rounds  int
	name    string
	timeout time.Duration
}

// register adds the flags to fs; rounds is the default of -rounds.
func (f *loadFlags) register(fs interface {
	StringVar(*string, string, string, string)
	IntVar(*int, string, int, string)
	DurationVar(*time.Duration, string, time.Duration, string)
}, cmd string, rounds int) {
	f.series.register(fs)
	fs.IntVar(&f.clients, "clients", 4, "concurrent clients")
	fs.IntVar(&f.rounds, "rounds", rounds, "passes over every instance of the series")
	fs.StringVar(&f.name, "name", "", "result name (default "+cmd+"_c<clients>)")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Minute, "timeout of the whole run")
}

// loadTarget is what a series load run works on.
type loadTarget struct {
	client *http.Client
	series string   // URL of the series
	sops   []string // its SOPInstanceUIDs
}

// prepare checks the parsed flags, defaults the result name, and resolves
// the series and its instances within the -timeout context that it returns
// (the caller must call cancel). cmd names the subcommand in errors.
func (f *loadFlags) prepare(ctx context.Context, cmd string) (context.Context, context.CancelFunc, loadTarget, error) {
	if f.clients < 1 || f.rounds < 1 {
		return ctx, func() {}, loadTarget{}, fmt.Errorf("%s: -clients and -rounds must be at least 1", cmd)
	}
	if f.name == "" {
		f.name = fmt.Sprintf("%s_c%d", cmd, f.clients)
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	t := loadTarget{client: newHTTPClient(f.clients, 0)}
	ref, err := f.series.resolve(ctx, t.client)
	if err != nil {
		return ctx, cancel, t, fmt.Errorf("%s: %w", cmd, err)
	}
	if t.sops, err = listInstances(ctx, t.client, f.series.base, ref.Study, ref.Series); err != nil {
		return ctx, cancel, t, fmt.Errorf("%s: %w", cmd, err)
	}
	if len(t.sops) == 0 {
		return ctx, cancel, t, errors.New(cmd + ": the series has no instances")
	}
	t.series = seriesURL(f.series.base, ref)
	return ctx, cancel, t, nil
}
