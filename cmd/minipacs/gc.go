package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/minipacs/minipacs/dicomweb/archive/scrub"
)

// gc removes orphaned objects (and stale spool files), offline.
func gc(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		grace  time.Duration
		dryRun bool
		asJSON bool
	)
	cfg, log, err := setupWith("gc", args, stderr, func(fs *flag.FlagSet) {
		fs.DurationVar(&grace, "grace", 24*time.Hour, "spare orphans and spool files younger than this (uploads in flight)")
		fs.BoolVar(&dryRun, "dry-run", false, "list what would be removed, remove nothing")
		fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
		fs.Usage = func() {
			fmt.Fprintln(stderr, "usage: minipacs gc [--grace 24h] [--dry-run] [flags]\n\n"+
				"Removes objects under dicom/ that no index entry references and that are older than the grace period,\n"+
				"except those named by a pending upload in the spool directory, and spool files older than the grace\n"+
				"period. Runs offline: stop the server first. gc trusts the index: after restoring an index backup, run\n"+
				"reindex first, or the objects stored after the backup was taken would be deleted.")
			fs.PrintDefaults()
		}
	})
	if err != nil {
		return err
	}
	idx, store, err := openOffline(ctx, cfg, "gc")
	if err != nil {
		return err
	}
	defer idx.Close()
	verb := "removed"
	if dryRun {
		verb = "would remove"
	}
	opt := scrub.GCOptions{
		Grace: grace, DryRun: dryRun, SpoolDir: filepath.Join(cfg.data, "spool"),
		Logger: log.With("component", "gc"),
	}
	if !asJSON {
		opt.OnRemove = func(key string, size int64) { fmt.Fprintf(stdout, "%s %s (%d bytes)\n", verb, key, size) }
	}
	rep, err := scrub.GC(ctx, idx, store, opt)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprintf(stdout, "%d objects, %d orphans: %s %d (%s), kept %d younger than %s and %d of pending uploads; %s %d stale spool files\n",
		rep.Objects, rep.Orphans, verb, rep.Removed, humanBytes(rep.RemovedBytes), rep.KeptYoung, grace, rep.KeptPending, verb, rep.SpoolRemoved)
	return nil
}
