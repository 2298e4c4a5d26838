package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/minipacs/minipacs/dicomweb/security/auth"
	"golang.org/x/crypto/bcrypt"
)

// token prints a new API token and the line for the API token file, or
// (--basic USER) a Basic password and the line for the users file.
func token(_ context.Context, args []string, stdout, stderr io.Writer) error {
	return tokenCmd(args, os.Stdin, stdout, stderr)
}

func tokenCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "name of the token (a modality or script), required for an API token")
	roles := fs.String("roles", "writer", "comma-separated roles: reader, writer, admin")
	basic := fs.String("basic", "", "print a line for the Basic users file for this user instead of an API token")
	stdinPw := fs.Bool("password-stdin", false, "with --basic: read the password from the first line of stdin instead of generating one")
	cost := fs.Int("bcrypt-cost", 12, "with --basic: bcrypt cost")
	patients := fs.String("patients", "", "restrict to these Patient IDs (comma-separated, ID or ID^^^ISSUER)")
	tenants := fs.String("tenants", "", "restrict to these tenants (Issuer of Patient ID values, comma-separated)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: minipacs token --name NAME [--roles writer]\n       minipacs token --basic USER [--roles writer] [--password-stdin]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	rs, err := auth.ParseRoles(*roles)
	if err != nil {
		return err
	}
	if rs == 0 {
		return errors.New("--roles: at least one role")
	}
	var extra string
	for _, o := range []struct{ key, val string }{{"patients", *patients}, {"tenants", *tenants}} {
		if strings.ContainsAny(o.val, " \t") {
			return fmt.Errorf("--%s: no spaces", o.key)
		}
		if o.val != "" {
			extra += " " + o.key + "=" + o.val
		}
	}
	if *basic != "" {
		if strings.ContainsAny(*basic, " \t:#") || strings.HasPrefix(*basic, "#") {
			return errors.New("--basic: user names cannot contain spaces, ':' or '#'")
		}
		var pw string
		if *stdinPw {
			line, err := bufio.NewReader(io.LimitReader(stdin, 1024)).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("reading the password: %w", err)
			}
			pw = strings.TrimRight(line, "\r\n")
			if len(pw) < 8 || len(pw) > 72 {
				return errors.New("password: want 8 to 72 bytes")
			}
		} else {
			var b [18]byte
			rand.Read(b[:])
			pw = base64.RawURLEncoding.EncodeToString(b[:])
			fmt.Fprintf(stdout, "password: %s\n", pw)
		}
		h, err := bcrypt.GenerateFromPassword([]byte(pw), *cost)
		if err != nil {
			return fmt.Errorf("bcrypt: %w", err)
		}
		fmt.Fprintf(stdout, "users file line:\n%s %s %s%s\n", *basic, h, rs, extra)
		return nil
	}
	if *name == "" || strings.ContainsAny(*name, " \t") || strings.HasPrefix(*name, "#") {
		return errors.New("--name: required, without spaces")
	}
	tok, hash := auth.GenerateToken()
	fmt.Fprintf(stdout, "token: %s\napi token file line:\n%s %s %s%s\n", tok, *name, hash, rs, extra)
	return nil
}
