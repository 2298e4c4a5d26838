package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"

	"github.com/minio/minio-go/v7"
	"github.com/minipacs/minipacs/storage"
)

// Error codes of S3 and MinIO that the translation looks at.
var (
	notFoundCodes = map[string]bool{
		minio.NoSuchKey: true,
		"NotFound":      true,
	}
	fullCodes = map[string]bool{
		minio.EntityTooLarge:             true,
		"QuotaExceeded":                  true,
		"XMinioAdminBucketQuotaExceeded": true,
		"XMinioStorageFull":              true,
	}
	unavailableCodes = map[string]bool{
		minio.NoSuchBucket:           true, // the store cannot work at all
		"SlowDown":                   true,
		"RequestTimeout":             true,
		"ServiceUnavailable":         true,
		"InternalError":              true,
		"XMinioServerNotInitialized": true,
		"XMinioReadQuorum":           true,
		"XMinioWriteQuorum":          true,
	}
)

// translate wraps err, naming the operation, and adds the shared sentinel
// (fs.ErrNotExist, storage.ErrUnavailable or storage.ErrFull) it stands
// for. op is like `s3: get "key"`.
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	var er minio.ErrorResponse
	if errors.As(err, &er) && er.Code != "" {
		switch {
		case notFoundCodes[er.Code]:
			return fmt.Errorf("%s: %w: %w", op, fs.ErrNotExist, err)
		case fullCodes[er.Code] || er.StatusCode == http.StatusInsufficientStorage:
			return fmt.Errorf("%s: %w: %w", op, storage.ErrFull, err)
		case unavailableCodes[er.Code] || er.StatusCode >= 500:
			return fmt.Errorf("%s: %w: %w", op, storage.ErrUnavailable, err)
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	if errors.Is(err, context.Canceled) {
		// The caller gave up; the backend is not at fault.
		return fmt.Errorf("%s: %w", op, err)
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s: %w: %w", op, storage.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// errTimeout is the cancellation cause of the contexts this package
// derives to bound calls (opContext, putContext, watchdog).
var errTimeout = fmt.Errorf("s3: no answer within the timeout: %w", context.DeadlineExceeded)

// timedOut replaces err by a timeout error when ctx, a context derived by
// this package, ended because of its own bound: minio-go then reports a
// plain "context canceled", which would otherwise read as the caller
// giving up. Other errors pass unchanged.
func timedOut(ctx context.Context, err error) error {
	if err == nil || !errors.Is(context.Cause(ctx), errTimeout) {
		return err
	}
	return fmt.Errorf("%w (%v)", errTimeout, err)
}
