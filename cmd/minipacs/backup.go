package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/index/backup"
	berrors "go.etcd.io/bbolt/errors"
)

// backupCmd writes a consistent copy of the index to FILE: from the running
// server (POST /admin/backup), or with --offline from the index file.
//
// Restore: stop the server, copy the backup to <data>/index.db, start the
// server. Instances stored after the backup was taken are then orphans
// (verify lists them); `minipacs reindex` brings them back.
func backupCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", envDefault("MINIPACS_URL", "http://127.0.0.1:8080"), "URL of the running server (its root or its /dicomweb root)")
	token := fs.String("token", "", "bearer token of an admin (default: $MINIPACS_TOKEN)")
	user := fs.String("user", "", "HTTP Basic user with the admin role (password from $MINIPACS_PASSWORD)")
	offline := fs.Bool("offline", false, "copy the index file of --data directly (the server must be stopped)")
	data := fs.String("data", envDefault("MINIPACS_DATA", "./minipacs-data"), "data directory, with --offline")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: minipacs backup [--url URL] [--token T] FILE\n       minipacs backup --offline [--data DIR] FILE\n\n"+
			"Writes a consistent copy of the index (bbolt) to FILE, checked before it replaces FILE. Restore: stop the\n"+
			"server, copy FILE to <data>/index.db, start the server; then `minipacs verify` (instances stored after the\n"+
			"backup show as orphans) and, if there are any, `minipacs reindex`.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("want exactly one FILE")
	}
	file := fs.Arg(0)
	start := time.Now()
	var n int64
	if *offline {
		path := filepath.Join(*data, "index.db")
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("no index at %s: %w", path, err)
		}
		idx, err := index.Open(ctx, path, index.Options{Timeout: 2 * time.Second})
		if errors.Is(err, berrors.ErrTimeout) {
			return fmt.Errorf("the index %s is locked, probably by the running server: use backup --url instead of --offline", path)
		}
		if err != nil {
			return err
		}
		n, err = idx.BackupFile(ctx, file)
		if cerr := idx.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	} else {
		if *token == "" {
			*token = os.Getenv("MINIPACS_TOKEN")
		}
		var err error
		n, err = backup.Download(ctx, *base, file, func(r *http.Request) {
			switch {
			case *token != "":
				r.Header.Set("Authorization", "Bearer "+*token)
			case *user != "":
				r.SetBasicAuth(*user, os.Getenv("MINIPACS_PASSWORD"))
			}
		})
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "backup of the index written to %s: %s in %s, consistency check passed\n",
		file, humanBytes(n), time.Since(start).Round(time.Millisecond))
	return nil
}

// envDefault returns $k, or def when it is unset or empty.
func envDefault(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
