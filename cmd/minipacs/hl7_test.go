package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestHL7Flags(t *testing.T) {
	allow := filepath.Join(t.TempDir(), "allow")
	if err := os.WriteFile(allow, []byte("GENHOSP 10.0.0.0/8\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		c    hl7Config
		ok   bool
	}{
		{"off", hl7Config{}, true},
		{"loopback", hl7Config{listen: "127.0.0.1:2575"}, true},
		{"public without allow list", hl7Config{listen: "0.0.0.0:2575"}, false},
		{"public with allow list", hl7Config{listen: "0.0.0.0:2575", allow: allow}, true},
		{"missing allow list", hl7Config{listen: "127.0.0.1:2575", allow: allow + ".missing"}, false},
		{"tls cert without key", hl7Config{listen: "127.0.0.1:2575", tlsCert: "c.pem"}, false},
		{"tls ca without cert", hl7Config{listen: "127.0.0.1:2575", tlsCA: "ca.pem"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.c.check(); (err == nil) != tc.ok {
				t.Errorf("check: %v, want ok %v", err, tc.ok)
			}
		})
	}
}
