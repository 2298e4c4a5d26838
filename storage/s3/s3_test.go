package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minipacs/minipacs/storage"
	"github.com/minipacs/minipacs/storage/s3/miniotest"
	"github.com/minipacs/minipacs/storage/storagetest"
)

// srv is the MinIO server shared by the tests of this package; nil when no
// minio binary was found.
var srv *miniotest.Server

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	s, stop, err := miniotest.StartShared("minipacs-s3-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stop()
	srv = s
	return m.Run()
}

func server(t *testing.T) *miniotest.Server {
	t.Helper()
	return miniotest.Need(t, srv)
}

// newStore returns a store on a new bucket of the shared server.
func newStore(t *testing.T, prefix string) *Store {
	t.Helper()
	s := server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := New(ctx, Config{
		Endpoint:     s.Endpoint,
		Bucket:       miniotest.BucketName("test"),
		Prefix:       prefix,
		AccessKey:    s.AccessKey,
		SecretKey:    s.SecretKey,
		Insecure:     true,
		CreateBucket: true,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return st
}

func TestConformance(t *testing.T) {
	for _, prefix := range []string{"", "minipacs/objects"} {
		t.Run(fmt.Sprintf("prefix=%q", prefix), func(t *testing.T) {
			storagetest.Run(t, func(t *testing.T) storage.Store { return newStore(t, prefix) })
		})
	}
}

func TestPrefixIsolation(t *testing.T) {
	s := server(t)
	ctx := context.Background()
	bare := newStore(t, "")
	prefixed, err := New(ctx, Config{Endpoint: "http://" + s.Endpoint, Bucket: bare.Bucket(), Prefix: "p", AccessKey: s.AccessKey, SecretKey: s.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := prefixed.Put(ctx, "k", strings.NewReader("in"), 2); err != nil {
		t.Fatal(err)
	}
	if err := bare.Put(ctx, "k", strings.NewReader("out"), 3); err != nil {
		t.Fatal(err)
	}
	// The prefixed object is p/k in the bucket.
	if n, err := bare.Stat(ctx, "p/k"); err != nil || n != 2 {
		t.Errorf("bare Stat(p/k) = %d, %v; want 2", n, err)
	}
	var keys []string
	if err := prefixed.List(ctx, "", func(k string, _ int64) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(keys) != "[k]" {
		t.Errorf("prefixed List = %v, want [k]", keys)
	}
}

func TestNewConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no endpoint", Config{Bucket: "b"}},
		{"no bucket", Config{Endpoint: "localhost:9000"}},
		{"absolute prefix", Config{Endpoint: "localhost:9000", Bucket: "bkt", Prefix: "/p"}},
		{"bad endpoint", Config{Endpoint: "local host:9000", Bucket: "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(context.Background(), tt.cfg); err == nil {
				t.Error("New succeeded")
			}
		})
	}
}

func TestMissingBucket(t *testing.T) {
	s := server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := New(ctx, Config{Endpoint: s.Endpoint, Bucket: "no-such-bucket", AccessKey: s.AccessKey, SecretKey: s.SecretKey, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range ops(st) {
		t.Run(c.name, func(t *testing.T) {
			err := c.fn(ctx)
			if !errors.Is(err, storage.ErrUnavailable) {
				t.Errorf("error %v does not match storage.ErrUnavailable", err)
			}
			if errors.Is(err, fs.ErrNotExist) {
				t.Errorf("error %v matches fs.ErrNotExist: a missing bucket is not a missing object", err)
			}
		})
	}
}

func TestWrongCredentials(t *testing.T) {
	s := server(t)
	good := newStore(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := New(ctx, Config{Endpoint: s.Endpoint, Bucket: good.Bucket(), AccessKey: s.AccessKey, SecretKey: "wrong-secret", Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range ops(st) {
		t.Run(c.name, func(t *testing.T) {
			err := c.fn(ctx)
			if err == nil {
				t.Fatal("succeeded with a wrong secret")
			}
			for _, sentinel := range []error{fs.ErrNotExist, storage.ErrUnavailable, storage.ErrFull} {
				if errors.Is(err, sentinel) {
					t.Errorf("error %v matches %v", err, sentinel)
				}
			}
		})
	}
}

// ops calls every operation of st once; each must fail against a broken
// backend.
func ops(st *Store) []struct {
	name string
	fn   func(ctx context.Context) error
} {
	return []struct {
		name string
		fn   func(ctx context.Context) error
	}{
		{"Ping", st.Ping},
		{"Put", func(ctx context.Context) error { return st.Put(ctx, "a/b", strings.NewReader("xyz"), 3) }},
		{"Get", func(ctx context.Context) error {
			rc, _, err := st.Get(ctx, "a/b")
			if err == nil {
				rc.Close()
			}
			return err
		}},
		{"GetRange", func(ctx context.Context) error {
			rc, err := st.GetRange(ctx, "a/b", 0, 1)
			if err == nil {
				rc.Close()
			}
			return err
		}},
		{"Stat", func(ctx context.Context) error { _, err := st.Stat(ctx, "a/b"); return err }},
		{"List", func(ctx context.Context) error {
			return st.List(ctx, "", func(string, int64) error { return nil })
		}},
		{"Delete", func(ctx context.Context) error { return st.Delete(ctx, "a/b") }},
	}
}

func TestServerStopped(t *testing.T) {
	own := miniotest.StartT(t)
	ctx := context.Background()
	st, err := New(ctx, Config{Endpoint: own.Endpoint, Bucket: "bkt", AccessKey: own.AccessKey, SecretKey: own.SecretKey, Insecure: true, CreateBucket: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, "a/b", strings.NewReader("xyz"), 3); err != nil {
		t.Fatal(err)
	}
	if err := own.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range ops(st) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := c.fn(ctx)
			if !errors.Is(err, storage.ErrUnavailable) {
				t.Errorf("error %v does not match storage.ErrUnavailable", err)
			}
			var ne net.Error
			if !errors.As(err, &ne) && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v lost the original network error", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v despite the 0.5 s deadline", d)
			}
		})
	}
}

func TestNoServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	st, err := New(context.Background(), Config{Endpoint: addr, Bucket: "bkt", Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if err := st.Ping(ctx); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Ping: %v, want storage.ErrUnavailable", err)
	}
	if _, err := New(ctx, Config{Endpoint: addr, Bucket: "bkt", Insecure: true, CreateBucket: true}); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("New with CreateBucket: %v, want storage.ErrUnavailable", err)
	}

	// With a region there is no location lookup, so requests go through
	// the retry loop; MaxRetries bounds it without a deadline.
	st, err = New(context.Background(), Config{Endpoint: addr, Bucket: "bkt", Region: "us-east-1", Insecure: true, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, _, err := st.Get(context.Background(), "a/b"); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Get: %v, want storage.ErrUnavailable", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Get with MaxRetries 1 took %v", d)
	}
}

func TestTranslate(t *testing.T) {
	resp := func(status int, code string) error {
		return minio.ErrorResponse{StatusCode: status, Code: code, Message: "m"}
	}
	tests := []struct {
		name string
		err  error
		want error // sentinel, or nil for none
	}{
		{"no such key", resp(404, "NoSuchKey"), fs.ErrNotExist},
		{"not found", resp(404, "NotFound"), fs.ErrNotExist},
		{"no such bucket", resp(404, "NoSuchBucket"), storage.ErrUnavailable},
		{"entity too large", resp(400, "EntityTooLarge"), storage.ErrFull},
		{"minio storage full", resp(507, "XMinioStorageFull"), storage.ErrFull},
		{"bucket quota", resp(400, "XMinioAdminBucketQuotaExceeded"), storage.ErrFull},
		{"503", resp(503, "SlowDown"), storage.ErrUnavailable},
		{"500", resp(500, "InternalError"), storage.ErrUnavailable},
		{"502 from a proxy", resp(502, "502 Bad Gateway"), storage.ErrUnavailable},
		{"access denied", resp(403, "AccessDenied"), nil},
		{"wrapped no such key", fmt.Errorf("x: %w", resp(404, "NoSuchKey")), fs.ErrNotExist},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", errors.New("connection refused"))}, storage.ErrUnavailable},
		{"deadline", fmt.Errorf("get: %w", context.DeadlineExceeded), storage.ErrUnavailable},
		{"truncated body", io.ErrUnexpectedEOF, storage.ErrUnavailable},
		{"canceled", fmt.Errorf("get: %w", context.Canceled), nil},
		{"other", errors.New("other"), nil},
	}
	sentinels := []error{fs.ErrNotExist, storage.ErrUnavailable, storage.ErrFull}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := translate("s3: op", tt.err)
			if !errors.Is(got, tt.err) {
				t.Errorf("translate lost the original error: %v", got)
			}
			if !strings.HasPrefix(got.Error(), "s3: op: ") {
				t.Errorf("message %q does not name the operation", got)
			}
			for _, s := range sentinels {
				if errors.Is(got, s) != (s == tt.want) {
					t.Errorf("errors.Is(%v, %v) = %v", got, s, !(s == tt.want))
				}
			}
		})
	}
	if translate("op", nil) != nil {
		t.Error("translate(nil) != nil")
	}
}

func TestPartSize(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		size int64
		want uint64
	}{
		{0, 16 * mib},
		{100 * mib, 16 * mib},
		{10000 * 16 * mib, 16 * mib},
		{10000*16*mib + 1, 17 * mib},
		{5 << 40, 525 * mib},
	}
	for _, tt := range tests {
		got := partSizeFor(tt.size)
		if got != tt.want {
			t.Errorf("partSizeFor(%d) = %d, want %d", tt.size, got, tt.want)
		}
		if int64(got)*maxParts < tt.size {
			t.Errorf("partSizeFor(%d) = %d needs more than %d parts", tt.size, got, maxParts)
		}
	}
}
