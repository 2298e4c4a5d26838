package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/minipacs/minipacs/dicomweb/archive/scrub"
	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/storage"
	berrors "go.etcd.io/bbolt/errors"
)

// errProblems is returned by verify when it found problems (exit status 1).
var errProblems = errors.New("problems found")

// verify re-hashes the stored objects against the index, offline.
func verify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		sample      float64
		sampleN     int
		asJSON      bool
		conc        int
		rateMB      float64
		noOrphans   bool
		maxProblems int
	)
	cfg, log, err := setupWith("verify", args, stderr, func(fs *flag.FlagSet) {
		fs.Float64Var(&sample, "sample", 0, "check a random FRACTION (0..1) of the instances instead of all")
		fs.IntVar(&sampleN, "sample-n", 0, "check N instances chosen at random instead of all")
		fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
		fs.IntVar(&conc, "concurrency", 4, "objects read at once")
		fs.Float64Var(&rateMB, "rate", 0, "read throttle in MB/s (0: unthrottled)")
		fs.BoolVar(&noOrphans, "no-orphans", false, "do not list the store for objects the index does not reference")
		fs.IntVar(&maxProblems, "max-problems", 100000, "most problems listed in the JSON report (all are counted)")
		fs.Usage = func() {
			fmt.Fprintln(stderr, "usage: minipacs verify [--sample FRACTION | --sample-n N] [--json] [flags]\n\n"+
				"Re-hashes every stored object (or a sample) against the SHA-256 and size recorded at ingest and lists\n"+
				"missing objects, mismatches, unreadable objects and orphans (objects under dicom/ that the index does not\n"+
				"reference). Exits with status 1 when it finds any. Runs offline: stop the server first (the running\n"+
				"server checks the same in the background, see serve --scrub-interval and /metrics).")
			fs.PrintDefaults()
		}
	})
	if err != nil {
		return err
	}
	if sample < 0 || sample > 1 || sampleN < 0 || (sample > 0 && sampleN > 0) {
		return errors.New("--sample wants a fraction in [0,1], --sample-n a count, not both")
	}
	idx, store, err := openOffline(ctx, cfg, "verify")
	if err != nil {
		return err
	}
	defer idx.Close()
	opt := scrub.Options{
		SampleFraction: sample, SampleN: sampleN, Concurrency: conc, BytesPerSecond: int64(rateMB * 1e6),
		Orphans: !noOrphans, MaxProblems: maxProblems, Logger: log.With("component", "verify"),
	}
	if _, ok := store.(storage.Lister); !ok && opt.Orphans {
		return errors.New("the object store cannot list its objects: use --no-orphans")
	}
	if !asJSON {
		opt.Logger = slog.New(slog.DiscardHandler) // problems go to stdout instead
		opt.OnProblem = func(p scrub.Problem) { fmt.Fprintln(stdout, p) }
	}
	rep, err := scrub.Verify(ctx, idx, store, opt)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "verified %d of %d instances (%s) in %s: %d missing, %d mismatch, %d unreadable, %d orphans (%s)\n",
			rep.Checked, rep.Instances, humanBytes(rep.Bytes), rep.Finished.Sub(rep.Started).Round(time.Millisecond),
			rep.Missing, rep.Mismatch, rep.Unreadable, rep.Orphans, humanBytes(rep.OrphanBytes))
	}
	if !rep.OK() {
		return errProblems
	}
	return nil
}

// setupWith is setup with extra flags registered by more.
func setupWith(name string, args []string, stderr io.Writer, more func(fs *flag.FlagSet)) (*config, *slog.Logger, error) {
	cfg := new(config)
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	more(fs)
	if err := cfg.parse(fs, args); err != nil {
		return nil, nil, err
	}
	log, err := newLogger(stderr, cfg.logFormat, cfg.logLevel)
	if err != nil {
		return nil, nil, err
	}
	return cfg, log, nil
}

// openOffline opens the index of the data directory, then the object
// store, for a command that must run while the server is stopped. The
// index comes first: its file lock tells whether a server runs, and the
// disk store must not be opened beside a running server (opening it
// removes the server's uploads in progress). A PostgreSQL index (with the
// S3 store the nodes share) is opened beside the running nodes.
func openOffline(ctx context.Context, cfg *config, cmd string) (index.Engine, storage.Store, error) {
	var idx index.Engine
	if cfg.indexShared() {
		// A database shared by nodes: the command runs beside them.
		var err error
		if idx, err = cfg.openIndex(ctx, ""); err != nil {
			return nil, nil, err
		}
	} else {
		path := filepath.Join(cfg.data, "index.db")
		if _, err := os.Stat(path); err != nil {
			return nil, nil, fmt.Errorf("no index at %s (wrong --data?): %w", path, err)
		}
		bolt, err := index.Open(ctx, path, index.Options{Timeout: 2 * time.Second})
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, nil, fmt.Errorf("the index %s is locked by another process, probably the running server: "+
				"%s works offline, stop the server first (bbolt lets one process open the index)", path, cmd)
		}
		if err != nil {
			return nil, nil, err
		}
		idx = bolt
	}
	store, err := cfg.openStore(ctx)
	if err != nil {
		idx.Close()
		return nil, nil, fmt.Errorf("object store: %w", err)
	}
	return idx, store, nil
}

// humanBytes formats a byte count for reports.
func humanBytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%d bytes", n)
}
