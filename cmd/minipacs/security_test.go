package main

import (
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb"
)

// TestAccessOps checks that every kind of DICOMweb access has its audit
// operation (an unmapped kind would be recorded as nothing).
func TestAccessOps(t *testing.T) {
	for k := dicomweb.AccessStored; k <= dicomweb.AccessDeleted; k++ {
		if accessOps[k] == 0 {
			t.Errorf("AccessKind %d has no audit operation", k)
		}
	}
	if len(accessOps) != int(dicomweb.AccessDeleted) {
		t.Errorf("accessOps has %d entries, want %d", len(accessOps), dicomweb.AccessDeleted)
	}
}

// TestSignInFlags checks the flag combinations of browser sign-in and
// share links.
func TestSignInFlags(t *testing.T) {
	tests := []struct {
		name string
		cfg  securityConfig
		ok   bool
	}{
		{"sign-in", securityConfig{oidcIssuer: "http://127.0.0.1:1", oidcAudience: "a", oidcClientID: "c", sessionMaxAge: time.Hour}, true},
		{"client id without issuer", securityConfig{oidcClientID: "c", sessionMaxAge: time.Hour}, false},
		{"secret without client id", securityConfig{oidcIssuer: "http://127.0.0.1:1", oidcAudience: "a", oidcClientSecretFile: "s", sessionMaxAge: time.Hour}, false},
		{"zero session age", securityConfig{oidcIssuer: "http://127.0.0.1:1", oidcAudience: "a", oidcClientID: "c"}, false},
		{"break-glass", securityConfig{sessionMaxAge: time.Hour, breakGlass: 30 * time.Minute, breakGlassMax: 10}, true},
		{"negative break-glass duration", securityConfig{sessionMaxAge: time.Hour, breakGlass: -time.Minute}, false},
		{"negative break-glass max", securityConfig{sessionMaxAge: time.Hour, breakGlass: time.Minute, breakGlassMax: -1}, false},
		{"share links off", securityConfig{sessionMaxAge: time.Hour, shareMaxHours: 0}, true},
		{"negative share hours", securityConfig{sessionMaxAge: time.Hour, shareMaxHours: -1}, false},
		{"share hours over a year", securityConfig{sessionMaxAge: time.Hour, shareMaxHours: 9000}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.check("127.0.0.1:0"); (err == nil) != tt.ok {
				t.Errorf("check: %v, want ok=%t", err, tt.ok)
			}
		})
	}
}
