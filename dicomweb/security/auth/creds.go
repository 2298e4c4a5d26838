package auth

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// credLine is one line of a credential file (see the package doc).
type credLine struct {
	name        string
	secret      string
	roles       Roles
	restriction *Restriction
}

// maxCredFileBytes bounds a credential file.
const maxCredFileBytes = 16 << 20

// readCredFile reads a credential file; check validates the secret field.
func readCredFile(path string, check func(secret string) error) ([]credLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("auth: credential file: %w", err)
	}
	defer f.Close()
	lines, err := parseCredLines(io.LimitReader(f, maxCredFileBytes), check)
	if err != nil {
		return nil, fmt.Errorf("auth: %s: %w", path, err)
	}
	return lines, nil
}

// parseCredLines parses credential lines. Errors name the line number but
// never quote the secret.
func parseCredLines(r io.Reader, check func(secret string) error) ([]credLine, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	var out []credLine
	names := map[string]bool{}
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, fmt.Errorf("line %d: want NAME SECRET-HASH ROLES [patients=...] [tenants=...]", n)
		}
		c := credLine{name: f[0], secret: f[1]}
		if names[c.name] {
			return nil, fmt.Errorf("line %d: duplicate name %q", n, c.name)
		}
		names[c.name] = true
		if err := check(c.secret); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		roles, err := ParseRoles(f[2])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		c.roles = roles
		for _, opt := range f[3:] {
			k, v, _ := strings.Cut(opt, "=")
			if c.restriction == nil {
				c.restriction = &Restriction{}
			}
			var vals []string
			for s := range strings.SplitSeq(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					vals = append(vals, s)
				}
			}
			switch k {
			case "patients":
				c.restriction.Patients = []PatientRef{}
				for _, s := range vals {
					c.restriction.Patients = append(c.restriction.Patients, ParsePatientRef(s))
				}
			case "tenants":
				c.restriction.Tenants = append([]string{}, vals...)
			default:
				return nil, fmt.Errorf("line %d: unknown option %q (want patients= or tenants=)", n, k)
			}
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
