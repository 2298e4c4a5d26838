package s3

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minipacs/minipacs/storage"
)

// List calls fn for every object whose key starts with prefix; see
// storage.Lister. Objects under the configured Prefix whose names are not
// valid keys are skipped.
func (s *Store) List(ctx context.Context, prefix string, fn func(key string, size int64) error) error {
	op := fmt.Sprintf("s3: list %q", prefix)
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 && !storage.ValidKey(prefix[:i]) {
		// The complete segments of the prefix are no valid key, so no
		// valid key starts with it (and S3 may reject such a prefix).
		return nil
	}
	// Each page of the listing must come within the timeout.
	lctx, wd := newWatchdog(ctx, s.timeout)
	defer wd.stop()
	objects := s.client.ListObjectsIter(lctx, s.bucket, minio.ListObjectsOptions{
		Prefix:    s.prefix + prefix,
		Recursive: true,
	})
	for obj := range objects {
		if obj.Err != nil {
			return translate(op, timedOut(lctx, obj.Err))
		}
		key, ok := strings.CutPrefix(obj.Key, s.prefix)
		if !ok || !storage.ValidKey(key) {
			continue
		}
		wd.disarm() // the consumer's time does not count
		err := fn(key, obj.Size)
		wd.arm()
		if err != nil {
			return err
		}
	}
	// The iterator ends silently when ctx is done.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if errors.Is(context.Cause(lctx), errTimeout) {
		return translate(op, errTimeout)
	}
	return nil
}

// Delete removes the object; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	name, err := s.object("delete", key)
	if err != nil {
		return err
	}
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	if err := s.client.RemoveObject(ctx, s.bucket, name, minio.RemoveObjectOptions{}); err != nil {
		if notFoundCodes[minio.ToErrorResponse(err).Code] {
			return nil
		}
		return translate(fmt.Sprintf("s3: delete %q", key), timedOut(ctx, err))
	}
	return nil
}
