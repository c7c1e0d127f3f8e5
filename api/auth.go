package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// TokenSource yields the token mutating calls must present. An error means
// no token is usable, and mutating calls are refused.
type TokenSource interface {
	Token() (string, error)
}

// StaticToken is a fixed token (tests, embedding).
type StaticToken string

func (t StaticToken) Token() (string, error) {
	if strings.TrimSpace(string(t)) == "" {
		return "", errors.New("empty token")
	}
	return strings.TrimSpace(string(t)), nil
}

type noToken struct{}

func (noToken) Token() (string, error) { return "", errors.New("no token configured") }

// TokenFile reads the token from a file (whitespace trimmed), re-reading it
// when its size or modification time changes.
func TokenFile(path string) TokenSource { return &tokenFile{path: path} }

type tokenFile struct {
	path string

	mu    sync.Mutex
	size  int64
	mtime time.Time
	token string
	err   error
	read  bool
}

func (f *tokenFile) Token() (string, error) {
	if f.path == "" {
		return "", errors.New("no token file configured (ORCHESTRATOR_TOKEN_FILE)")
	}
	fi, err := os.Stat(f.path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.read && fi.Size() == f.size && fi.ModTime().Equal(f.mtime) {
		return f.token, f.err
	}
	data, err := os.ReadFile(f.path)
	f.read, f.size, f.mtime = true, fi.Size(), fi.ModTime()
	switch {
	case err != nil:
		f.token, f.err = "", fmt.Errorf("token file: %w", err)
	case strings.TrimSpace(string(data)) == "":
		f.token, f.err = "", fmt.Errorf("token file %s is empty", f.path)
	default:
		f.token, f.err = strings.TrimSpace(string(data)), nil
	}
	return f.token, f.err
}

// access is how a listener's requests are authorised for reads.
type access int

const (
	// accessOpen: reads need no token (unix socket, loopback TCP).
	accessOpen access = iota
	// accessLoopback: open reads on loopback TCP, Host header checked.
	accessLoopback
	// accessToken: every request needs the token (non-loopback TCP).
	accessToken
)

type accessKey struct{}

func accessForListener(l net.Listener) access {
	switch a := l.Addr().(type) {
	case *net.UnixAddr:
		return accessOpen
	case *net.TCPAddr:
		if a.IP.IsLoopback() {
			return accessLoopback
		}
	}
	return accessToken
}

// accessForAddr judges a configured address before it is bound.
func accessForAddr(addr string) access {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return accessToken
	}
	if host == "localhost" {
		return accessLoopback
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return accessLoopback
	}
	return accessToken
}

func (s *Server) requestAccess(c echo.Context) access {
	if a, ok := c.Request().Context().Value(accessKey{}).(access); ok {
		return a
	}
	return s.defaultAccess
}

func (s *Server) authorizeRead(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.requestAccess(c) != accessToken {
			return next(c)
		}
		if err := s.checkToken(c); err != nil {
			return err
		}
		return next(c)
	}
}

func (s *Server) authorizeWrite(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := s.checkToken(c); err != nil {
			return err
		}
		return next(c)
	}
}

// checkToken compares the bearer token in constant time. Both sides are
// hashed first so that the comparison does not leak the token's length.
func (s *Server) checkToken(c echo.Context) error {
	want, err := s.tokens.Token()
	if err != nil {
		s.limitLog.log(s.log, "no-token", "api: refusing a call that needs the token: no usable token", "err", err)
		return errorf(http.StatusServiceUnavailable, "control API locked: the agent has no usable token (%v)", err)
	}
	got, ok := bearer(c.Request().Header.Get(echo.HeaderAuthorization))
	if !ok {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="hostagent"`)
		return errorf(http.StatusUnauthorized, "missing bearer token: send the header Authorization: Bearer TOKEN, with the token from the agent's token file")
	}
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	if subtle.ConstantTimeCompare(g[:], w[:]) != 1 {
		r := c.Request()
		src := source(r.Context(), r.RemoteAddr)
		s.limitLog.log(s.log, "invalid-token "+src, "api: invalid token", "source", src, "method", r.Method, "path", r.URL.Path)
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="hostagent", error="invalid_token"`)
		return errorf(http.StatusUnauthorized, "invalid token")
	}
	return nil
}

func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// checkHost refuses, on a loopback listener, a Host header that is not
// localhost or a loopback address: a browser tricked by DNS rebinding sends
// the attacker's host name.
func (s *Server) checkHost(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.requestAccess(c) != accessLoopback || loopbackHost(c.Request().Host) {
			return next(c)
		}
		return errorf(http.StatusForbidden, "host %q not allowed: use localhost or a loopback address", c.Request().Host)
	}
}

func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
