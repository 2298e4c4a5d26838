package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minipacs/minipacs/index"
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
		n, err = downloadBackup(ctx, *base, file, func(r *http.Request) {
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

// downloadBackup fetches POST base/admin/backup into file (through
// index.WriteBackupFile: temporary file, fsync, check, rename).
func downloadBackup(ctx context.Context, base, file string, authorize func(*http.Request)) (int64, error) {
	u, err := url.Parse(strings.TrimSuffix(strings.TrimSuffix(base, "/"), "/dicomweb"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return 0, fmt.Errorf("--url %q: want http(s)://host[:port]", base)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + backupPath
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), nil)
	if err != nil {
		return 0, err
	}
	authorize(req)
	hc := &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		ResponseHeaderTimeout: 10 * time.Minute, // the server copies the index locally first
	}}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, fmt.Errorf("backup: %s answered %s: %s", u.Redacted(), resp.Status, strings.TrimSpace(string(msg)))
	}
	var n int64
	err = index.WriteBackupFile(ctx, file, func(w io.Writer) error {
		var err error
		n, err = io.Copy(w, resp.Body)
		if err != nil {
			return fmt.Errorf("download: %w", err)
		}
		if resp.ContentLength >= 0 && n != resp.ContentLength {
			return fmt.Errorf("download: %d of %d bytes", n, resp.ContentLength)
		}
		return nil
	})
	return n, err
}

// envDefault returns $k, or def when it is unset or empty.
func envDefault(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
