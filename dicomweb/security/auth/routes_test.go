package auth_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/security/auth"
)

func TestRegister(t *testing.T) {
	hit := ""
	h := func(name string) echo.HandlerFunc {
		return func(c echo.Context) error { hit += name; return c.NoContent(http.StatusOK) }
	}
	routes := []auth.Route{
		{Method: http.MethodGet, Path: "/a", Role: auth.Public, Handler: h("a")},
		{Method: http.MethodPost, Path: "/b/:x", Role: auth.Admin, Handler: h("b")},
	}
	mw := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error { hit += "mw:"; return next(c) }
	}
	e := echo.New()
	auth.Register(e, routes, mw)
	table, err := auth.NewTable(auth.RulesOf(routes)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := auth.CheckRoutes(e, table); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, path, want string
		role               auth.Role
	}{
		{http.MethodGet, "/a", "mw:a", auth.Public},
		{http.MethodPost, "/b/1", "mw:b", auth.Admin},
	} {
		hit = ""
		e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(tc.method, tc.path, nil))
		if hit != tc.want {
			t.Errorf("%s %s ran %q, want %q", tc.method, tc.path, hit, tc.want)
		}
	}
	if r, ok := table.Role(http.MethodPost, "/b/:x"); !ok || r != auth.Admin {
		t.Errorf("role of POST /b/:x = %v, %v", r, ok)
	}
	if got := auth.RulesOf(routes[:1], routes[1:]); len(got) != 2 || got[1] != routes[1].Rule() {
		t.Errorf("RulesOf of two lists = %v", got)
	}
}
