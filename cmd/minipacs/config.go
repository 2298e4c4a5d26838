package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/index/postgres"
	"github.com/minipacs/minipacs/storage"
	"github.com/minipacs/minipacs/storage/disk"
	"github.com/minipacs/minipacs/storage/s3"
	"github.com/minipacs/minipacs/web"
)

// config holds the flags shared by serve and reindex.
type config struct {
	listen     string
	data       string
	storage    string
	s3         s3.Config
	logFormat  string
	logLevel   string
	baseURL    string
	maxRequest int64
	maxPart    int64
	maxParts   int
	ingestConc int
	qidoMax    int
	duplicates string
	indexURL   string
	pprof      string
	memLimit   int64 // soft limit of the Go runtime (serve.go)
	// web: the browser pages and OHIF (package web)
	corsOrigins string
	viewerDir   string
	// scrub: the background scrub of serve (admin.go)
	scrub scrubConfig
	// sec: authentication, TLS, audit trail, header limits (security.go)
	sec securityConfig
	// dimse: the DICOM (DIMSE) listener (dimse.go)
	dimse dimseConfig
	// hl7: the HL7 v2 (MLLP) listener (hl7.go)
	hl7 hl7Config
}

func (c *config) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&c.data, "data", "./minipacs-data", "data directory: index, spool and (with --storage disk) the objects")
	fs.StringVar(&c.storage, "storage", "disk", "object store: disk or s3")
	fs.StringVar(&c.s3.Endpoint, "s3-endpoint", "", "S3 endpoint host[:port]")
	fs.StringVar(&c.s3.Bucket, "s3-bucket", "", "S3 bucket")
	fs.StringVar(&c.s3.Prefix, "s3-prefix", "", "key prefix inside the bucket")
	fs.StringVar(&c.s3.Region, "s3-region", "", "S3 region")
	fs.BoolVar(&c.s3.Insecure, "s3-insecure", false, "use plain HTTP to the S3 endpoint")
	fs.DurationVar(&c.s3.Timeout, "s3-timeout", 30*time.Second, "bound on each object store call without progress (timeouts answer 503 / 0xA700)")
	fs.BoolVar(&c.s3.CreateBucket, "s3-create-bucket", false, "create the S3 bucket at start-up when it does not exist")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.baseURL, "base-url", "", "external URL of the DICOMweb root (default: from each request's Host)")
	fs.Int64Var(&c.maxRequest, "max-request-bytes", 32<<30, "largest STOW request body in bytes (413 beyond; 0: no limit)")
	fs.Int64Var(&c.maxPart, "max-part-bytes", 4<<30, "largest single object in a STOW request, in bytes")
	fs.IntVar(&c.maxParts, "max-parts", 10000, "most parts in one STOW request")
	fs.IntVar(&c.ingestConc, "ingest-concurrency", 16, "parts processed at once, server-wide")
	fs.IntVar(&c.qidoMax, "qido-max-limit", 1000, "largest QIDO limit (larger ones are clamped with a Warning)")
	fs.Int64Var(&c.memLimit, "memory-limit-bytes", 0, "soft memory limit of the Go runtime in bytes (debug.SetMemoryLimit): the GC works harder and returns memory sooner as the heap nears it; not a hard cap; 0: none (GOMEMLIMIT applies)")
	fs.StringVar(&c.pprof, "pprof-listen", "", "if set, serve Go profiling (net/http/pprof) on this address, e.g. 127.0.0.1:6060")
	fs.StringVar(&c.corsOrigins, "cors-origins", "", "comma-separated origins (scheme://host[:port]) whose pages may call /dicomweb; \"*\" allows any origin, without credentials")
	fs.StringVar(&c.viewerDir, "viewer-dir", "web/viewer/dist", "directory of the OHIF build served at /viewer/ (make viewer installs it there)")
	fs.StringVar(&c.indexURL, "index-url", os.Getenv("MINIPACS_INDEX_URL"), "PostgreSQL index shared by several nodes, e.g. "+
		"postgres://minipacs@db1,db2/minipacs?target_session_attrs=read-write (default $MINIPACS_INDEX_URL; empty: the embedded bbolt index in --data)")
	fs.StringVar(&c.duplicates, "duplicates", "reject", "same SOP Instance UID with different content: reject (0x0111) or replace")
	c.scrub.flags(fs) // admin.go
	c.sec.flags(fs)   // security.go
	c.dimse.flags(fs) // dimse.go
	c.hl7.flags(fs)   // hl7.go
}

// parse parses args, with MINIPACS_<FLAG> environment variables as
// fallbacks for flags not given on the command line.
func (c *config) parse(fs *flag.FlagSet, args []string) error {
	c.flags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		env := "MINIPACS_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if e := f.Value.Set(v); e != nil && err == nil {
				err = fmt.Errorf("%s: %w", env, e)
			}
		}
	})
	if err != nil {
		return err
	}
	c.s3.AccessKey = firstEnv("MINIPACS_S3_ACCESS_KEY", "AWS_ACCESS_KEY_ID")
	c.s3.SecretKey = firstEnv("MINIPACS_S3_SECRET_KEY", "AWS_SECRET_ACCESS_KEY")
	if c.s3.Region == "" {
		c.s3.Region = firstEnv("AWS_REGION", "AWS_DEFAULT_REGION")
	}
	if _, err := web.ParseOrigins(c.corsOrigins); err != nil {
		return fmt.Errorf("--cors-origins: %w", err)
	}
	if c.duplicates != "reject" && c.duplicates != "replace" {
		return fmt.Errorf("--duplicates: want reject or replace")
	}
	return nil
}

// setup parses the flags of subcommand name and builds its logger.
func setup(name string, args []string, stderr io.Writer) (*config, *slog.Logger, error) {
	cfg := new(config)
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := cfg.parse(fs, args); err != nil {
		return nil, nil, err
	}
	log, err := newLogger(stderr, cfg.logFormat, cfg.logLevel)
	if err != nil {
		return nil, nil, err
	}
	return cfg, log, nil
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// openStore builds the configured object store.
func (c *config) openStore(ctx context.Context) (storage.Store, error) {
	switch c.storage {
	case "disk":
		return disk.Open(c.data)
	case "s3":
		if c.s3.Endpoint == "" || c.s3.Bucket == "" {
			return nil, errors.New("--storage s3 needs --s3-endpoint and --s3-bucket")
		}
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return s3.New(ctx, c.s3)
	}
	return nil, fmt.Errorf("--storage %q: want disk or s3", c.storage)
}

// openIndex opens the index: PostgreSQL with --index-url, else the bbolt
// index at path (default: in the data directory).
func (c *config) openIndex(ctx context.Context, path string) (index.Engine, error) {
	opt := index.Options{Replace: c.duplicates == "replace"}
	if c.indexURL != "" {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return postgres.Open(ctx, c.indexURL, opt)
	}
	if path == "" {
		path = c.indexFile()
	}
	return index.Open(ctx, path, opt)
}

// indexShared says whether the index is a database that several nodes
// share (PostgreSQL), not a file of this node's.
func (c *config) indexShared() bool { return c.indexURL != "" }

// indexFile is the path of the index file in the data directory.
func (c *config) indexFile() string { return filepath.Join(c.data, "index.db") }
