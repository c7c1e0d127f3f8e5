package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

const (
	maxURI         = 1 << 10
	maxHeaderBytes = 8 << 10
	maxBody        = 4 << 10
)

// apiError is an error with the JSON body it is answered with; every body
// has "error".
type apiError struct {
	code int
	body map[string]any
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %v", e.code, e.body["error"]) }

func errorf(code int, format string, args ...any) *apiError {
	return &apiError{code: code, body: map[string]any{"error": fmt.Sprintf(format, args...)}}
}

func unknownService(name string) *apiError {
	e := errorf(http.StatusNotFound, "unknown service %q", name)
	e.body["service"] = name
	return e
}

func badParam(param, format string, args ...any) *apiError {
	e := errorf(http.StatusBadRequest, format, args...)
	e.body["parameter"] = param
	return e
}

// handleError answers every error as JSON {"error": ...}; anything that is
// not a known error type is logged and answered 500 without its text.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var ae *apiError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &he):
		msg := http.StatusText(he.Code)
		if m, ok := he.Message.(string); ok && m != "" {
			msg = m
		}
		ae = errorf(he.Code, "%s", msg)
	default:
		s.log.Error("api: request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
		ae = errorf(http.StatusInternalServerError, "internal error")
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(ae.code)
		return
	}
	if werr := c.JSON(ae.code, ae.body); werr != nil {
		s.log.Debug("api: writing error response", "err", werr)
	}
}

// logRequests logs every request at debug, server errors at warn.
func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		code := c.Response().Status
		level := slog.LevelDebug
		if code >= 500 {
			level = slog.LevelWarn
		}
		ctx := c.Request().Context()
		if s.log.Enabled(ctx, level) {
			s.log.Log(ctx, level, "api: request", "method", c.Request().Method, "path", c.Request().URL.Path,
				"status", code, "duration", time.Since(start), "remote", c.Request().RemoteAddr)
		}
		return nil
	}
}

// recoverPanics turns a handler's panic into a logged 500 (echo's own
// Recover middleware would pull in golang.org/x/time for its rate limiter).
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			if err, ok := r.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(r)
			}
			stack := make([]byte, 4<<10)
			stack = stack[:runtime.Stack(stack, false)]
			s.log.Error("api: panic in handler", "method", c.Request().Method, "path", c.Path(), "panic", fmt.Sprint(r), "stack", string(stack))
			err = errorf(http.StatusInternalServerError, "internal error")
		}()
		return next(c)
	}
}

// limits bounds the request URI and body before anything reads them.
func (s *Server) limits(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if len(r.RequestURI) > maxURI {
			return errorf(http.StatusRequestURITooLong, "request URI longer than %d bytes", maxURI)
		}
		if r.ContentLength > maxBody {
			return errorf(http.StatusRequestEntityTooLarge, "request body larger than %d bytes", maxBody)
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(c.Response(), r.Body, maxBody)
		}
		return next(c)
	}
}

// query parses the query string strictly: a malformed one, a key not in
// allowed, or a key given twice is a 400.
func query(c echo.Context, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(c.Request().URL.RawQuery)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "malformed query string: %v", err)
	}
	for k, v := range q {
		if !slices.Contains(allowed, k) {
			return nil, badParam(k, "unknown query parameter %q", k)
		}
		if len(v) > 1 {
			return nil, badParam(k, "query parameter %q given more than once", k)
		}
	}
	return q, nil
}

func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	v, ok := q[name]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v[0])
	if err != nil || n < lo || n > hi {
		return 0, badParam(name, "%s must be an integer from %d to %d, not %q", name, lo, hi, v[0])
	}
	return n, nil
}

func boolParam(q url.Values, name string) (bool, error) {
	v, ok := q[name]
	if !ok {
		return false, nil
	}
	if v[0] == "" {
		return true, nil // ?reset_failures alone means true
	}
	b, err := strconv.ParseBool(v[0])
	if err != nil {
		return false, badParam(name, "%s must be true or false, not %q", name, v[0])
	}
	return b, nil
}
