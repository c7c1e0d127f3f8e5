package api

import (
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/hostagent/hostagent/api/ui"
)

// uiCSP lets the page load only its own embedded files and talk only to
// its own origin (REST and WebSocket); nothing may frame it.
const uiCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

var uiTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
}

// uiRoutes serves the status page at / and its assets at /ui/, under the
// same read rules as the API (read wraps authorizeRead; checkHost runs for
// every route).
func (s *Server) uiRoutes(read func(string, echo.HandlerFunc)) {
	read("/", func(c echo.Context) error { return s.serveAsset(c, "index.html") })
	read("/ui/:file", func(c echo.Context) error { return s.serveAsset(c, c.Param("file")) })
}

func (s *Server) serveAsset(c echo.Context, name string) error {
	if len(c.QueryParams()) > 0 {
		return errorf(http.StatusBadRequest, "the status page takes no query parameters")
	}
	ctype, ok := uiTypes[path.Ext(name)]
	if !ok || strings.ContainsAny(name, `/\`) {
		return echo.ErrNotFound
	}
	data, err := fs.ReadFile(ui.FS(), name)
	if err != nil {
		return echo.ErrNotFound
	}
	h := c.Response().Header()
	h.Set("Content-Security-Policy", uiCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	// Another origin's page may not even load these files as a script.
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cache-Control", "no-cache")
	return c.Blob(http.StatusOK, ctype, data)
}

// checkOrigin refuses a mutating call that a browser sent from another
// origin. Browsers also need a CORS preflight for the Authorization header,
// which the API never grants; this is the second lock. Clients that send
// no Origin (the CLI, curl) are unaffected.
func (s *Server) checkOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		o := c.Request().Header.Get("Origin")
		if o == "" {
			return next(c)
		}
		u, err := url.Parse(o)
		if err != nil || !strings.EqualFold(u.Host, c.Request().Host) {
			return errorf(http.StatusForbidden, "origin %q may not call this API: use the page the agent serves at its own address", o)
		}
		return next(c)
	}
}
