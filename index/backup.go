package index

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
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
		if err != nil && ctx.Err() != nil {
			// bbolt flattens some writer errors into text.
			return fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
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
		return 0, err
	}
	return n, nil
}

// WriteBackupFile creates the index file path with the bytes that write
// produces (a Backup, or a backup downloaded from a running server): they
// go to a temporary file in the same directory, which is fsynced, checked
// with CheckFile (it must be a sound index file) and renamed over path;
// the directory is fsynced last. On any error the temporary file is
// removed and path is left as it was.
func WriteBackupFile(ctx context.Context, path string, write func(w io.Writer) error) error {
	if err := writeBackupFile(ctx, path, write); err != nil {
		return fmt.Errorf("index: write backup %s: %w", path, err)
	}
	return nil
}

func writeBackupFile(ctx context.Context, path string, write func(w io.Writer) error) (err error) {
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

// CheckFile opens the index file at path read-only and checks it: the
// file must hold every page its meta page counts, every key and value of
// every bucket must be readable, bbolt's consistency check (Tx.Check: page
// structure, freelist, reachability) must pass, every bucket of the schema
// must exist and the schema version must be the one this build reads. A
// damaged file gives an error, not a crash: bbolt panics (and faults on
// pages past the end of the file) are caught before Tx.Check runs. path
// must not be the file of an open Index (its lock would make CheckFile
// wait, then fail).
func CheckFile(ctx context.Context, path string) (err error) {
	// bbolt panics on some damage instead of returning an error, and
	// reading a page past the end of a mapped file faults.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("index: check %s: %w: %v", path, errCorrupt, r)
		}
	}()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("index: check %s: %w", path, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("index: check: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second, PreLoadFreelist: true})
	if err != nil {
		return fmt.Errorf("index: check %s: open: %w", path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		if tx.Size() > fi.Size() {
			return fmt.Errorf("%w: file has %d bytes, its meta page counts %d (truncated)", errCorrupt, fi.Size(), tx.Size())
		}
		// Touch every page reachable from the root here, where a fault is
		// recovered, before Tx.Check walks them in its own goroutine.
		var kv int
		if err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return walkBucket(ctx, b, &kv)
		}); err != nil {
			return err
		}
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
		if v := tx.Bucket(bMeta).Get(keySchema); !schemaReadable(v) {
			return fmt.Errorf("%w: file has %q, want %q", ErrSchema, v, schemaVersion)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("index: check %s: %w", path, err)
	}
	return nil
}

// walkBucket reads every key and value of b and its nested buckets.
func walkBucket(ctx context.Context, b *bolt.Bucket, kv *int) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if *kv++; *kv%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if v == nil {
			if nb := b.Bucket(k); nb != nil {
				if err := walkBucket(ctx, nb, kv); err != nil {
					return err
				}
			}
			continue
		}
		if len(v) > 0 {
			_ = v[len(v)-1] // touch the value's last page
		}
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
