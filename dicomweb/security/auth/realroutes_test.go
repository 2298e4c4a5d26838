package auth_test

import (
	"net/http"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb"
	"github.com/minipacs/minipacs/dicomweb/security/auth"
)

// TestDICOMwebRulesMatchServer checks DICOMwebRules against the routes the
// real dicomweb.Server registers (Install only registers routes: no index
// or store is touched), so the matrix above runs over every real route.
func TestDICOMwebRulesMatchServer(t *testing.T) {
	for _, prefix := range []string{"/dicomweb", "/pacs/dicom-web"} {
		e := echo.New()
		dicomweb.New(dicomweb.Config{Prefix: prefix}).Install(e)
		ok := func(c echo.Context) error { return c.NoContent(http.StatusOK) }
		e.GET("/healthz", ok)
		e.GET("/readyz", ok)
		table, err := auth.NewTable(auth.DICOMwebRules(prefix)...)
		if err != nil {
			t.Fatal(err)
		}
		if err := auth.CheckRoutes(e, table); err != nil {
			t.Errorf("prefix %s:\n%v", prefix, err)
		}
	}
}
