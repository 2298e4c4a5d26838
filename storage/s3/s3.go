// Package s3 is a storage.Store on an S3-compatible object store (AWS S3,
// MinIO, ...), built on github.com/minio/minio-go/v7.
//
// A key k is stored as the object Prefix+k of the configured bucket. A Put
// is a single PUT up to 16 MiB and a multipart upload above; either way the
// object appears whole or not at all. A multipart upload that fails when
// its context is already canceled cannot be aborted and is left for the
// server to expire (MinIO does so after 24 h by default; on AWS configure a
// lifecycle rule for incomplete multipart uploads).
//
// Errors are translated at the boundary: a missing object matches
// fs.ErrNotExist; network errors, timeouts, 5xx answers and a missing
// bucket match storage.ErrUnavailable; quota and size limits match
// storage.ErrFull. The original minio-go error stays in the chain.
package s3

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minipacs/minipacs/storage"
)

// Compile-time checks of the capabilities the S3 store offers.
var (
	_ storage.Store       = (*Store)(nil)
	_ storage.RangeGetter = (*Store)(nil)
	_ storage.Stater      = (*Store)(nil)
	_ storage.Lister      = (*Store)(nil)
	_ storage.Pinger      = (*Store)(nil)
)

// Config says where the objects live.
type Config struct {
	// Endpoint is host[:port] of the S3 service. An "http://" or
	// "https://" scheme, if present, overrides Insecure.
	Endpoint string
	// Bucket holds the objects.
	Bucket string
	// Prefix is prepended to every key; a '/' is added if it lacks one.
	// Empty stores keys at the top of the bucket.
	Prefix string
	// Region of the bucket; empty lets the client discover it.
	Region string
	// AccessKey and SecretKey are static credentials; both empty means
	// anonymous access.
	AccessKey string
	SecretKey string
	// Insecure selects plain HTTP instead of HTTPS.
	Insecure bool
	// CreateBucket makes New create the bucket when it does not exist.
	CreateBucket bool
	// MaxRetries bounds the attempts of a request that fails for a
	// transient reason; 0 means the minio-go default (10, with backoff
	// of up to 1 s between attempts).
	MaxRetries int
	// Timeout bounds every call to the service, retries included: Stat,
	// Delete, Ping and each page of a List must finish within it, a Get
	// must receive its headers within it and then never wait longer for
	// the next bytes of the body, and a Put of n bytes may take Timeout
	// plus n / 1 MiB/s. 0 means DefaultTimeout (30 s). A call that times
	// out fails with an error matching storage.ErrUnavailable.
	Timeout time.Duration
}

// Store is a storage.Store on an S3 bucket. It is safe for concurrent use.
type Store struct {
	client  *minio.Client
	bucket  string
	prefix  string
	timeout time.Duration
}

// New returns a Store for cfg. It contacts the service only when
// cfg.CreateBucket is set; use Ping to check that the bucket answers.
func New(ctx context.Context, cfg Config) (*Store, error) {
	endpoint, secure := cfg.Endpoint, !cfg.Insecure
	switch {
	case strings.HasPrefix(endpoint, "http://"):
		endpoint, secure = strings.TrimPrefix(endpoint, "http://"), false
	case strings.HasPrefix(endpoint, "https://"):
		endpoint, secure = strings.TrimPrefix(endpoint, "https://"), true
	}
	endpoint = strings.TrimSuffix(endpoint, "/")
	if endpoint == "" {
		return nil, errors.New("s3: new: no endpoint")
	}
	if cfg.Bucket == "" {
		return nil, errors.New("s3: new: no bucket")
	}
	if strings.HasPrefix(cfg.Prefix, "/") {
		return nil, fmt.Errorf("s3: new: prefix %q starts with '/'", cfg.Prefix)
	}
	prefix := cfg.Prefix
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	tr, err := newTransport(secure, timeout)
	if err != nil {
		return nil, fmt.Errorf("s3: new %s: transport: %w", endpoint, err)
	}
	client, err := minio.New(endpoint, &minio.Options{
		Creds:      credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:     secure,
		Region:     cfg.Region,
		MaxRetries: cfg.MaxRetries,
		Transport:  tr,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: new %s: %w", endpoint, err)
	}
	s := &Store{client: client, bucket: cfg.Bucket, prefix: prefix, timeout: timeout}
	if cfg.CreateBucket {
		if err := s.createBucket(ctx, cfg.Region); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Store) createBucket(ctx context.Context, region string) error {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return translate(fmt.Sprintf("s3: create bucket %q", s.bucket), err)
	}
	if ok {
		return nil
	}
	err = s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: region})
	if code := minio.ToErrorResponse(err).Code; code == minio.BucketAlreadyOwnedByYou {
		return nil // created concurrently
	}
	if err != nil {
		return translate(fmt.Sprintf("s3: create bucket %q", s.bucket), err)
	}
	return nil
}

// Bucket returns the bucket name.
func (s *Store) Bucket() string { return s.bucket }

// object returns the object name of key after checking the key.
func (s *Store) object(op, key string) (string, error) {
	if !storage.ValidKey(key) {
		return "", fmt.Errorf("s3: %s %q: %w", op, key, storage.ErrInvalidKey)
	}
	return s.prefix + key, nil
}

// Ping checks that the bucket exists and answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return translate("s3: ping", err)
	}
	if !ok {
		return fmt.Errorf("s3: ping: bucket %q does not exist: %w", s.bucket, storage.ErrUnavailable)
	}
	return nil
}
