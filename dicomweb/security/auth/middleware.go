package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
)

// Rule declares the role one route needs. Path is the echo route pattern
// as registered ("/dicomweb/studies/:study"), which is what c.Path()
// returns for a matched request.
type Rule struct {
	Method string
	Path   string
	Role   Role
}

// Table is the authorization table: every route with the role it needs.
type Table struct {
	rules map[routeKey]Role
}

type routeKey struct{ method, path string }

// NewTable builds a Table; a route declared twice is an error.
func NewTable(rules ...Rule) (*Table, error) {
	t := &Table{rules: make(map[routeKey]Role, len(rules))}
	for _, r := range rules {
		k := routeKey{strings.ToUpper(r.Method), r.Path}
		if _, dup := t.rules[k]; dup {
			return nil, fmt.Errorf("auth: route %s %s declared twice", k.method, k.path)
		}
		if r.Role > Admin {
			return nil, fmt.Errorf("auth: route %s %s: invalid role %d", k.method, k.path, r.Role)
		}
		t.rules[k] = r.Role
	}
	return t, nil
}

// Role returns the role the route needs and whether it is declared.
func (t *Table) Role(method, path string) (Role, bool) {
	r, ok := t.rules[routeKey{method, path}]
	return r, ok
}

// Rules lists the table, sorted by path then method.
func (t *Table) Rules() []Rule {
	out := make([]Rule, 0, len(t.rules))
	for k, r := range t.rules {
		out = append(out, Rule{Method: k.method, Path: k.path, Role: r})
	}
	slices.SortFunc(out, func(a, b Rule) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Method, b.Method)
	})
	return out
}

// CheckRoutes returns an error naming every route registered on e that
// has no rule in t, and every rule that names no registered route (a stale
// entry). Echo's internal not-found routes (from Group.Use) are ignored.
func CheckRoutes(e *echo.Echo, t *Table) error {
	var errs []error
	seen := map[routeKey]bool{}
	for _, r := range e.Routes() {
		if r.Method == echo.RouteNotFound {
			continue
		}
		k := routeKey{r.Method, r.Path}
		seen[k] = true
		if _, ok := t.rules[k]; !ok {
			errs = append(errs, fmt.Errorf("route %s %s has no authorization rule", r.Method, r.Path))
		}
	}
	for _, r := range t.Rules() {
		if !seen[routeKey{r.Method, r.Path}] {
			errs = append(errs, fmt.Errorf("rule %s %s names no registered route", r.Method, r.Path))
		}
	}
	return errors.Join(errs...)
}

// AuthEvent is one authentication or authorization decision, for the
// audit trail (110114 User Authentication on success or failure, 110113
// Security Alert for refusals).
type AuthEvent struct {
	// Principal is who authenticated: nil when a credential was refused,
	// the anonymous principal when none was presented.
	Principal *Principal
	// Success: the credential was valid and the role sufficient.
	Success bool
	// Status is the HTTP status the middleware answered (401, 403, 503) or
	// 0 when the request went on to its handler.
	Status int
	// Reason is a short fixed explanation of a failure ("token expired",
	// "bad signature", "missing role writer", ...); never a credential.
	Reason string
	// Remote is the client address (echo's IPExtractor when configured,
	// else the TCP peer).
	Remote string
	// HTTPMethod and Route are the request method and the matched route
	// pattern ("" when no route matched).
	HTTPMethod, Route string
}

// Hooks are optional callbacks of Middleware.
type Hooks struct {
	// OnAuth is called for every request to a non-Public route that
	// presented a credential (valid or not) and for every refusal
	// (401/403/503), with the request context. It is not called for Public
	// routes (which never look at credentials) nor for anonymous requests
	// the anonymous roles satisfy.
	OnAuth func(ctx context.Context, ev AuthEvent)
	// Logger logs refusals (without credentials) and routes missing from
	// the table.
	Logger *slog.Logger
}

