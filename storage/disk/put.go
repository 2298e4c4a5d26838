package disk

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/minipacs/minipacs/storage"
)

// copyBufSize is the buffer size used to copy an object into its file.
const copyBufSize = 256 << 10

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// Put stores exactly size bytes from r under key; see storage.Store. The
// object is durable when Put returns nil. r must reach EOF after size bytes:
// Put reads one byte further to check that it does.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	dst, err := s.path("put", key)
	if err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("disk: put %q: negative size %d", key, size)
	}
	if err := ctxErr(ctx, "put", key); err != nil {
		return err
	}
	f, err := os.CreateTemp(s.tmp, tmpPattern)
	if err != nil {
		return mapErr("put", key, err)
	}
	tmpName := f.Name()
	committed := false
	defer func() {
		if !committed {
			f.Close()
			os.Remove(tmpName)
		}
	}()

	bp := copyBufPool.Get().(*[]byte)
	n, err := io.CopyBuffer(struct{ io.Writer }{f}, &ctxReader{ctx: ctx, r: io.LimitReader(r, size)}, *bp)
	copyBufPool.Put(bp)
	if err != nil {
		return mapErr("put", key, err)
	}
	if n < size {
		return fmt.Errorf("disk: put %q: reader yields %d of %d bytes: %w", key, n, size, io.ErrUnexpectedEOF)
	}
	if err := storage.CheckEOF(r); err != nil {
		return fmt.Errorf("disk: put %q: %w", key, err)
	}
	if err := s.commit(ctx, "put", key, f, tmpName, dst); err != nil {
		return err
	}
	committed = true
	if err := f.Close(); err != nil {
		return mapErr("put", key, err)
	}
	return nil
}

// PutFile stores the regular file at path under key; see
// storage.FilePutter. It hard-links the file into the store when path is on
// the same file system and copies it otherwise. Either way the data are
// fsynced before PutFile returns, and the caller must not modify the file
// afterwards.
func (s *Store) PutFile(ctx context.Context, key, path string) error {
	dst, err := s.path("put file", key)
	if err != nil {
		return err
	}
	if err := ctxErr(ctx, "put file", key); err != nil {
		return err
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("disk: put file %q: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("disk: put file %q: %s is not a regular file", key, path)
	}
	if !s.sync.perFile {
		// syncfs mode: link the complete file straight to its key. A link
		// is atomic, and needs neither a temporary name nor an open file
		// for the sync; an existing object is replaced below instead.
		if err := s.ensureDir(filepath.Dir(dst)); err != nil {
			return mapErr("put file", key, err)
		}
		switch err := os.Link(path, dst); {
		case err == nil:
			if err := s.sync.wait(s.sync.request(nil, "", "")); err != nil {
				return mapErr("put file", key, err)
			}
			return nil
		case !errors.Is(err, os.ErrExist):
			return s.copyFile(ctx, key, path, fi.Size())
		}
	}
	tmpName, err := s.linkTemp(path)
	if err != nil {
		return s.copyFile(ctx, key, path, fi.Size())
	}
	// The inode now belongs to the store too; commit makes its data
	// durable (the caller need not have synced it).
	f, err := os.Open(tmpName)
	if err != nil {
		os.Remove(tmpName)
		return mapErr("put file", key, err)
	}
	defer f.Close()
	if err := s.commit(ctx, "put file", key, f, tmpName, dst); err != nil {
		os.Remove(tmpName)
		return err
	}
	return nil
}

// copyFile stores a copy of the file at path: for a file on another file
// system, or where links are not supported.
func (s *Store) copyFile(ctx context.Context, key, path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("disk: put file %q: %w", key, err)
	}
	defer f.Close()
	return s.Put(ctx, key, f, size)
}

// linkTemp hard-links path under a new unused name in tmp/.
func (s *Store) linkTemp(path string) (string, error) {
	var b [12]byte
	for range 10 {
		rand.Read(b[:])
		name := filepath.Join(s.tmp, "put-"+hex.EncodeToString(b[:]))
		err := os.Link(path, name)
		if !errors.Is(err, os.ErrExist) {
			return name, err
		}
	}
	return "", errors.New("no unused temporary name")
}

// commit renames the complete temporary file tmpName (open as f) into
// place and waits until its data and the directory entries that lead to
// it are durable.
func (s *Store) commit(ctx context.Context, op, key string, f *os.File, tmpName, dst string) error {
	if err := ctxErr(ctx, op, key); err != nil {
		return err
	}
	dir := filepath.Dir(dst)
	if err := s.ensureDir(dir); err != nil {
		return mapErr(op, key, err)
	}
	if err := os.Rename(tmpName, dst); err != nil {
		return mapErr(op, key, err)
	}
	if err := s.sync.wait(s.sync.request(f, dir, s.objects)); err != nil {
		return mapErr(op, key, err)
	}
	return nil
}

// ensureDir makes sure dir (inside objects/) exists. It does not sync:
// the Put's group sync starts after its rename, hence after the mkdirs,
// also those of a concurrent Put; a syncfs covers them, and a per-file
// sync fsyncs the parent of every directory on the way not yet known
// durable (see groupSync.request). Before, each new directory cost a
// serial fsync of its parent under a store-wide lock.
func (s *Store) ensureDir(dir string) error {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	return s.mkdirAll(dir)
}

// mkdirAll creates dir and its missing parents up to objects/.
func (s *Store) mkdirAll(dir string) error {
	if dir == s.objects || len(dir) <= len(s.objects) {
		return nil
	}
	fi, err := os.Lstat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("mkdir %s: an object of that name exists", dir)
		}
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := s.mkdirAll(filepath.Dir(dir)); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return nil
}

// ctxReader fails reads once ctx is done, so that a long copy stops.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
