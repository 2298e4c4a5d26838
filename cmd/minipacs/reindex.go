package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/minipacs/minipacs/dicomweb/archive/ingest"
	"github.com/minipacs/minipacs/dicomweb/archive/patient"
	"github.com/minipacs/minipacs/index"
)

// reindex rebuilds the bbolt index from the object store alone. The server
// must be stopped (the index file is locked while it runs). The new index
// is built beside the old one and swapped in at the end; the old one is
// kept as index.db.bak.
func reindex(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, log, err := setup("reindex", args, stderr)
	if err != nil {
		return err
	}
	if cfg.indexShared() {
		return reindexShared(ctx, cfg, log, stdout)
	}
	cur := filepath.Join(cfg.data, "index.db")
	if _, err := os.Stat(cur); err == nil {
		// Fails while a server holds the lock.
		old, err := index.Open(ctx, cur, index.Options{Timeout: 2 * time.Second})
		if err != nil {
			return fmt.Errorf("the index is in use (stop the server first): %w", err)
		}
		old.Close()
	}
	store, err := cfg.openStore(ctx)
	if err != nil {
		return fmt.Errorf("object store: %w", err)
	}
	tmp := cur + ".rebuild"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	idx, err := cfg.openIndex(ctx, tmp)
	if err != nil {
		return err
	}
	// The records first (HL7 patients, orders, reports, journal): the
	// patient records decide how the studies are indexed, as in serve.
	if err := copyRecords(ctx, cur, idx, log); err != nil {
		idx.Close()
		os.Remove(tmp)
		return err
	}
	ing, err := ingest.New(store, idx, ingest.Config{SpoolDir: filepath.Join(cfg.data, "spool"), Logger: log, Patients: patient.New(idx)})
	if err != nil {
		idx.Close()
		return err
	}
	start := time.Now()
	st, err := ing.Reindex(ctx)
	if cerr := idx.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if _, err := os.Stat(cur); err == nil {
		if err := os.Rename(cur, cur+".bak"); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, cur); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "reindexed %d objects (%d indexed, %d already indexed, %d skipped) in %s\n",
		st.Objects, st.Indexed, st.Present, st.Skipped, time.Since(start).Round(time.Millisecond))
	return nil
}

// copyRecords carries the records of the index being replaced (HL7 orders,
// reports, the message journal: nothing the stored objects tell) into the
// rebuilt one. A missing or unreadable old index has none to give.
func copyRecords(ctx context.Context, cur string, idx index.Engine, log *slog.Logger) error {
	if _, err := os.Stat(cur); err != nil {
		return nil
	}
	old, err := index.Open(ctx, cur, index.Options{Timeout: 2 * time.Second})
	if err != nil {
		log.Warn("reindex: the old index cannot be opened; its HL7 records are not carried over", "err", err)
		return nil
	}
	defer old.Close()
	n, err := idx.CopyRecords(ctx, old)
	if err != nil {
		return fmt.Errorf("carry the records over: %w", err)
	}
	log.Info("reindex: records carried over", "records", n)
	return nil
}

// reindexShared indexes, into the PostgreSQL index in place, every stored
// object it does not know (after the loss of the database, a restore of
// an older backup, or to check): Put is idempotent, so what is indexed
// stays as it is, and the nodes may keep serving meanwhile. The records
// (HL7) live in the database itself and are not touched.
func reindexShared(ctx context.Context, cfg *config, log *slog.Logger, stdout io.Writer) error {
	idx, err := cfg.openIndex(ctx, "")
	if err != nil {
		return err
	}
	defer idx.Close()
	store, err := cfg.openStore(ctx)
	if err != nil {
		return fmt.Errorf("object store: %w", err)
	}
	if err := os.MkdirAll(cfg.data, 0o700); err != nil {
		return err
	}
	spool, err := os.MkdirTemp(cfg.data, "reindex-spool-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(spool)
	ing, err := ingest.New(store, idx, ingest.Config{SpoolDir: spool, Logger: log, Patients: patient.New(idx)})
	if err != nil {
		return err
	}
	start := time.Now()
	st, err := ing.Reindex(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "reindexed %d objects (%d indexed, %d already indexed, %d skipped) in %s\n",
		st.Objects, st.Indexed, st.Present, st.Skipped, time.Since(start).Round(time.Millisecond))
	return nil
}
