package index

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the whole index file to w while the
// index stays in use: the copy is taken in one read transaction
// (bbolt Tx.WriteTo), so it holds exactly the instances committed before
// Backup started, and concurrent Puts go on meanwhile. It returns the
// number of bytes written. Cancelling ctx stops the copy at the next write.
//
// The read transaction stays open for the whole copy; a slow w therefore
// keeps old pages alive and may let the file grow while writes go on.
func (ix *Index) Backup(ctx context.Context, w io.Writer) (int64, error) {
	var n int64
	err := ix.view(ctx, "backup", func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(ctxWriter{ctx: ctx, w: w})
		return err
	})
	return n, err
}

// BackupFile writes a consistent copy of the index (see Backup) to path:
// to a temporary file beside it first, fsynced, checked with CheckFile,
// then renamed into place, so path is either absent, the old file, or a
// complete, checked copy.
func (ix *Index) BackupFile(ctx context.Context, path string) (int64, error) {
	var n int64
	err := WriteBackupFile(ctx, path, func(w io.Writer) error {
		var err error
		n, err = ix.Backup(ctx, w)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("index: backup to %s: %w", path, err)
	}
	return n, nil
}

// WriteBackupFile creates the index file path with the bytes that write
// produces (a Backup, or a backup downloaded from a running server): they
// go to a temporary file in the same directory, which is fsynced, checked
// with CheckFile (it must be a sound index file) and renamed over path;
// the directory is fsynced last. On any error the temporary file is
// removed and path is left as it was.
func WriteBackupFile(ctx context.Context, path string, write func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := write(f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := CheckFile(ctx, tmp); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// CheckFile opens the index file at path read-only and checks it: bbolt's
// consistency check (Tx.Check: page structure, freelist, key order) must
// pass, every bucket of the schema must exist and the schema version must
// be the one this build reads. It must not be the file of an open Index
// (bbolt's file lock would make it wait, then fail).
func CheckFile(ctx context.Context, path string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("index: check %s: %w", path, err)
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("index: check: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if err != nil {
		return fmt.Errorf("index: check %s: open: %w", path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			if len(errs) < 10 {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("consistency check failed: %w", errors.Join(errs...))
		}
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("%w: bucket %q missing", errCorrupt, name)
			}
		}
		if v := tx.Bucket(bMeta).Get(keySchema); string(v) != schemaVersion {
			return fmt.Errorf("%w: file has %q, want %q", ErrSchema, v, schemaVersion)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("index: check %s: %w", path, err)
	}
	return nil
}

// ctxWriter fails writes once ctx is done, so that a cancelled Backup
// stops (Tx.WriteTo itself takes no context).
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
