package miniotest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// StartShared starts a server for the tests of a whole package, from
// TestMain, storing its data in a new temporary directory named by pattern
// (as os.MkdirTemp). Without a minio binary it returns a nil Server and no
// error: the tests that need the server call Need. stop closes the server,
// if any, and removes the directory; it is never nil.
func StartShared(pattern string) (s *Server, stop func(), err error) {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return nil, func() {}, fmt.Errorf("miniotest: %w", err)
	}
	s, err = StartServer(dir)
	switch {
	case errors.Is(err, ErrNoBinary):
		return nil, func() { os.RemoveAll(dir) }, nil
	case err != nil:
		os.RemoveAll(dir)
		return nil, func() {}, err
	}
	return s, func() {
		s.Close()
		os.RemoveAll(dir)
	}, nil
}

// Need returns s, the server of StartShared; when s is nil (no minio
// binary) it calls SkipOrFail.
func Need(t testing.TB, s *Server) *Server {
	t.Helper()
	if s == nil {
		SkipOrFail(t, ErrNoBinary)
	}
	return s
}

// Client returns a minio-go client of the server's S3 API, with its root
// credentials, for tests that read or change the store behind the code
// under test.
func (s *Server) Client(t testing.TB) *minio.Client {
	t.Helper()
	c, err := minio.New(s.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, "")})
	if err != nil {
		t.Fatalf("miniotest: client of %s: %v", s.Endpoint, err)
	}
	return c
}

// BucketName returns a bucket name that no other call returned: prefix,
// then random hex digits. The bucket is not created.
func BucketName(prefix string) string {
	return prefix + "-" + randHex(6)
}

// NewBucket creates a bucket named BucketName(prefix) and returns its name.
func (s *Server) NewBucket(t testing.TB, prefix string) string {
	t.Helper()
	bucket := BucketName(prefix)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Client(t).MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("miniotest: create bucket %s: %v", bucket, err)
	}
	return bucket
}
