// Command benchclient is the load client of scripts/bench: it drives a
// minipacs (or any DICOMweb) server over loopback and prints one
// machine-readable line per measurement, "name=... key=value ...".
//
// Subcommands:
//
//	stow         -url BASE -dir DIR [-clients C] [-batch 50]   STOW-RS ingest rate
//	qido         -url BASE [-n 200] -query 'label|PatientName=X&limit=25' ...   search latency
//	wado-series  -url BASE [-study S -series R | -filter Q]    series retrieve MB/s
//	metadata     -url BASE [-study S -series R | -filter Q]    series metadata latency
//	frames       -url BASE [-study S -series R | -filter Q] [-clients C]   frames/1 rate
//	rendered     -url BASE [-study S -series R | -filter Q] [-clients C]   rendered JPEG rate
//	discover     -url BASE -filter Q                           print the largest matching series
//	baseline-disk -dir DIR                                     write+fsync rate of 512 KiB files
//	baseline-http                                              loopback HTTP copy rate
//	baseline-sha256                                            SHA-256 hashing rate of one core
//	wait         -url ROOT                                     wait until ROOT/healthz answers 200
//	freeport                                                   print a free loopback TCP port
//
// BASE is the DICOMweb root (http://127.0.0.1:PORT/dicomweb for minipacs,
// http://127.0.0.1:PORT/dicom-web for Orthanc's DICOMweb plugin). Sizes are in
// MB = 10^6 bytes; latencies in milliseconds. Every request loop is bounded
// by its count and by -timeout, and talks to the given URL only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "benchclient:", err)
		os.Exit(1)
	}
}

// command is one subcommand: it parses its own flags from args and writes
// its result lines to stdout.
type command func(ctx context.Context, args []string, stdout, stderr io.Writer) error

var commands = map[string]command{
	"stow":            cmdStow,
	"qido":            cmdQIDO,
	"wado-series":     cmdWADOSeries,
	"metadata":        cmdMetadata,
	"frames":          cmdFrames,
	"rendered":        cmdRendered,
	"discover":        cmdDiscover,
	"baseline-disk":   cmdBaselineDisk,
	"baseline-http":   cmdBaselineHTTP,
	"baseline-sha256": cmdBaselineSHA256,
	"wait":            cmdWait,
	"freeport":        cmdFreePort,
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage())
	}
	cmd, ok := commands[args[0]]
	if !ok {
		return fmt.Errorf("unknown subcommand %q\n%s", args[0], usage())
	}
	return cmd(ctx, args[1:], stdout, stderr)
}

func usage() string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return fmt.Sprintf("usage: benchclient SUBCOMMAND [flags]; subcommands: %v", names)
}

// newFlags returns a flag set that reports to stderr and does not exit.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("benchclient "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
