// Package disk is a storage.Store that keeps each object in its own file.
//
// Layout under the root directory given to Open:
//
//	objects/<key>   one regular file per object; the '/' of a key are
//	                directories
//	tmp/            files being written; anything left here after a crash
//	                is removed by Open
//
// A Put writes to a temporary file in tmp/, checks the byte count, renames
// it into objects/ and then waits for a group sync (concurrent Puts share
// one; see groupSync) that started after the rename: a syncfs(2) of the
// file system, or with Options.PerFileSync an fdatasync of the object and
// an fsync of the directories holding its new entries. So an object is
// durable once Put returns. (With ext4's data=ordered journaling a
// renamed file's data reach the disk before the rename does, so a crash
// never exposes a partial object under its key.) Readers never see a
// partial object. tmp/ and objects/ are on the same file system, so the
// rename is atomic and replaces an existing object in one step.
//
// PutFile of a file on the same file system hard-links it instead of
// copying: in the default syncfs mode straight under its key (a link is
// atomic, so readers still never see a partial object; an existing object
// is replaced through tmp/ and a rename), with PerFileSync through tmp/.
// After a power loss (not a process crash) a file system without data
// ordering (ext4 without a journal, as on some cloud images) may show an
// object renamed or linked just before it with missing data: such an
// object was never acknowledged, as Put and PutFile return only after the
// sync, and the ingest pipeline's pending record removes it at start-up.
//
// Because keys map to paths, one key cannot be both an object and a
// directory: with "a/b" stored, Put("a") fails and Get("a") reports
// fs.ErrNotExist. Directories left empty by Delete are not removed.
package disk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/minipacs/minipacs/storage"
)

// Compile-time checks of the capabilities the disk store offers.
var (
	_ storage.Store       = (*Store)(nil)
	_ storage.RangeGetter = (*Store)(nil)
	_ storage.Stater      = (*Store)(nil)
	_ storage.Lister      = (*Store)(nil)
	_ storage.Pinger      = (*Store)(nil)
	_ storage.FilePutter  = (*Store)(nil)
)

const (
	objectsDir = "objects"
	tmpDir     = "tmp"
	// tmpPattern names temporary files; Open removes every file in tmp/.
	tmpPattern = "put-*"
)

// Store is a storage.Store on a local directory. It is safe for concurrent
// use, also by several Stores opened on the same directory in one process;
// two processes must not Open the same directory at once, because Open
// removes the other's files in progress.
type Store struct {
	root    string
	objects string
	tmp     string
	// sync makes Puts durable in groups (see groupSync).
	sync *groupSync
}

// Options tune a Store; the zero value is the default.
type Options struct {
	// PerFileSync makes Puts durable with fdatasync of each object and
	// fsync of its directories instead of a syncfs(2) of the whole file
	// system (see groupSync): slower on a machine of its own, but it
	// does not write back other processes' dirty pages.
	PerFileSync bool
}

// Open opens (creating if needed) the store rooted at dir with the
// default Options and removes temporary files left behind by an
// interrupted Put.
func Open(dir string) (*Store, error) { return OpenOptions(dir, Options{}) }

// OpenOptions is Open with options.
func OpenOptions(dir string, opt Options) (*Store, error) {
	if dir == "" {
		return nil, errors.New("disk: open: empty directory name")
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("disk: open %s: %w", dir, err)
	}
	s := &Store{
		root:    root,
		objects: filepath.Join(root, objectsDir),
		tmp:     filepath.Join(root, tmpDir),
	}
	for _, d := range []string{root, s.objects, s.tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, mapErr("open", dir, err)
		}
	}
	if err := s.removeTemps(); err != nil {
		return nil, err
	}
	gs, err := newGroupSync(root, opt.PerFileSync)
	if err != nil {
		return nil, mapErr("open", dir, err)
	}
	s.sync = gs
	for _, d := range []string{s.objects, s.tmp, root} {
		if err := syncDir(d); err != nil {
			return nil, mapErr("open", dir, err)
		}
	}
	return s, nil
}

// Dir returns the root directory of the store.
func (s *Store) Dir() string { return s.root }

// removeTemps deletes everything in tmp/: these are Puts that never
// completed (the process died before the rename).
func (s *Store) removeTemps() error {
	entries, err := os.ReadDir(s.tmp)
	if err != nil {
		return fmt.Errorf("disk: open: clean %s: %w", s.tmp, err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(s.tmp, e.Name())); err != nil {
			return fmt.Errorf("disk: open: clean %s: %w", s.tmp, err)
		}
	}
	return nil
}

// path returns the file name of key after checking it; it does no file
// system access, so an invalid key never touches the disk.
func (s *Store) path(op, key string) (string, error) {
	if !storage.ValidKey(key) {
		return "", fmt.Errorf("disk: %s %q: %w", op, key, storage.ErrInvalidKey)
	}
	return filepath.Join(s.objects, filepath.FromSlash(key)), nil
}

// errNotDir is returned when a path component is a file.
var errNotDir error = syscall.ENOTDIR

// mapErr names the operation and turns "no space" errors into
// storage.ErrFull while keeping the original error.
func mapErr(op, key string, err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("disk: %s %q: %w: %w", op, key, storage.ErrFull, err)
	}
	return fmt.Errorf("disk: %s %q: %w", op, key, err)
}

// syncDir fsyncs a directory so that entries created or removed in it are
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// ctxErr returns ctx.Err() wrapped with the operation, or nil.
func ctxErr(ctx context.Context, op, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("disk: %s %q: %w", op, key, err)
	}
	return nil
}
