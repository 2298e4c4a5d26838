package disk

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// ModTime reports when the object was last written (its file's
// modification time). Garbage collection uses it to spare objects that
// may belong to an upload still in progress. The error matches
// fs.ErrNotExist when the key does not exist.
func (s *Store) ModTime(ctx context.Context, key string) (time.Time, error) {
	p, err := s.path("modtime", key)
	if err != nil {
		return time.Time{}, err
	}
	if err := ctxErr(ctx, "modtime", key); err != nil {
		return time.Time{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return time.Time{}, notExistErr("modtime", key, err)
	}
	if !fi.Mode().IsRegular() {
		return time.Time{}, fmt.Errorf("disk: modtime %q: %w", key, fs.ErrNotExist)
	}
	return fi.ModTime(), nil
}
