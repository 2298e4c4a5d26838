package scrub

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb/archive/ingest"
	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/index/indextest"
	"github.com/minipacs/minipacs/storage"
	"github.com/minipacs/minipacs/storage/disk"
	"github.com/minipacs/minipacs/storage/s3"
	"github.com/minipacs/minipacs/storage/s3/miniotest"
)

// The stores that GC needs modification times from.
var (
	_ ModTimer = (*disk.Store)(nil)
	_ ModTimer = (*s3.Store)(nil)
)

// minio is the MinIO server shared by the tests; nil without a binary.
var minio *miniotest.Server

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	s, stop, err := miniotest.StartShared("minipacs-scrub-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stop()
	minio = s
	return m.Run()
}

// backend is an object store under test.
type backend struct {
	name string
	open func(t *testing.T) storage.Store
}

var backends = []backend{
	{"disk", func(t *testing.T) storage.Store {
		s, err := disk.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}},
	{"s3", func(t *testing.T) storage.Store {
		srv := miniotest.Need(t, minio)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := s3.New(ctx, s3.Config{
			Endpoint: srv.Endpoint, Bucket: miniotest.BucketName("scrub"),
			Prefix: "pacs", AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Insecure: true, CreateBucket: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}},
}

// env is an index and a store holding the same instances.
type env struct {
	store storage.Store
	idx   *index.Index
	spool string
	objs  []obj
}

type obj struct {
	sop  string
	key  string
	data []byte
}

// newEnv stores n instances: random objects of 1 to 40 KiB under their
// ingest keys, indexed with synthetic attributes (indextest).
func newEnv(t *testing.T, b backend, n int) *env {
	t.Helper()
	dir := t.TempDir()
	idx, err := index.Open(context.Background(), filepath.Join(dir, "index.db"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	e := &env{store: b.open(t), idx: idx, spool: filepath.Join(dir, "spool")}
	if err := os.MkdirAll(e.spool, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var seed [32]byte
	seed[0] = byte(n)
	src := rand.NewChaCha8(seed)
	rng := rand.New(src)
	for i := range n {
		data := make([]byte, 1024+rng.IntN(40<<10))
		src.Read(data)
		inst := indextest.Instance(i)
		sum := sha256.Sum256(data)
		inst.SHA256, inst.Size, inst.ObjectKey = sum, int64(len(data)), ingest.ObjectKey(sum)
		if err := e.store.Put(ctx, inst.ObjectKey, bytes.NewReader(data), inst.Size); err != nil {
			t.Fatal(err)
		}
		if _, err := idx.Put(ctx, inst); err != nil {
			t.Fatal(err)
		}
		e.objs = append(e.objs, obj{sop: inst.SOPInstanceUID, key: inst.ObjectKey, data: data})
	}
	return e
}

// putOrphan stores an object that no index entry references.
func (e *env) putOrphan(t *testing.T, content string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(content))
	key := ingest.ObjectKey(sum)
	if err := e.store.Put(context.Background(), key, bytes.NewReader([]byte(content)), int64(len(content))); err != nil {
		t.Fatal(err)
	}
	return key
}

// exists reports whether the store holds key.
func (e *env) exists(t *testing.T, key string) bool {
	t.Helper()
	_, err := storage.Stat(context.Background(), e.store, key)
	if err != nil && !storage.IsNotExist(err) {
		t.Fatal(err)
	}
	return err == nil
}

// problems summarises a report's problems as "kind key" strings.
func problems(r *Report) map[string]bool {
	m := map[string]bool{}
	for _, p := range r.Problems {
		m[string(p.Kind)+" "+p.Key] = true
	}
	return m
}
