package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/minipacs/minipacs/dicomweb/security/audit"
)

// auditCmd runs the audit subcommands:
//
//	minipacs audit verify FILE|DIR
//
// verify checks the hash chain of an audit log file, or of a directory
// holding a log and its rotated files, and names the first broken record.
func auditCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: minipacs audit verify FILE|DIR")
		fmt.Fprintln(stderr, "  checks the hash chain of an audit log (a directory: the log and its rotated files)")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 || fs.Arg(0) != "verify" {
		fs.Usage()
		return errors.New("want: verify FILE|DIR")
	}
	res, err := audit.VerifyPath(fs.Arg(1))
	if err != nil {
		return err
	}
	if res.Broken != nil {
		return fmt.Errorf("broken after %d intact records: %s", res.Records, res.Broken)
	}
	note := ""
	if res.Records > 0 && !res.StartChecked {
		note = fmt.Sprintf("; starts at seq %d, verify the directory to check the earlier files", res.FirstSeq)
	}
	fmt.Fprintf(stdout, "ok: %d records (seq %d..%d%s)\n", res.Records, res.FirstSeq, res.LastSeq, note)
	return nil
}
