// Command minipacs is a DICOMweb archive in one binary: STOW-RS, QIDO-RS and
// WADO-RS over an object store (embedded on-disk by default, or S3) and an
// embedded bbolt index.
//
//	minipacs [serve] [flags]             run the server (the default)
//	minipacs reindex [flags]             rebuild the index from the object store
//	minipacs import [flags] DIR|FILE...  upload a folder or files to a running archive over STOW-RS
//	minipacs verify [flags]              re-hash stored objects against the index; list missing, corrupt, orphaned (offline)
//	minipacs gc [flags]                  remove orphaned objects older than a grace period (offline)
//	minipacs backup [flags]              write a consistent copy of the index, from the server or --offline
//	minipacs audit verify FILE|DIR       check the hash chain of an audit log (and its rotated files)
//	minipacs token --name NAME           print a new API token and its credential-file line
//	minipacs token --basic USER          print a new Basic password and its credential-file line
//	minipacs version                     print the version
//	minipacs help                        list every command
//
// This package only wires: it parses flags, builds every dependency
// (store, index, ingest, authentication, audit trail) and passes it down,
// and starts the listeners. The rules live in packages with tests.
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
	"sort"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// command is one subcommand: its entry point and a one-line summary.
type command struct {
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	summary string
}

// commands lists the subcommands. Each lives in a file of its own.
func commands() map[string]command {
	return map[string]command{
		"serve":   {func(ctx context.Context, args []string, _, stderr io.Writer) error { return serve(ctx, args, stderr) }, "run the server (the default)"},
		"reindex": {reindex, "rebuild the index from the object store"},
		"verify":  {verify, "re-hash stored objects against the index; list missing, corrupt and orphaned objects (offline)"},
		"gc":      {gc, "remove orphaned objects older than a grace period (offline)"},
		"backup":  {backupCmd, "write a consistent copy of the index, from the running server or --offline"},
		"audit":   {auditCmd, "audit trail tools: verify FILE|DIR checks the hash chain"},
		"token":   {token, "print a new API token (or --basic USER: a Basic password) and its credential-file line"},
		"import":  {importCmd, "upload a folder or files to a running archive over STOW-RS"},
		"version": {func(_ context.Context, _ []string, stdout, _ io.Writer) error {
			fmt.Fprintf(stdout, "minipacs %s\n", version)
			return nil
		}, "print the version"},
	}
}

func run(args []string, stdout, stderr io.Writer) int {
	name := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	cmds := commands()
	cmd, ok := cmds[name]
	if !ok {
		if name != "help" {
			fmt.Fprintf(stderr, "minipacs: unknown command %q\n", name)
		}
		w := stdout
		if name != "help" {
			w = stderr
		}
		fmt.Fprintln(w, "usage: minipacs [command] [flags]; minipacs COMMAND -h for its flags")
		names := make([]string, 0, len(cmds))
		for n := range cmds {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
		}
		if name == "help" {
			return 0
		}
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.run(ctx, args, stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "minipacs %s: %v\n", name, err)
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
