// Package storage defines the blob store that holds DICOM objects.
//
// A Store knows nothing of DICOM: it maps opaque keys to immutable byte
// strings. Keys are chosen by the caller from a restricted alphabet (see
// ValidKey) and are never derived from unchecked input. Backends live in
// sub-packages (storage/disk, storage/s3) and share one conformance suite
// (storage/storagetest).
//
// Backends translate their native errors at the boundary: a missing key is
// reported as an error that matches fs.ErrNotExist with errors.Is.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/minipacs/minipacs/dicomweb/kind"
)

// ErrInvalidKey is returned for keys that ValidKey rejects.
var ErrInvalidKey = kind.New(kind.Invalid, "storage: invalid key")

// ErrUnavailable wraps backend failures that are likely transient (network
// errors, timeouts, 5xx from an object store). Callers map it to 503.
var ErrUnavailable = kind.New(kind.Unavailable, "storage: backend unavailable")

// ErrFull is returned when the backend has no room left (ENOSPC, quota).
var ErrFull = kind.New(kind.Full, "storage: no space left")

// Store is the blob store interface.
type Store interface {
	// Put stores exactly size bytes read from r under key. It returns only
	// once the object is durable. Put on an existing key replaces it
	// atomically. If r yields fewer or more than size bytes, Put fails and
	// leaves no object behind.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Get opens the object. The error matches fs.ErrNotExist when the key
	// does not exist; it is reported by Get itself, never by a later Read.
	Get(ctx context.Context, key string) (io.ReadCloser, int64, error)
	// Delete removes the object. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// RangeGetter is implemented by stores that can read part of an object.
type RangeGetter interface {
	// GetRange returns n bytes starting at off. It fails with an error
	// matching fs.ErrNotExist when the key does not exist and with
	// io.ErrUnexpectedEOF when the range is outside the object.
	GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error)
}

// Stater is implemented by stores that can report an object's size cheaply.
type Stater interface {
	Stat(ctx context.Context, key string) (size int64, err error)
}

// Lister is implemented by stores that can enumerate their keys.
type Lister interface {
	// List calls fn for every key with the given prefix, in no particular
	// order. An error from fn stops the listing and is returned.
	List(ctx context.Context, prefix string, fn func(key string, size int64) error) error
}

// Pinger is implemented by stores that can check that the backend answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// FilePutter is implemented by stores that can take over a file that the
// caller has already written completely, avoiding a second copy of the bytes
// (the disk store hard-links it into place when it can).
type FilePutter interface {
	// PutFile stores the current contents of the regular file at path under
	// key, with the same durability and atomicity as Put. The store may keep
	// a hard link to the file instead of copying it, so the caller must not
	// modify the file afterwards; it may remove or rename it.
	PutFile(ctx context.Context, key, path string) error
}

// ValidKey reports whether key is acceptable to every backend: 1 to 512
// bytes of [a-z0-9._-] in '/'-separated non-empty segments, no segment
// made only of dots, no leading or trailing '/'.
func ValidKey(key string) bool {
	if len(key) == 0 || len(key) > 512 {
		return false
	}
	segStart := 0
	for i := 0; i <= len(key); i++ {
		if i == len(key) || key[i] == '/' {
			seg := key[segStart:i]
			if seg == "" {
				return false
			}
			dots := true
			for j := 0; j < len(seg); j++ {
				if seg[j] != '.' {
					dots = false
					break
				}
			}
			if dots {
				return false
			}
			segStart = i + 1
			continue
		}
		c := key[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// GetRange reads n bytes at off from the object, using the store's
// RangeGetter when it has one and otherwise skipping through a full Get.
func GetRange(ctx context.Context, s Store, key string, off, n int64) (io.ReadCloser, error) {
	if off < 0 || n < 0 {
		return nil, fmt.Errorf("storage: get range %q [%d,+%d]: %w", key, off, n, io.ErrUnexpectedEOF)
	}
	if rg, ok := s.(RangeGetter); ok {
		return rg.GetRange(ctx, key, off, n)
	}
	rc, size, err := s.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	if off > size || n > size-off {
		rc.Close()
		return nil, fmt.Errorf("storage: get range %q [%d,+%d] of %d bytes: %w", key, off, n, size, io.ErrUnexpectedEOF)
	}
	if _, err := io.CopyN(io.Discard, rc, off); err != nil {
		rc.Close()
		return nil, fmt.Errorf("storage: get range %q: skip: %w", key, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(rc, n), rc}, nil
}

// Stat reports the object's size, using Stater when available.
func Stat(ctx context.Context, s Store, key string) (int64, error) {
	if st, ok := s.(Stater); ok {
		return st.Stat(ctx, key)
	}
	rc, size, err := s.Get(ctx, key)
	if err != nil {
		return 0, err
	}
	rc.Close()
	return size, nil
}

// PutFile stores the file at path under key, using the store's FilePutter
// when it has one and otherwise streaming the file through Put. The caller
// must not modify the file afterwards (see FilePutter).
func PutFile(ctx context.Context, s Store, key, path string) error {
	if fp, ok := s.(FilePutter); ok {
		return fp.PutFile(ctx, key, path)
	}
	if !ValidKey(key) {
		return fmt.Errorf("storage: put file %q: %w", key, ErrInvalidKey)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("storage: put file %q: %w", key, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("storage: put file %q: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("storage: put file %q: %s is not a regular file", key, path)
	}
	return s.Put(ctx, key, f, fi.Size())
}

// ErrTooLong reports a reader that yields more bytes than the size given
// to Put.
var ErrTooLong = kind.New(kind.Invalid, "storage: reader yields more bytes than the declared size")

// CheckEOF reads past the declared size of a Put: r must be exhausted.
// It fails with ErrTooLong when r has more bytes.
func CheckEOF(r io.Reader) error {
	var b [1]byte
	for range 100 {
		n, err := r.Read(b[:])
		if n > 0 {
			return ErrTooLong
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read past declared size: %w", err)
		}
	}
	return fmt.Errorf("read past declared size: %w", io.ErrNoProgress)
}

// IsNotExist reports whether err means the object does not exist.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
