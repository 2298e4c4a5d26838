package transport

import (
	"fmt"
	"time"

	"github.com/labstack/echo/v4"
)

// Headers sets the headers every response carries (X-Content-Type-Options:
// nosniff, Referrer-Policy: no-referrer) and, when the listener speaks TLS
// and hsts > 0, Strict-Transport-Security with includeSubDomains.
func Headers(hsts time.Duration, tls bool) echo.MiddlewareFunc {
	hstsValue := fmt.Sprintf("max-age=%d; includeSubDomains", int(hsts.Seconds()))
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "no-referrer")
			if tls && hsts > 0 {
				h.Set("Strict-Transport-Security", hstsValue)
			}
			return next(c)
		}
	}
}
