package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func cmdBaselineDisk(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("baseline-disk", stderr)
	dir := fs.String("dir", "", "directory to write into (a temporary subdirectory is created and removed)")
	n := fs.Int("n", 200, "files to write")
	size := fs.Int("size", 512<<10, "bytes per file")
	clients := fs.Int("clients", 1, "concurrent writers")
	name := fs.String("name", "", "result name (default baseline_disk_c<clients>)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *n < 1 || *size < 1 || *clients < 1 {
		return errors.New("baseline-disk: -dir is required; -n, -size and -clients must be at least 1")
	}
	if *name == "" {
		*name = fmt.Sprintf("baseline_disk_c%d", *clients)
	}
	tmp, err := os.MkdirTemp(*dir, "baseline-disk-")
	if err != nil {
		return fmt.Errorf("baseline-disk: %w", err)
	}
	defer os.RemoveAll(tmp)
	r, err := diskBaseline(ctx, tmp, *n, *size, *clients, *name)
	if err != nil {
		return fmt.Errorf("baseline-disk: %w", err)
	}
	r.print(stdout, stderr)
	return nil
}

// diskBaseline writes n files of size bytes, each fsynced before close (what
// a durable object store must at least do per instance), and reports the rate.
func diskBaseline(ctx context.Context, dir string, n, size, clients int, name string) (*result, error) {
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = byte(i*7 + i>>9)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	var lat latencies
	errs := make(chan error, clients)
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				if err := writeSynced(filepath.Join(dir, fmt.Sprintf("f%06d", i)), buf); err != nil {
					errs <- err
					return
				}
				lat.add(time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := newResult(name)
	r.int("files", int64(n))
	r.int("file_bytes", int64(size))
	r.float("files_per_s", float64(n)/elapsed.Seconds())
	r.float("mb_per_s", mb(int64(n)*int64(size))/elapsed.Seconds())
	lat.report(r)
	return r, nil
}

func writeSynced(path string, b []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

func cmdBaselineHTTP(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("baseline-http", stderr)
	total := fs.Int64("mb", 1000, "MB to send up and to receive down")
	chunk := fs.Int64("request-mb", 25, "MB per request")
	clients := fs.Int("clients", 1, "concurrent clients")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *total < 1 || *chunk < 1 || *clients < 1 {
		return errors.New("baseline-http: -mb, -request-mb and -clients must be at least 1")
	}
	rs, err := httpBaseline(ctx, *total*1e6, *chunk*1e6, *clients)
	if err != nil {
		return fmt.Errorf("baseline-http: %w", err)
	}
	for _, r := range rs {
		r.print(stdout, stderr)
	}
	return nil
}

// httpBaseline starts a throwaway server on 127.0.0.1 that discards uploads
// and serves zero-filled downloads, and measures both directions through
// net/http with keep-alive: the ceiling any HTTP server here can reach.
func httpBaseline(ctx context.Context, total, chunk int64, clients int) ([]*result, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	zero := make([]byte, 256<<10)
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.Method == http.MethodPost {
				io.Copy(io.Discard, req.Body)
				w.WriteHeader(http.StatusNoContent)
				return
			}
			n, err := strconv.ParseInt(req.URL.Query().Get("n"), 10, 64)
			if err != nil || n < 0 || n > 1<<34 {
				http.Error(w, "bad n", http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
			for n > 0 {
				k := min(n, int64(len(zero)))
				if _, err := w.Write(zero[:k]); err != nil {
					return
				}
				n -= k
			}
		}),
	}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	client := newHTTPClient(clients, time.Minute)

	measure := func(name string, do func(n int64) error) (*result, error) {
		var next atomic.Int64
		var wg sync.WaitGroup
		var moved atomic.Int64
		errs := make(chan error, clients)
		start := time.Now()
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					off := next.Add(chunk) - chunk
					if off >= total {
						return
					}
					n := min(chunk, total-off)
					if err := do(n); err != nil {
						errs <- err
						return
					}
					moved.Add(n)
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		close(errs)
		if err := <-errs; err != nil {
			return nil, err
		}
		r := newResult(name)
		r.int("clients", int64(clients))
		r.float("mb", mb(moved.Load()))
		r.float("mb_per_s", mb(moved.Load())/elapsed.Seconds())
		return r, nil
	}
	up, err := measure(fmt.Sprintf("baseline_http_up_c%d", clients), func(n int64) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/up", io.LimitReader(zeroReader{}, n))
		if err != nil {
			return err
		}
		req.ContentLength = n
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("upload: %w", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil
	})
	if err != nil {
		return nil, err
	}
	down, err := measure(fmt.Sprintf("baseline_http_down_c%d", clients), func(n int64) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/down?n="+strconv.FormatInt(n, 10), nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("download: %w", err)
		}
		defer resp.Body.Close()
		got, err := io.Copy(io.Discard, resp.Body)
		if err != nil {
			return fmt.Errorf("download: %w", err)
		}
		if got != n {
			return fmt.Errorf("download: got %d bytes, want %d", got, n)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return []*result{up, down}, nil
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func cmdWait(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("wait", stderr)
	root := fs.String("url", "", "server root; polls ROOT/healthz (or ROOT + -path)")
	path := fs.String("path", "/healthz", "path polled under the root until it answers 200 (Orthanc: /system)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *root == "" {
		return errors.New("wait: -url is required")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	client := newHTTPClient(1, 2*time.Second)
	u := trimSlash(*root) + "/" + strings.TrimLeft(*path, "/")
	for {
		status, err := getDiscard(ctx, client, u, "*/*")
		if err == nil && status == http.StatusOK {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: last status %d, error %v: %w", u, status, err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

func cmdFreePort(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("freeport: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	fmt.Fprintln(stdout, port)
	return nil
}
