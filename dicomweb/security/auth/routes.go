package auth

import "github.com/labstack/echo/v4"

// Route is one route as a front door registers it: method, echo path
// pattern, the role it needs, and its handler. A front door lists its
// routes once (dicomweb.Server.Routes, web.Server.Routes, the admin and
// health endpoints of cmd/minipacs): Register mounts them and RulesOf
// gives the Table their rules, so a route and its role are declared in
// the same line.
type Route struct {
	Method  string
	Path    string
	Role    Role
	Handler echo.HandlerFunc
}

// Rule is the authorization rule of the route.
func (r Route) Rule() Rule { return Rule{Method: r.Method, Path: r.Path, Role: r.Role} }

// Register adds routes to e, each wrapped in the route-level middleware
// mws (e.Use would run for unmatched requests too).
func Register(e *echo.Echo, routes []Route, mws ...echo.MiddlewareFunc) {
	for _, r := range routes {
		e.Add(r.Method, r.Path, r.Handler, mws...)
	}
}

// RulesOf returns the rules of every route of every list, in order.
func RulesOf(lists ...[]Route) []Rule {
	var out []Rule
	for _, routes := range lists {
		for _, r := range routes {
			out = append(out, r.Rule())
		}
	}
	return out
}
