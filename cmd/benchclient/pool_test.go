package main

import (
	"context"
	"sync/atomic"
	"testing"
)

func TestRunWorkers(t *testing.T) {
	t.Run("every item once per round", func(t *testing.T) {
		cnt := newCounters()
		var sum atomic.Int64
		runWorkers(context.Background(), 3, repeat([]int{1, 2, 3}, 4), cnt, func(v int) { sum.Add(int64(v)) })
		if got := sum.Load(); got != 24 || cnt.errors != 0 {
			t.Fatalf("sum %d, errors %d; want 24, 0", got, cnt.errors)
		}
	})
	t.Run("cancelled context stops the feed and counts one error", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cnt := newCounters()
		var done atomic.Int64
		runWorkers(ctx, 1, repeat([]int{0}, 1000), cnt, func(int) {
			if done.Add(1) == 5 {
				cancel()
			}
		})
		// Once ctx is done, each hand-out picks the worker or the
		// cancellation at random: a few more items may go out, not 1000.
		if n := done.Load(); n < 5 || n > 100 {
			t.Fatalf("%d items done after cancelling at the 5th; want 5 to 100", n)
		}
		if cnt.errors != 1 || cnt.firstErr != context.Canceled.Error() {
			t.Fatalf("errors %d (%q); want 1 (%q)", cnt.errors, cnt.firstErr, context.Canceled)
		}
	})
}
