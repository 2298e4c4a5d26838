package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
)

// CORS returns the middleware that lets viewers hosted on other origins use
// the DICOMweb API under prefix ("/dicomweb"). origins is the allow-list,
// each "scheme://host[:port]" matched exactly (no wildcard subdomains), or
// the single entry "*" for any origin, which never allows credentials. It
// returns nil when origins is empty: no cross-origin access.
//
// Install it with e.Pre so that preflight requests (OPTIONS) are answered
// before routing and before any authentication, which they cannot pass
// since browsers send them without credentials.
func CORS(prefix string, origins []string) (echo.MiddlewareFunc, error) {
	if len(origins) == 0 {
		return nil, nil
	}
	p := &corsPolicy{prefix: prefix, allowed: map[string]bool{}}
	if len(origins) == 1 && origins[0] == "*" {
		p.any = true
	} else {
		for _, o := range origins {
			n, err := normalOrigin(o)
			if err != nil {
				return nil, err
			}
			p.allowed[n] = true
		}
	}
	return p.middleware, nil
}

const (
	corsMethods = "GET, HEAD, POST, DELETE"
	corsHeaders = "Accept, Content-Type, Authorization, If-None-Match, If-Modified-Since, Range"
	corsExpose  = "Content-Type, Content-Length, Content-Location, Content-Range, Warning, ETag, " +
		"Last-Modified, Location, Retry-After, WWW-Authenticate"
	corsMaxAge = "600"
)

// corsPolicy is the CORS allow-list of one prefix.
type corsPolicy struct {
	prefix  string
	any     bool // "*": every origin, never with credentials
	allowed map[string]bool
}

func (p *corsPolicy) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if path := req.URL.Path; path != p.prefix && !strings.HasPrefix(path, p.prefix+"/") {
			return next(c)
		}
		h := c.Response().Header()
		h.Add(echo.HeaderVary, echo.HeaderOrigin)
		origin := req.Header.Get(echo.HeaderOrigin)
		preflight := req.Method == http.MethodOptions && req.Header.Get(echo.HeaderAccessControlRequestMethod) != ""
		if preflight {
			h.Add(echo.HeaderVary, echo.HeaderAccessControlRequestMethod)
			h.Add(echo.HeaderVary, echo.HeaderAccessControlRequestHeaders)
		}
		if origin == "" || !p.allows(origin) {
			if preflight {
				// No Access-Control-Allow-Origin: the browser refuses
				// the actual request.
				return c.NoContent(http.StatusNoContent)
			}
			return next(c)
		}
		if p.any {
			h.Set(echo.HeaderAccessControlAllowOrigin, "*")
		} else {
			h.Set(echo.HeaderAccessControlAllowOrigin, origin)
			h.Set(echo.HeaderAccessControlAllowCredentials, "true")
		}
		if !preflight {
			h.Set(echo.HeaderAccessControlExposeHeaders, corsExpose)
			return next(c)
		}
		h.Set(echo.HeaderAccessControlAllowMethods, corsMethods)
		h.Set(echo.HeaderAccessControlAllowHeaders, corsHeaders)
		h.Set(echo.HeaderAccessControlMaxAge, corsMaxAge)
		return c.NoContent(http.StatusNoContent)
	}
}

func (p *corsPolicy) allows(origin string) bool {
	if p.any {
		return true
	}
	n, err := normalOrigin(origin)
	return err == nil && p.allowed[n]
}

// ParseOrigins splits a comma-separated --cors-origins value.
func ParseOrigins(list string) ([]string, error) {
	var out []string
	for _, o := range strings.Split(list, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if o != "*" {
			if _, err := normalOrigin(o); err != nil {
				return nil, err
			}
		}
		out = append(out, o)
	}
	for _, o := range out {
		if o == "*" && len(out) > 1 {
			return nil, fmt.Errorf("cors origins: \"*\" cannot be combined with other origins")
		}
	}
	return out, nil
}

// normalOrigin checks that o is an origin (scheme://host[:port], nothing
// else) and returns it in lower case without a default port.
func normalOrigin(o string) (string, error) {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || strings.Contains(u.Host, "*") {
		return "", fmt.Errorf("cors origin %q: want scheme://host[:port]", o)
	}
	host := strings.ToLower(u.Host)
	scheme := strings.ToLower(u.Scheme)
	if (scheme == "http" && strings.HasSuffix(host, ":80")) || (scheme == "https" && strings.HasSuffix(host, ":443")) {
		host = host[:strings.LastIndexByte(host, ':')]
	}
	return scheme + "://" + host, nil
}