// Middleware authenticates every request and authorizes it against t. It
// must run after routing (e.Use, not e.Pre) so that c.Path() is the
// matched route. The principal is put in the request context
// (FromContext).
func Middleware(t *Table, a *Authenticator, h Hooks) echo.MiddlewareFunc {
	log := h.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	log = log.With("component", "auth")
	notFound := reflect.ValueOf(echo.NotFoundHandler).Pointer()
	notAllowed := reflect.ValueOf(echo.MethodNotAllowedHandler).Pointer()
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			ev := AuthEvent{Remote: remoteOf(c), HTTPMethod: req.Method, Route: c.Path()}
			need, declared := t.Role(req.Method, c.Path())
			if !declared {
				hp := uintptr(0)
				if hd := c.Handler(); hd != nil {
					hp = reflect.ValueOf(hd).Pointer()
				}
				switch {
				case hp == notFound || hp == notAllowed || req.Method == http.MethodOptions:
					// No route matched: 404/405 (or echo's automatic
					// OPTIONS answer), for authenticated callers only.
					ev.Route = ""
					need = Authenticated
					if req.Method == http.MethodOptions {
						need = Public
					}
				default:
					log.Error("route has no authorization rule: refused", "method", req.Method, "route", c.Path())
					ev.Status, ev.Reason = http.StatusForbidden, "route has no authorization rule"
					a.hook(h, req.Context(), ev)
					return deny(c, http.StatusForbidden, "forbidden\n")
				}
			}
			if need == Public {
				// Public routes never look at credentials: a health probe
				// or a web asset answers whatever the client sends.
				c.SetRequest(req.WithContext(WithPrincipal(req.Context(), a.Anonymous())))
				return next(c)
			}
			p, err := a.Authenticate(req.Context(), req)
			presented := !errors.Is(err, ErrNoCredentials)
			switch {
			case err == nil:
			case errors.Is(err, ErrNoCredentials):
				p = a.Anonymous()
			case errors.Is(err, ErrUnavailable):
				log.Warn("authentication unavailable", "err", err)
				ev.Status, ev.Reason = http.StatusServiceUnavailable, "signing keys unavailable"
				a.hook(h, req.Context(), ev)
				c.Response().Header().Set("Retry-After", "30")
				return deny(c, http.StatusServiceUnavailable, "authentication temporarily unavailable\n")
			case errors.Is(err, ErrCSRF):
				// A state-changing request authenticated by a browser
				// session cookie without the session's CSRF token.
				ev.Status, ev.Reason = http.StatusForbidden, "missing or wrong CSRF token"
				log.Info("request refused", "status", 403, "method", req.Method, "route", c.Path(), "reason", ev.Reason)
				a.hook(h, req.Context(), ev)
				return deny(c, http.StatusForbidden, "forbidden: missing or wrong "+CSRFHeader+"\n")
			default:
				return a.unauthorized(c, h, ev, err)
			}
			ev.Principal = p
			if !p.Allowed(need) {
				if p.Method == MethodAnonymous {
					return a.unauthorized(c, h, ev, ErrNoCredentials)
				}
				ev.Status, ev.Reason = http.StatusForbidden, "missing role "+need.String()
				log.Info("request refused", "status", 403, "subject", p.Subject, "method", req.Method, "route", c.Path(), "reason", ev.Reason)
				a.hook(h, req.Context(), ev)
				if p.Method == MethodOIDC || p.Method == MethodToken {
					c.Response().Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm=%q, error="insufficient_scope"`, a.cfg.Realm))
				}
				return deny(c, http.StatusForbidden, "forbidden\n")
			}
			if presented {
				ev.Success = true
				a.hook(h, req.Context(), ev)
			}
			c.SetRequest(req.WithContext(WithPrincipal(req.Context(), p)))
			return next(c)
		}
	}
}

func (a *Authenticator) hook(h Hooks, ctx context.Context, ev AuthEvent) {
	if h.OnAuth != nil {
		h.OnAuth(ctx, ev)
	}
}

// unauthorized answers 401 with the challenges.
func (a *Authenticator) unauthorized(c echo.Context, h Hooks, ev AuthEvent, err error) error {
	var inv *invalid
	bearer := fmt.Sprintf("Bearer realm=%q", a.cfg.Realm)
	body := "authentication required\n"
	switch {
	case errors.As(err, &inv):
		ev.Reason = inv.reason
		body = "invalid credentials\n"
		if inv.bearer {
			bearer += `, error="invalid_token"`
		}
	case errors.Is(err, ErrQueryToken):
		ev.Reason = "access token in the query string"
		bearer += `, error="invalid_request"`
		body = "access tokens in the query string are not accepted\n"
	default:
		ev.Reason = "no credentials"
	}
	ev.Status = http.StatusUnauthorized
	a.hook(h, c.Request().Context(), ev)
	hd := c.Response().Header()
	hd.Add("WWW-Authenticate", bearer)
	if a.basicEnabled() {
		hd.Add("WWW-Authenticate", fmt.Sprintf(`Basic realm=%q, charset="UTF-8"`, a.cfg.Realm))
	}
	return deny(c, http.StatusUnauthorized, body)
}

// deny writes a short fixed text/plain answer.
func deny(c echo.Context, status int, body string) error {
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if c.Request().Method == http.MethodHead {
		h.Set(echo.HeaderContentType, "text/plain; charset=utf-8")
		return c.NoContent(status)
	}
	return c.Blob(status, "text/plain; charset=utf-8", []byte(body))
}

// remoteOf is the client address: echo's IPExtractor when the server
// configured one (behind a trusted proxy), else the TCP peer. The
// X-Forwarded-For header is not trusted by default: anyone can send it.
func remoteOf(c echo.Context) string {
	if c.Echo().IPExtractor != nil {
		return c.RealIP()
	}
	host, _, err := net.SplitHostPort(c.Request().RemoteAddr)
	if err != nil {
		return c.Request().RemoteAddr
	}
	return host
}
