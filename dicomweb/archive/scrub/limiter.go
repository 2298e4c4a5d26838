package scrub

import (
	"context"
	"io"
	"sync"
	"time"
)

// limiter throttles reads to a number of bytes per second, shared by all
// the goroutines that use it. A nil limiter does not throttle.
type limiter struct {
	rate float64 // bytes per second
	mu   sync.Mutex
	next time.Time // when the bytes already granted are "paid for"
}

func newLimiter(bytesPerSecond int64) *limiter {
	if bytesPerSecond <= 0 {
		return nil
	}
	return &limiter{rate: float64(bytesPerSecond)}
}

// wait accounts for n bytes just read and sleeps until reading them fits
// the rate. It returns ctx's error if ctx ends first.
func (l *limiter) wait(ctx context.Context, n int) error {
	if l == nil || n <= 0 {
		return ctx.Err()
	}
	d := time.Duration(float64(n) / l.rate * float64(time.Second))
	l.mu.Lock()
	now := time.Now()
	if l.next.Before(now) {
		l.next = now
	}
	l.next = l.next.Add(d)
	until := l.next
	l.mu.Unlock()
	sleep := time.Until(until)
	if sleep <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(sleep)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// limitedReader reads from r in pieces of at most chunk bytes and waits
// on the limiter after each.
type limitedReader struct {
	ctx context.Context
	r   io.Reader
	l   *limiter
}

// chunk bounds one read, so that the limiter smooths the rate.
const chunk = 64 << 10

func (lr limitedReader) Read(p []byte) (int, error) {
	if len(p) > chunk {
		p = p[:chunk]
	}
	n, err := lr.r.Read(p)
	if werr := lr.l.wait(lr.ctx, n); werr != nil && err == nil {
		err = werr
	}
	return n, err
}
