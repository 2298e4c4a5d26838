package transport

import (
	"fmt"
	"net"
)

// IsLoopback reports whether the listen address binds to loopback only.
// An empty host (":8080") binds every interface.
func IsLoopback(listen string) bool {
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

// CheckExposure refuses to serve patient data on a non-loopback address
// without both authentication and TLS, unless the operator says that a
// TLS-terminating, authenticating proxy is in front. The error names the
// flags of `minipacs serve` that fix it.
func CheckExposure(listen string, auth, tls, behindProxy bool) error {
	if IsLoopback(listen) || behindProxy || auth && tls {
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
