package s3

import (
	"context"
	"fmt"
	"time"

	"github.com/minio/minio-go/v7"
)

// ModTime reports when the object was last written (its Last-Modified,
// from a HEAD request). Garbage collection uses it to spare objects that
// may belong to an upload still in progress. The error matches
// fs.ErrNotExist when the key does not exist.
func (s *Store) ModTime(ctx context.Context, key string) (time.Time, error) {
	name, err := s.object("modtime", key)
	if err != nil {
		return time.Time{}, err
	}
	info, err := s.client.StatObject(ctx, s.bucket, name, minio.StatObjectOptions{})
	if err != nil {
		return time.Time{}, translate(fmt.Sprintf("s3: modtime %q", key), err)
	}
	return info.LastModified, nil
}
