package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestDIMSEPolicyFlags(t *testing.T) {
	peers := filepath.Join(t.TempDir(), "peers")
	if err := os.WriteFile(peers, []byte("CT1 10.0.0.7 104 echo,store\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		c         dimseConfig
		ok        bool
		acceptAny bool
	}{
		{"off", dimseConfig{listen: ""}, true, false},
		{"loopback", dimseConfig{listen: "127.0.0.1:11112"}, true, true},
		{"localhost", dimseConfig{listen: "localhost:11112"}, true, true},
		{"every interface, nothing said", dimseConfig{listen: ":11112"}, false, false},
		{"public, nothing said", dimseConfig{listen: "192.0.2.1:104"}, false, false},
		{"public, accept any", dimseConfig{listen: "0.0.0.0:104", acceptAny: true}, true, true},
		{"public, peers", dimseConfig{listen: "0.0.0.0:104", peers: peers}, true, false},
		{"peers and accept any", dimseConfig{listen: "0.0.0.0:104", peers: peers, acceptAny: true}, false, false},
		{"missing peers file", dimseConfig{listen: "127.0.0.1:104", peers: peers + ".missing"}, false, false},
		{"tls cert without key", dimseConfig{listen: "127.0.0.1:104", tlsCert: "c.pem"}, false, false},
		{"tls ca without cert", dimseConfig{listen: "127.0.0.1:104", tlsCA: "ca.pem"}, false, false},
		{"pdu too small", dimseConfig{listen: "127.0.0.1:104", maxPDU: 512}, false, false},
		{"pdu 1 MiB", dimseConfig{listen: "127.0.0.1:104", maxPDU: 1 << 20}, true, true},
		{"idle timeout too short", dimseConfig{listen: "127.0.0.1:104", idleTimeout: time.Millisecond}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.check()
			if (err == nil) != tc.ok {
				t.Fatalf("check: %v, want ok %v", err, tc.ok)
			}
			if err != nil || tc.c.listen == "" {
				return
			}
			p, err := tc.c.policy()
			if err != nil {
				t.Fatal(err)
			}
			if p.AcceptAny != tc.acceptAny {
				t.Errorf("accept any %v, want %v", p.AcceptAny, tc.acceptAny)
			}
		})
	}
}
