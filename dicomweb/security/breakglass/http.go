package breakglass

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/minipacs/minipacs/dicomweb/security/auth"
)

// Paths of the routes.
const (
	Path      = "/auth/break-glass"
	AdminPath = "/admin/break-glass"
)

// maxBody bounds the request body of a grant.
const maxBody = 8 << 10

// offText is the answer of both routes when the feature is off.
const offText = "break-glass access is off on this server (--break-glass-duration is 0)\n"

// Routes returns the routes with their roles: POST Path (reader) and GET
// AdminPath (admin). They are declared whether or not the feature is on.
func (g *Registry) Routes() []auth.Route {
	return []auth.Route{
		{Method: http.MethodPost, Path: Path, Role: auth.Reader, Handler: g.post},
		{Method: http.MethodGet, Path: AdminPath, Role: auth.Admin, Handler: g.list},
	}
}

// Middleware gives each request the record of its grant uses (Track).
// It does nothing when the feature is off.
func (g *Registry) Middleware() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if !g.Enabled() {
			return next
		}
		return func(c echo.Context) error {
			req := c.Request()
			c.SetRequest(req.WithContext(Track(req.Context())))
			return next(c)
		}
	}
}

// request is the body of POST Path.
type request struct {
	Study  string `json:"study"`
	Reason string `json:"reason"`
}

// granted is the answer of POST Path.
type granted struct {
	ID        string    `json:"id"`
	Study     string    `json:"study"`
	PatientID string    `json:"patientID"`
	Issuer    string    `json:"issuerOfPatientID,omitempty"`
	Start     time.Time `json:"start"`
	Expires   time.Time `json:"expires"`
}

func text(c echo.Context, status int, msg string) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.String(status, msg)
}

func (g *Registry) post(c echo.Context) error {
	if !g.Enabled() {
		return text(c, http.StatusNotFound, offText)
	}
	r := c.Request()
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return text(c, http.StatusUnsupportedMediaType, "break-glass: the body must be application/json {\"study\": ..., \"reason\": ...}\n")
	}
	var body request
	dec := json.NewDecoder(http.MaxBytesReader(c.Response(), r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return text(c, http.StatusBadRequest, "break-glass: bad JSON body: want {\"study\": \"<Study Instance UID>\", \"reason\": \"<text>\"}\n")
	}
	if _, err := dec.Token(); err != io.EOF {
		return text(c, http.StatusBadRequest, "break-glass: one JSON object expected\n")
	}
	ctx := r.Context()
	gr, err := g.Grant(ctx, r, auth.FromContext(ctx), body.Study, body.Reason)
	switch {
	case err == nil:
	case errors.Is(err, ErrReason), errors.Is(err, ErrStudyUID):
		return text(c, http.StatusBadRequest, err.Error()+"\n")
	case errors.Is(err, ErrNoStudy):
		return text(c, http.StatusNotFound, "break-glass: no such study\n")
	case errors.Is(err, ErrNotRestricted), errors.Is(err, ErrAllowed):
		return text(c, http.StatusConflict, err.Error()+"\n")
	case errors.Is(err, ErrFull):
		c.Response().Header().Set("Retry-After", "60")
		return text(c, http.StatusServiceUnavailable, err.Error()+"\n")
	case errors.Is(err, ErrAudit):
		return text(c, http.StatusServiceUnavailable, ErrAudit.Error()+"\n")
	case errors.Is(err, ErrShare):
		return text(c, http.StatusServiceUnavailable, ErrShare.Error()+"\n")
	case errors.Is(err, ErrOff):
		return text(c, http.StatusNotFound, offText)
	default:
		g.log.Error("break-glass grant failed", "err", err)
		return text(c, http.StatusInternalServerError, "break-glass: internal error\n")
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, granted{
		ID: gr.ID, Study: gr.Study, PatientID: gr.PatientID, Issuer: gr.Issuer, Start: gr.Start, Expires: gr.Expires,
	})
}

func (g *Registry) list(c echo.Context) error {
	if !g.Enabled() {
		return text(c, http.StatusNotFound, offText)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, g.List())
}
