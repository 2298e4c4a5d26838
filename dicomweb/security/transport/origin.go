package transport

import (
	"fmt"
	"net/url"
)

// Origin is the scheme://host[:port] of an external base URL such as
// --base-url ("" for ""), for links and redirects built by the server;
// anything but an absolute http(s) URL with a host is an error.
func Origin(base string) (string, error) {
	if base == "" {
		return "", nil
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("base URL %q: want http(s)://host[:port]", base)
	}
	return u.Scheme + "://" + u.Host, nil
}
