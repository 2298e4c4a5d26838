package auth_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb"
	"github.com/minipacs/minipacs/dicomweb/security/auth"
)

// dicomwebRules are the rules of the routes the real dicomweb.Server
// declares under prefix, plus the public /healthz and /readyz that
// cmd/minipacs mounts beside them: the table the matrix runs over.
func dicomwebRules(prefix string) []auth.Rule {
	rules := auth.RulesOf(dicomweb.New(dicomweb.Config{Prefix: prefix}).Routes())
	return append(rules,
		auth.Rule{Method: http.MethodGet, Path: "/healthz", Role: auth.Public},
		auth.Rule{Method: http.MethodGet, Path: "/readyz", Role: auth.Public})
}

// wantDICOMwebRoles is the specification of the DICOMweb roles: reader
// searches and retrieves, writer stores, admin deletes.
func wantDICOMwebRoles(p string) []auth.Rule {
	const (
		study    = "/studies/:study"
		series   = study + "/series/:series"
		instance = series + "/instances/:instance"
	)
	rule := func(method, path string, role auth.Role) auth.Rule {
		return auth.Rule{Method: method, Path: path, Role: role}
	}
	rules := []auth.Rule{
		// STOW-RS
		rule(http.MethodPost, p+"/studies", auth.Writer),
		rule(http.MethodPost, p+study, auth.Writer),

		// QIDO-RS
		rule(http.MethodGet, p+"/studies", auth.Reader),
		rule(http.MethodGet, p+"/series", auth.Reader),
		rule(http.MethodGet, p+"/instances", auth.Reader),
		rule(http.MethodGet, p+study+"/series", auth.Reader),
		rule(http.MethodGet, p+study+"/instances", auth.Reader),
		rule(http.MethodGet, p+series+"/instances", auth.Reader),

		// WADO-RS
		rule(http.MethodGet, p+study, auth.Reader),
		rule(http.MethodGet, p+series, auth.Reader),
		rule(http.MethodGet, p+instance, auth.Reader),
		rule(http.MethodGet, p+study+"/metadata", auth.Reader),
		rule(http.MethodGet, p+series+"/metadata", auth.Reader),
		rule(http.MethodGet, p+instance+"/metadata", auth.Reader),
		rule(http.MethodGet, p+instance+"/frames/:frames", auth.Reader),
		rule(http.MethodGet, p+instance+"/bulkdata/*", auth.Reader),

		// Deletion
		rule(http.MethodDelete, p+study, auth.Admin),
		rule(http.MethodDelete, p+series, auth.Admin),
		rule(http.MethodDelete, p+instance, auth.Admin),
	}
	// WADO-RS rendered and thumbnail resources.
	for _, kind := range []string{"/rendered", "/thumbnail"} {
		for _, base := range []string{study, series, instance, instance + "/frames/:frames"} {
			rules = append(rules, rule(http.MethodGet, p+base+kind, auth.Reader))
		}
	}
	return rules
}

// TestDICOMwebRoutes checks the roles the real dicomweb.Server declares
// against the specification above, and that Install registers exactly the
// routes Routes declares (Install only registers routes: no index or store
// is touched), so the matrix runs over every real route with its real
// role.
func TestDICOMwebRoutes(t *testing.T) {
	for _, prefix := range []string{"/dicomweb", "/pacs/dicom-web"} {
		s := dicomweb.New(dicomweb.Config{Prefix: prefix})
		got, err := auth.NewTable(auth.RulesOf(s.Routes())...)
		if err != nil {
			t.Fatal(err)
		}
		want, err := auth.NewTable(wantDICOMwebRoles(prefix)...)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := got.Rules(), want.Rules(); !slices.Equal(g, w) {
			t.Errorf("prefix %s: declared rules\n%v\nwant\n%v", prefix, g, w)
		}
		e := echo.New()
		s.Install(e)
		if err := auth.CheckRoutes(e, got); err != nil {
			t.Errorf("prefix %s: Install and Routes differ:\n%v", prefix, err)
		}
	}
}
