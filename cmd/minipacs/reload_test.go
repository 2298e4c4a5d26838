package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb/testkit/certtest"

	"github.com/minipacs/minipacs/dicomweb/security/transport"
)

func TestCertReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := certtest.Write(t, dir, "first")
	r, err := transport.NewCertificate(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := r.ServerConfig()
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Fatalf("MinVersion %x", cfg.MinVersion)
	}
	cn := func() string {
		c, _ := cfg.GetCertificate(nil)
		x, _ := x509.ParseCertificate(c.Certificate[0])
		return x.Subject.CommonName
	}
	if cn() != "first" {
		t.Fatal(cn())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reloadOnSIGHUP(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), r.Reload)
	// A broken file keeps the old certificate.
	os.WriteFile(certFile, []byte("garbage"), 0o600)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	time.Sleep(200 * time.Millisecond)
	if cn() != "first" {
		t.Fatalf("after a failed reload: %s", cn())
	}
	certtest.Write(t, dir, "second")
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for cn() != "second" {
		if time.Now().After(deadline) {
			t.Fatalf("certificate not reloaded: %s", cn())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
