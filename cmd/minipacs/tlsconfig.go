package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

// certReloader serves the certificate at certFile/keyFile; load reads it
// again (serve calls it on SIGHUP), so a renewed certificate takes effect
// without a restart. A reload that fails keeps the previous certificate.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	cur               atomic.Pointer[tls.Certificate]
}

func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *certReloader) load() error {
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate: %w", err)
	}
	r.cur.Store(&c)
	return nil
}

// tlsConfig is TLS 1.2 or later with Go's default (modern) cipher suites.
func (r *certReloader) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return r.cur.Load(), nil
		},
		NextProtos: []string{"h2", "http/1.1"},
	}
}

// isLoopback reports whether the listen address binds to loopback only.
// An empty host ("":8080) binds every interface.
func isLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil || host == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkExposure refuses to serve patient data on a non-loopback address
// without both authentication and TLS, unless the operator says that a
// TLS-terminating, authenticating proxy is in front.
func checkExposure(listen string, auth, tls, behindProxy bool) error {
	if isLoopback(listen) || behindProxy || auth && tls {
		return nil
	}
	var missing string
	switch {
	case !auth && !tls:
		missing = "authentication and TLS are"
	case !auth:
		missing = "authentication is"
	default:
		missing = "TLS is"
	}
	return fmt.Errorf("refusing to listen on %s: %s not configured. Configure --oidc-issuer, --api-tokens or --basic-users, "+
		"and --tls-cert/--tls-key; or listen on 127.0.0.1; or, if a TLS-terminating, authenticating proxy is in front, "+
		"say so with --insecure-behind-proxy", listen, missing)
}

// reloadOnSIGHUP calls each fn on SIGHUP until ctx ends: the credential
// files and the TLS certificate are re-read without a restart; a reload
// that fails keeps the previous configuration.
func reloadOnSIGHUP(ctx context.Context, log *slog.Logger, fns ...func() error) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				for _, fn := range fns {
					if err := fn(); err != nil {
						log.Error("SIGHUP: reload failed; keeping the previous configuration", "err", err)
					}
				}
				log.Info("SIGHUP: configuration reloaded")
			}
		}
	}()
}
