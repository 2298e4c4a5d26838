package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// dicomFile is one Part-10 file to send.
type dicomFile struct {
	path string
	size int64
}

// findDicomFiles lists the *.dcm files under dir, sorted by path.
func findDicomFiles(dir string) ([]dicomFile, error) {
	var files []dicomFile
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".dcm") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		files = append(files, dicomFile{path: path, size: info.Size()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	slices.SortFunc(files, func(a, b dicomFile) int { return strings.Compare(a.path, b.path) })
	return files, nil
}

// multipartBody streams a multipart/related body whose parts are files,
// opening each file only when the reader reaches it; at most one file is
// open at a time, and nothing is held in memory beyond the part headers.
type multipartBody struct {
	boundary string
	files    []dicomFile
	next     int       // index of the next file to open
	cur      io.Reader // current segment: header, file, or trailer
	curFile  *os.File
	done     bool
}

func newBoundary() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return "minipacs-bench-" + hex.EncodeToString(b[:])
}

func newMultipartBody(boundary string, files []dicomFile) *multipartBody {
	return &multipartBody{boundary: boundary, files: files}
}

func (m *multipartBody) partHeader() string {
	return "--" + m.boundary + "\r\nContent-Type: application/dicom\r\n\r\n"
}

// contentLength is the exact size of the body.
func (m *multipartBody) contentLength() int64 {
	var n int64
	for _, f := range m.files {
		n += int64(len(m.partHeader())) + f.size + 2 // CRLF before the next delimiter
	}
	return n + int64(len("--"+m.boundary+"--\r\n"))
}

// Read implements io.Reader over header, file, CRLF, ..., closing delimiter.
func (m *multipartBody) Read(p []byte) (int, error) {
	for {
		if m.cur != nil {
			n, err := m.cur.Read(p)
			if err == io.EOF {
				m.cur = nil
				if m.curFile != nil {
					m.curFile.Close()
					m.curFile = nil
				}
				err = nil
			}
			if n > 0 || err != nil {
				return n, err
			}
			continue
		}
		if m.done {
			return 0, io.EOF
		}
		if m.next == len(m.files) {
			m.cur = strings.NewReader("--" + m.boundary + "--\r\n")
			m.done = true
			continue
		}
		f := m.files[m.next]
		m.next++
		fh, err := os.Open(f.path)
		if err != nil {
			return 0, fmt.Errorf("open part %s: %w", f.path, err)
		}
		m.curFile = fh
		body := &exactReader{r: io.LimitReader(fh, f.size), left: f.size, name: f.path}
		m.cur = io.MultiReader(strings.NewReader(m.partHeader()), body, strings.NewReader("\r\n"))
	}
}

// Close closes the open file, if any.
func (m *multipartBody) Close() error {
	if m.curFile != nil {
		err := m.curFile.Close()
		m.curFile = nil
		return err
	}
	return nil
}

// exactReader fails if its file is shorter than the size listed earlier, so
// the body never disagrees with its Content-Length.
type exactReader struct {
	r    io.Reader
	left int64
	name string
}

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		return n, fmt.Errorf("read part %s: file shrank by %d bytes: %w", e.name, e.left, io.ErrUnexpectedEOF)
	}
	return n, err
}

// stowResponse is the part of the STOW-RS response that the client counts.
type stowResponse struct {
	Referenced struct {
		Value []json.RawMessage `json:"Value"`
	} `json:"00081199"`
	Failed struct {
		Value []json.RawMessage `json:"Value"`
	} `json:"00081198"`
}

func cmdStow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("stow", stderr)
	base := fs.String("url", "", "DICOMweb root, e.g. http://127.0.0.1:8080/dicomweb; several, comma-separated: the clients are spread over them round-robin (nodes sharing one index and store)")
	dir := fs.String("dir", "", "directory of *.dcm files (searched recursively)")
	clients := fs.Int("clients", 1, "concurrent clients")
	batch := fs.Int("batch", 50, "instances per request")
	limit := fs.Int("limit", 0, "send only the first N files (0: all)")
	name := fs.String("name", "", "result name (default stow_c<clients>)")
	timeout := fs.Duration("timeout", 5*time.Minute, "timeout of the whole run")
	bodyDir := fs.String("body-dir", "", "if set, write each request body to a file here before the clock starts (fsynced, removed after) and send it from the file with sendfile(2): the client then costs the server almost no CPU")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *base == "" || *dir == "" {
		return errors.New("stow: -url and -dir are required")
	}
	if *clients < 1 || *batch < 1 {
		return errors.New("stow: -clients and -batch must be at least 1")
	}
	files, err := findDicomFiles(*dir)
	if err != nil {
		return fmt.Errorf("stow: %w", err)
	}
	if *limit > 0 && *limit < len(files) {
		files = files[:*limit]
	}
	if len(files) == 0 {
		return fmt.Errorf("stow: no *.dcm files under %s", *dir)
	}
	if *name == "" {
		*name = fmt.Sprintf("stow_c%d", *clients)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var bases []string
	for _, b := range strings.Split(*base, ",") {
		if b = strings.TrimRight(strings.TrimSpace(b), "/"); b == "" {
			return fmt.Errorf("stow: -url %q: an empty URL", *base)
		}
		bases = append(bases, b)
	}
	res, err := stow(ctx, newHTTPClient(*clients, 0), bases, files, *clients, *batch, *name, *bodyDir)
	if err != nil {
		return err
	}
	res.print(stdout, stderr)
	return nil
}

