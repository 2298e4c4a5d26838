// Package transport holds the rules of transport security for minipacs'
// listeners:
//
//   - the exposure rule (CheckExposure): no patient data on a non-loopback
//     listener without both authentication and TLS, unless the operator
//     says that a TLS-terminating, authenticating proxy is in front;
//   - the TLS server configuration (Certificate.ServerConfig): TLS 1.2 or
//     later with Go's default cipher suites, HTTP/2, and a certificate that
//     Reload reads again without a restart (a failed reload keeps the
//     previous one);
//   - the headers every response carries (Headers): nosniff, no referrer,
//     and Strict-Transport-Security over HTTPS.
package transport
