package faultproxy_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"testing"
	"time"

	"github.com/minipacs/minipacs/storage"
	"github.com/minipacs/minipacs/storage/s3"
	"github.com/minipacs/minipacs/storage/s3/faultproxy"
	"github.com/minipacs/minipacs/storage/s3/miniotest"
)

// newStore starts MinIO, a proxy in front of it and an S3 store talking to
// the proxy with a short timeout.
func newStore(t *testing.T, timeout time.Duration) (*s3.Store, *faultproxy.Proxy) {
	t.Helper()
	srv := miniotest.StartT(t)
	p, err := faultproxy.New(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := s3.New(ctx, s3.Config{
		Endpoint: p.Endpoint(), Bucket: "faults", Insecure: true, CreateBucket: true,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Region: "us-east-1",
		MaxRetries: 1, Timeout: timeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	return st, p
}

func TestFaults(t *testing.T) {
	const timeout = 700 * time.Millisecond
	st, p := newStore(t, timeout)
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	if err := st.Put(ctx, "obj/a", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("put through a clean proxy: %v", err)
	}
	get := func() ([]byte, error) {
		rc, _, err := st.Get(ctx, "obj/a")
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	}
	put := func() error { return st.Put(ctx, "obj/b", bytes.NewReader(data), int64(len(data))) }
	stat := func() error { _, err := st.Stat(ctx, "obj/a"); return err }
	getErr := func() error { _, err := get(); return err }

	cases := []struct {
		name string
		rule faultproxy.Rule
		op   func() error
		// want is nil for success, else the sentinel the error must match.
		want error
	}{
		{"get 503", faultproxy.Rule{Method: "GET", Fault: faultproxy.Status, Code: 503}, getErr, storage.ErrUnavailable},
		{"get 500", faultproxy.Rule{Method: "GET", Fault: faultproxy.Status, Code: 500}, getErr, storage.ErrUnavailable},
		{"get 404", faultproxy.Rule{Method: "GET", Fault: faultproxy.Status, Code: 404}, getErr, fs.ErrNotExist},
		{"get reset", faultproxy.Rule{Method: "GET", Fault: faultproxy.Reset}, getErr, storage.ErrUnavailable},
		{"get stall", faultproxy.Rule{Method: "GET", Fault: faultproxy.Stall}, getErr, storage.ErrUnavailable},
		{"get reset mid-body", faultproxy.Rule{Method: "GET", Fault: faultproxy.ResetMidBody, Chunk: 1000}, getErr, storage.ErrUnavailable},
		{"get slow body within the timeout", faultproxy.Rule{Method: "GET", Fault: faultproxy.SlowBody, Chunk: 16 << 10, Delay: 100 * time.Millisecond}, getErr, nil},
		{"put 503", faultproxy.Rule{Method: "PUT", Fault: faultproxy.Status, Code: 503}, put, storage.ErrUnavailable},
		{"put 507", faultproxy.Rule{Method: "PUT", Fault: faultproxy.Status, Code: 507}, put, storage.ErrFull},
		{"put reset", faultproxy.Rule{Method: "PUT", Fault: faultproxy.Reset}, put, storage.ErrUnavailable},
		{"put stall", faultproxy.Rule{Method: "PUT", Fault: faultproxy.Stall}, put, storage.ErrUnavailable},
		{"stat stall", faultproxy.Rule{Method: "HEAD", Fault: faultproxy.Stall}, stat, storage.ErrUnavailable},
		{"stat reset", faultproxy.Rule{Method: "HEAD", Fault: faultproxy.Reset}, stat, storage.ErrUnavailable},
		{"a rule used up (Times) no longer applies", faultproxy.Rule{Method: "GET", Fault: faultproxy.Status, Times: 1}, func() error { getErr(); return getErr() }, nil},
		{"list stall", faultproxy.Rule{Method: "GET", Query: "list-type", Fault: faultproxy.Stall}, func() error {
			return st.List(ctx, "obj/", func(string, int64) error { return nil })
		}, storage.ErrUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p.Set(tc.rule)
			start := time.Now()
			err := tc.op()
			took := time.Since(start)
			p.Clear()
			switch {
			case tc.want == nil && err != nil:
				t.Errorf("error %v, want success", err)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Errorf("error %v, want one matching %v", err, tc.want)
			}
			// minio-go retries once (MaxRetries 1) with backoff: two
			// timeouts and a second of slack at most.
			if took > 2*timeout+1500*time.Millisecond {
				t.Errorf("took %v with a %v timeout", took, timeout)
			}
			if n := p.WaitIdle(5 * time.Second); n != 0 {
				t.Errorf("%d proxied requests still open", n)
			}
			// The fault is gone: the same call succeeds now.
			if tc.want != nil {
				if err := tc.op(); err != nil {
					t.Errorf("after the fault cleared: %v", err)
				}
			}
		})
	}
	if b, err := get(); err != nil || !bytes.Equal(b, data) {
		t.Errorf("final get: %v (equal=%v)", err, bytes.Equal(b, data))
	}
	p.WaitIdle(5 * time.Second) // the final get's connection may still be closing
	if s := p.Stats(); s.Faulted < int64(len(cases)) || s.InFlight != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestSlowConsumer checks that a reader who pauses between reads for longer
// than the timeout is not cut: only the store's own silence counts.
func TestSlowConsumer(t *testing.T) {
	// Long enough for a 3 MiB put through the proxy on a loaded machine
	// (-race, packages tested in parallel on 2 cores).
	const timeout = time.Second
	st, p := newStore(t, timeout)
	ctx := context.Background()
	data := bytes.Repeat([]byte{7}, 3<<20)
	if err := st.Put(ctx, "big", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	rc, _, err := st.Get(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	buf := make([]byte, 1<<20)
	var got int
	for {
		n, err := io.ReadFull(rc, buf)
		got += n
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes: %v", got, err)
		}
		time.Sleep(2 * timeout)
	}
	if got != len(data) {
		t.Errorf("read %d bytes, want %d", got, len(data))
	}
	rc.Close()
	if n := p.WaitIdle(5 * time.Second); n != 0 {
		t.Errorf("%d requests open", n)
	}
}

// TestStallReleasedByClient checks that a stalled request ends when its
// client gives up (the proxy counts it as finished).
func TestStallReleasedByClient(t *testing.T) {
	st, p := newStore(t, 10*time.Second)
	p.Set(faultproxy.Rule{Fault: faultproxy.Stall})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := st.Stat(ctx, "x")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("stat: %v, want the caller's deadline", err)
	}
	if n := p.WaitIdle(3 * time.Second); n != 0 {
		t.Errorf("%d requests still open after the client left", n)
	}
}
