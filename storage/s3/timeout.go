package s3

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
)

// DefaultTimeout bounds each object store call when Config.Timeout is 0.
const DefaultTimeout = 30 * time.Second

// putRate is the slowest upload rate a Put is allowed before its deadline:
// a Put of n bytes may take Timeout + n/putRate.
const putRate = 1 << 20 // bytes per second

// newTransport is minio-go's default transport with every phase bounded:
// dial, TLS handshake and the wait for response headers (after the request
// body was sent) each fail after timeout instead of hanging.
func newTransport(secure bool, timeout time.Duration) (http.RoundTripper, error) {
	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: min(timeout, 10*time.Second), KeepAlive: 30 * time.Second}
	tr.DialContext = d.DialContext
	tr.TLSHandshakeTimeout = min(timeout, 10*time.Second)
	tr.ResponseHeaderTimeout = timeout
	tr.ExpectContinueTimeout = time.Second
	return tr, nil
}

// opContext bounds one call (Stat, Delete, Ping, the headers of a Get).
func (s *Store) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, s.timeout, errTimeout)
}

// putContext bounds one Put of size bytes.
func (s *Store) putContext(ctx context.Context, size int64) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, s.timeout+time.Duration(size/putRate)*time.Second, errTimeout)
}

// watchdog cancels a streaming call when the service makes no progress
// for idle: the response headers must arrive within idle, and then every
// Read of the body must return within idle. Time spent by the consumer
// between reads (a slow client downstream) does not count, and a transfer
// that keeps moving is never cut, however long it is.
type watchdog struct {
	idle   time.Duration
	cancel context.CancelCauseFunc
	mu     sync.Mutex
	timer  *time.Timer
}

// newWatchdog returns a context cancelled after idle unless kick is
// called; stop releases it.
func newWatchdog(ctx context.Context, idle time.Duration) (context.Context, *watchdog) {
	ctx, cancel := context.WithCancelCause(ctx)
	w := &watchdog{idle: idle, cancel: cancel}
	w.timer = time.AfterFunc(idle, func() { cancel(errTimeout) })
	return ctx, w
}

// arm (re)starts the countdown.
func (w *watchdog) arm() {
	w.mu.Lock()
	w.timer.Reset(w.idle)
	w.mu.Unlock()
}

// disarm pauses the countdown.
func (w *watchdog) disarm() {
	w.mu.Lock()
	w.timer.Stop()
	w.mu.Unlock()
}

func (w *watchdog) stop() {
	w.mu.Lock()
	w.timer.Stop()
	w.mu.Unlock()
	w.cancel(context.Canceled)
}

// watchedBody is a response body whose reads keep its watchdog alive and
// whose Close releases it.
type watchedBody struct {
	io.ReadCloser
	w *watchdog
}

func (b *watchedBody) Read(p []byte) (int, error) {
	b.w.arm()
	n, err := b.ReadCloser.Read(p)
	b.w.disarm()
	return n, err
}

func (b *watchedBody) Close() error {
	err := b.ReadCloser.Close()
	b.w.stop()
	return err
}
