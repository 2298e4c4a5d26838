package transport

import (
	"crypto/tls"
	"fmt"
	"sync/atomic"
)

// Certificate is the server certificate read from a PEM chain and key
// file; Reload reads them again (on SIGHUP), so a renewed certificate
// takes effect without a restart.
type Certificate struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

// NewCertificate reads the certificate at certFile and keyFile.
func NewCertificate(certFile, keyFile string) (*Certificate, error) {
	c := &Certificate{certFile: certFile, keyFile: keyFile}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads the files again. On error the previous certificate stays.
func (c *Certificate) Reload() error {
	kp, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate: %w", err)
	}
	c.cur.Store(&kp)
	return nil
}

// ServerConfig is TLS 1.2 or later with Go's default (modern) cipher
// suites and HTTP/2, serving the current certificate.
func (c *Certificate) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.cur.Load(), nil
		},
		NextProtos: []string{"h2", "http/1.1"},
	}
}
