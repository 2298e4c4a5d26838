package dicomweb

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// delete removes a study, series or instance: index entries first (one
// commit), then the objects.
func (s *Server) delete(c echo.Context) error {
	ctx := c.Request().Context()
	study, series, instance, err := uids(c)
	if err != nil {
		return err
	}
	n, err := s.ing.Delete(ctx, study, series, instance)
	if err != nil {
		return err
	}
	s.log.Info("deleted", "study", study, "series", series, "instance", instance, "objects", n)
	return c.NoContent(http.StatusNoContent)
}
