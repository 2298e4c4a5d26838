package disk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Delete removes the object; a missing key is not an error. The removal is
// durable when Delete returns.
func (s *Store) Delete(ctx context.Context, key string) error {
	p, err := s.path("delete", key)
	if err != nil {
		return err
	}
	if err := ctxErr(ctx, "delete", key); err != nil {
		return err
	}
	fi, err := os.Lstat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotDir) {
			return nil
		}
		return fmt.Errorf("disk: delete %q: %w", key, err)
	}
	if fi.IsDir() {
		return nil // a directory of other keys, not an object
	}
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("disk: delete %q: %w", key, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("disk: delete %q: %w", key, err)
	}
	return nil
}

// Ping checks that the store's directories exist and that a file can be
// created in them.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("disk: ping: %w", err)
	}
	if _, err := os.Stat(s.objects); err != nil {
		return fmt.Errorf("disk: ping: %w", err)
	}
	f, err := os.CreateTemp(s.tmp, tmpPattern)
	if err != nil {
		return mapErr("ping", s.root, err)
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("disk: ping: %w", err)
	}
	return nil
}
