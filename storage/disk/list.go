package disk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/minipacs/minipacs/storage"
)

// List calls fn for every object whose key starts with prefix; see
// storage.Lister. Only directories that can hold matching keys are walked.
func (s *Store) List(ctx context.Context, prefix string, fn func(key string, size int64) error) error {
	start := s.objects
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		// The complete segments of the prefix name a directory. If they
		// are not a valid key, no valid key can start with them.
		dir := prefix[:i]
		if !storage.ValidKey(dir) {
			return nil
		}
		start = filepath.Join(s.objects, filepath.FromSlash(dir))
	}
	var stop error // error from fn, returned unchanged
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotDir) {
				return nil // vanished during the walk, or prefix is no directory
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(s.objects, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if p == start {
				return nil
			}
			// Descend only into directories that can hold matching keys.
			if dirPrefix := rel + "/"; !strings.HasPrefix(dirPrefix, prefix) && !strings.HasPrefix(prefix, dirPrefix) {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(rel, prefix) || !storage.ValidKey(rel) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // deleted during the walk
			}
			return err
		}
		if err := fn(rel, fi.Size()); err != nil {
			stop = err
			return filepath.SkipAll
		}
		return nil
	})
	if stop != nil {
		return stop
	}
	if err != nil {
		return fmt.Errorf("disk: list %q: %w", prefix, err)
	}
	return nil
}
