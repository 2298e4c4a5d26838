// Package backup serves a consistent copy of the running server's index
// over HTTP (POST /admin/backup, admin only) and fetches it (`minipacs
// backup --url`).
//
// The server first copies the index to a temporary file in its data
// directory, so the read transaction lasts as long as a local copy, not as
// long as the client takes to download (a long read transaction would keep
// writers from growing the file); the file is removed when the answer is
// sent. The client writes the download through index.WriteBackupFile
// (temporary file, fsync, check, rename), so the target is either left as
// it was or replaced by a complete, checked copy.
package backup

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/index"
)

// Path is the route of the backup endpoint.
const Path = "/admin/backup"

// Source is what the handler needs of the index.
type Source interface {
	// Backup writes a consistent copy of the index to w.
	Backup(ctx context.Context, w io.Writer) (int64, error)
}

var _ Source = (*index.Index)(nil)

// Handler answers with a consistent copy of src, staged in a temporary
// file in dir.
func Handler(src Source, dir string, log *slog.Logger) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		f, err := os.CreateTemp(dir, ".backup-*.db")
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		defer os.Remove(f.Name())
		defer f.Close()
		start := time.Now()
		n, err := src.Backup(ctx, f)
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		h := c.Response().Header()
		h.Set(echo.HeaderContentType, "application/octet-stream")
		h.Set(echo.HeaderContentLength, strconv.FormatInt(n, 10))
		h.Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="minipacs-index-%s.db"`, start.UTC().Format("20060102T150405Z")))
		h.Set("Cache-Control", "no-store")
		c.Response().WriteHeader(http.StatusOK)
		sent, err := io.Copy(c.Response(), io.LimitReader(f, n))
		if err != nil {
			log.Warn("backup download interrupted", "sent", sent, "of", n, "err", err)
			return nil // headers are sent: nothing more to tell the client
		}
		log.Info("index backup sent", "bytes", n, "duration", time.Since(start).Round(time.Millisecond))
		return nil
	}
}

// Download fetches POST base/admin/backup into file (through
// index.WriteBackupFile). base is the server's root or its /dicomweb
// root; authorize sets the request's credentials.
func Download(ctx context.Context, base, file string, authorize func(*http.Request)) (int64, error) {
	u, err := url.Parse(strings.TrimSuffix(strings.TrimSuffix(base, "/"), "/dicomweb"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return 0, fmt.Errorf("--url %q: want http(s)://host[:port]", base)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + Path
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