// stowBody is one request's body: built from the files as it is sent, or
// (prebuilt) a file holding the whole multipart body.
type stowBody struct {
	files    []dicomFile
	path     string // prebuilt body, or ""
	boundary string
	size     int64
}

// open returns the body's reader and length.
func (b *stowBody) open() (io.ReadCloser, int64, error) {
	if b.path == "" {
		m := newMultipartBody(b.boundary, b.files)
		return m, m.contentLength(), nil
	}
	f, err := os.Open(b.path)
	return f, b.size, err
}

// prebuild writes each body to a file in dir and fsyncs it, so that no
// dirty page of the client's is left for the server's syncs to write.
func prebuild(dir string, bodies []*stowBody) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i, b := range bodies {
		r, n, err := b.open()
		if err != nil {
			return err
		}
		path := filepath.Join(dir, fmt.Sprintf("body-%d", i))
		f, err := os.Create(path)
		if err != nil {
			r.Close()
			return err
		}
		w, err := io.Copy(f, r)
		r.Close()
		if err == nil && w != n {
			err = fmt.Errorf("body %d: wrote %d of %d bytes", i, w, n)
		}
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("prebuild %s: %w", path, err)
		}
		b.path, b.size = path, n
	}
	return nil
}

// stow sends files in batches from clients workers and reports the rates.
// Client i sends to bases[i%len(bases)]: at any time, as many requests run
// against each base as round-robin gives it. With bodyDir set, the bodies
// are written there first (see prebuild).
func stow(ctx context.Context, client *http.Client, bases []string, files []dicomFile, clients, batch int, name, bodyDir string) (*result, error) {
	var batches []*stowBody
	for i := 0; i < len(files); i += batch {
		batches = append(batches, &stowBody{files: files[i:min(i+batch, len(files))], boundary: newBoundary()})
	}
	if bodyDir != "" {
		defer func() {
			for _, b := range batches {
				if b.path != "" {
					os.Remove(b.path)
				}
			}
		}()
		if err := prebuild(bodyDir, batches); err != nil {
			return nil, fmt.Errorf("stow: %w", err)
		}
	}
	var (
		cnt             = newCounters()
		lat             latencies
		stored, failed  atomic.Int64
		sentBytes, sent atomic.Int64
	)
	// A worker takes a base for each request and gives it back: with as
	// many bases in the pool as workers, none waits, and each base serves
	// its round-robin share of the clients.
	pool := make(chan string, clients)
	for i := range clients {
		pool <- bases[i%len(bases)]
	}
	elapsed := runWorkers(ctx, clients, slices.Values(batches), cnt, func(b *stowBody) {
		base := <-pool
		defer func() { pool <- base }()
		t0 := time.Now()
		status, resp, n, err := postBatch(ctx, client, base, b)
		if err != nil {
			cnt.addError(err)
			return
		}
		lat.add(time.Since(t0))
		cnt.addStatus(status)
		sentBytes.Add(n)
		sent.Add(int64(len(b.files)))
		stored.Add(int64(len(resp.Referenced.Value)))
		failed.Add(int64(len(resp.Failed.Value)))
	})

	r := newResult(name)
	r.int("clients", int64(clients))
	r.int("nodes", int64(len(bases)))
	r.int("batch", int64(batch))
	r.int("instances", sent.Load())
	r.int("stored", stored.Load())
	r.int("failed", failed.Load())
	r.float("seconds", elapsed.Seconds())
	r.float("instances_per_s", float64(stored.Load())/elapsed.Seconds())
	r.float("mb", mb(sentBytes.Load()))
	r.float("mb_per_s", mb(sentBytes.Load())/elapsed.Seconds())
	lat.report(r)
	cnt.report(r)
	return r, nil
}

// postBatch sends one multipart/related request and decodes its response.
// It returns the status, the counted response, and the payload bytes sent.
func postBatch(ctx context.Context, client *http.Client, base string, b *stowBody) (int, stowResponse, int64, error) {
	var sr stowResponse
	files := b.files
	body, size, err := b.open()
	if err != nil {
		return 0, sr, 0, fmt.Errorf("stow body: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/studies", body)
	if err != nil {
		body.Close()
		return 0, sr, 0, fmt.Errorf("stow request: %w", err)
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", `multipart/related; type="application/dicom"; boundary=`+b.boundary)
	req.Header.Set("Accept", "application/dicom+json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, sr, 0, fmt.Errorf("stow post: %w", err)
	}
	defer resp.Body.Close()
	var payload int64
	for _, f := range files {
		payload += f.size
	}
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusConflict {
		if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&sr); err != nil {
			return resp.StatusCode, sr, payload, fmt.Errorf("stow response (status %d): %w", resp.StatusCode, err)
		}
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, sr, payload, nil
}
