package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/minipacs/minipacs/dicomweb/stowclient"
)

// errImportFailed makes `minipacs import` exit non-zero when a file failed.
var errImportFailed = errors.New("some files were not stored")

// importCmd implements `minipacs import [flags] DIR|FILE...`: upload a
// folder (loose files or a DICOMDIR tree) to a running archive over STOW-RS.
func importCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", envOr("MINIPACS_URL", "http://127.0.0.1:8080/dicomweb"), "DICOMweb root of the archive (a bare http://host:port gets /dicomweb)")
	par := fs.Int("parallel", 4, "STOW-RS requests in flight")
	batch := fs.Int("batch", 32, "files per STOW-RS request")
	token := fs.String("token", "", "bearer token (default: $MINIPACS_TOKEN)")
	user := fs.String("user", "", "HTTP Basic user (password from $MINIPACS_PASSWORD)")
	caFile := fs.String("ca-file", "", "PEM file of CA certificates to trust for https")
	noResume := fs.Bool("no-resume", false, "send every file, without asking the archive what it already holds")
	quiet := fs.Bool("quiet", false, "no progress display")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: minipacs import [flags] DIR|FILE...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("nothing to import: name a folder or files")
	}
	root := strings.TrimRight(*base, "/")
	if u := strings.TrimPrefix(strings.TrimPrefix(root, "http://"), "https://"); !strings.Contains(u, "/") {
		root += "/dicomweb"
	}
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s: no PEM certificates", *caFile)
		}
		hc.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	cl := &stowclient.Client{Base: root, HTTP: hc}
	if *token == "" {
		*token = os.Getenv("MINIPACS_TOKEN")
	}
	switch {
	case *token != "":
		tok := *token
		cl.Authorize = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	case *user != "":
		u, pw := *user, os.Getenv("MINIPACS_PASSWORD")
		cl.Authorize = func(r *http.Request) { r.SetBasicAuth(u, pw) }
	}

	sc, err := stowclient.Walk(ctx, fs.Args())
	if err != nil {
		return err
	}
	skipped := 0
	for _, ps := range sc.Skipped {
		skipped += len(ps)
	}
	fmt.Fprintf(stderr, "found %d DICOM files (%s), skipping %d other files\n", len(sc.Files), mb(sc.Bytes), skipped)

	bar := &progressBar{w: stderr, tty: isTerminal(stderr) && !*quiet, quiet: *quiet}
	im := &stowclient.Importer{Client: cl, Parallel: *par, BatchFiles: *batch, Resume: !*noResume, Progress: bar.update}
	stop := bar.start()
	sum, err := im.Run(ctx, sc)
	stop()
	if sum != nil {
		printSummary(stdout, sc, sum)
	}
	if err != nil {
		return err
	}
	if len(sum.Failed) > 0 {
		return fmt.Errorf("%w: %d failed", errImportFailed, len(sum.Failed))
	}
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func printSummary(w io.Writer, sc *stowclient.Scan, sum *stowclient.Summary) {
	skipped := 0
	for _, ps := range sc.Skipped {
		skipped += len(ps)
	}
	fmt.Fprintf(w, "stored %d, already present %d, skipped %d, failed %d\n", sum.Stored, sum.Present, skipped, len(sum.Failed))
	reasons := make([]string, 0, len(sc.Skipped))
	for r := range sc.Skipped {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		fmt.Fprintf(w, "  skipped %d: %s\n", len(sc.Skipped[r]), r)
	}
	for _, o := range sum.Warnings {
		fmt.Fprintf(w, "  stored with %s: %s\n", o.Reason, o.File.Path)
	}
	for _, o := range sum.Failed {
		fmt.Fprintf(w, "  FAILED %s: %s\n", o.File.Path, o.Reason)
	}
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressBar draws files, MB, rate and ETA: redrawn in place on a
// terminal, a line every 5 s otherwise.
type progressBar struct {
	w     io.Writer
	tty   bool
	quiet bool
	mu    sync.Mutex
	last  stowclient.Progress
	seen  bool
}

func (p *progressBar) update(pr stowclient.Progress) {
	p.mu.Lock()
	p.last, p.seen = pr, true
	p.mu.Unlock()
}

func (p *progressBar) start() (stop func()) {
	if p.quiet {
		return func() {}
	}
	every := 5 * time.Second
	if p.tty {
		every = 200 * time.Millisecond
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				p.draw(true)
				return
			case <-t.C:
				p.draw(false)
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (p *progressBar) draw(final bool) {
	p.mu.Lock()
	pr, seen := p.last, p.seen
	p.mu.Unlock()
	if !seen {
		return
	}
	el := time.Since(pr.Started).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(pr.Bytes) / 1e6 / el
	}
	eta := "--:--"
	if pr.Bytes > 0 && pr.TotalBytes > pr.Bytes {
		s := int(el * float64(pr.TotalBytes-pr.Bytes) / float64(pr.Bytes))
		eta = fmt.Sprintf("%d:%02d", s/60, s%60)
	} else if pr.Bytes >= pr.TotalBytes {
		eta = "0:00"
	}
	frac := 1.0
	if pr.TotalBytes > 0 {
		frac = float64(pr.Bytes) / float64(pr.TotalBytes)
	}
	const width = 30
	n := int(frac * width)
	bar := strings.Repeat("=", n) + strings.Repeat(" ", width-n)
	line := fmt.Sprintf("[%s] %d/%d files  %.1f/%.1f MB  %.1f MB/s  ETA %s", bar, pr.Files, pr.TotalFiles,
		float64(pr.Bytes)/1e6, float64(pr.TotalBytes)/1e6, rate, eta)
	if p.tty {
		end := ""
		if final {
			end = "\n"
		}
		fmt.Fprintf(p.w, "\r%s\x1b[K%s", line, end)
		return
	}
	fmt.Fprintln(p.w, line)
}
