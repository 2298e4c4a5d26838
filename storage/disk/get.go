package disk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Get opens the object for reading; the returned value is the *os.File.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	f, fi, err := s.open(ctx, "get", key)
	if err != nil {
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// GetRange returns n bytes of the object starting at off; see
// storage.RangeGetter.
func (s *Store) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if _, err := s.path("get range", key); err != nil {
		return nil, err
	}
	if off < 0 || n < 0 {
		return nil, fmt.Errorf("disk: get range %q [%d,+%d]: %w", key, off, n, io.ErrUnexpectedEOF)
	}
	f, fi, err := s.open(ctx, "get range", key)
	if err != nil {
		return nil, err
	}
	if size := fi.Size(); off > size || n > size-off {
		f.Close()
		return nil, fmt.Errorf("disk: get range %q [%d,+%d] of %d bytes: %w", key, off, n, size, io.ErrUnexpectedEOF)
	}
	return &sectionReadCloser{SectionReader: io.NewSectionReader(f, off, n), f: f}, nil
}

// Stat reports the size of the object.
func (s *Store) Stat(ctx context.Context, key string) (int64, error) {
	p, err := s.path("stat", key)
	if err != nil {
		return 0, err
	}
	if err := ctxErr(ctx, "stat", key); err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return 0, notExistErr("stat", key, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("disk: stat %q: %w", key, fs.ErrNotExist)
	}
	return fi.Size(), nil
}

// open opens the object file; a missing object, or a directory standing
// where the key points, is reported as fs.ErrNotExist.
func (s *Store) open(ctx context.Context, op, key string) (*os.File, fs.FileInfo, error) {
	p, err := s.path(op, key)
	if err != nil {
		return nil, nil, err
	}
	if err := ctxErr(ctx, op, key); err != nil {
		return nil, nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, notExistErr(op, key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("disk: %s %q: %w", op, key, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("disk: %s %q: %w", op, key, fs.ErrNotExist)
	}
	return f, fi, nil
}

// notExistErr wraps err, making "a path component is a file" (ENOTDIR)
// match fs.ErrNotExist as well: no such object exists.
func notExistErr(op, key string, err error) error {
	if errors.Is(err, errNotDir) {
		return fmt.Errorf("disk: %s %q: %w: %w", op, key, fs.ErrNotExist, err)
	}
	return fmt.Errorf("disk: %s %q: %w", op, key, err)
}

// sectionReadCloser reads a section of a file and closes the file.
type sectionReadCloser struct {
	*io.SectionReader
	f *os.File
}

func (s *sectionReadCloser) Close() error { return s.f.Close() }
