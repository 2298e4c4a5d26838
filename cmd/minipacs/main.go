// Command minipacs is a DICOMweb archive in one binary: STOW-RS, QIDO-RS and
// WADO-RS over an object store (embedded on-disk by default, or S3) and an
// embedded bbolt index.
//
//	minipacs [serve] [flags]   run the server (the default)
//	minipacs reindex [flags]   rebuild the index from the object store
//	minipacs version           print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, args, stderr)
	case "reindex":
		err = reindex(ctx, args, stdout, stderr)
	case "version":
		fmt.Fprintf(stdout, "minipacs %s\n", version)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, "usage: minipacs [serve|reindex|version] [flags]; minipacs serve -h for the flags")
	default:
		fmt.Fprintf(stderr, "minipacs: unknown command %q (serve, reindex, version)\n", cmd)
		return 2
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "minipacs %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

// newLogger builds the process logger.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	opt := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opt)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opt)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}
