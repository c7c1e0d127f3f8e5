package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hostagent/hostagent/supervisor"
)

// Controller runs the stack-level commands: reload (converge on the file),
// down, and the user's stop and start of one service. The daemon
// implements it (it knows where the file is); nil answers them 501.
type Controller interface {
	// Converge loads the compose file, converges on it, and waits up to
	// wait for the rollout to settle. A file that does not load is an
	// error wrapping ErrInvalidFile, and the running stack is kept.
	Converge(ctx context.Context, wait time.Duration) (supervisor.ConvergeReport, error)
	// Down stops supervising the stack (nothing is restarted until the
	// next converge) and returns the services it let go.
	Down(ctx context.Context) []string
	StopService(ctx context.Context, name string) error
	StartService(ctx context.Context, name string) error
}

// ErrInvalidFile marks a compose file that does not load (answered 422).
var ErrInvalidFile = errors.New("the compose file does not load; the agent keeps the running stack")

const (
	defaultConvergeWait = 5 * time.Minute
	maxConvergeWait     = time.Hour
	// stopCallTimeout bounds a user stop: the stop_grace_period can be long.
	stopCallTimeout = 10 * time.Minute
)

// ReloadBody answers POST /api/system/reload.
type ReloadBody struct {
	supervisor.ConvergeReport
	Message string `json:"message"`
}

// DownBody answers POST /api/system/down.
type DownBody struct {
	Released []string `json:"released"`
	Message  string   `json:"message"`
}

// extendWrite lets a long call still write its answer past the server's
// WriteTimeout.
func extendWrite(c echo.Context, d time.Duration) {
	_ = http.NewResponseController(c.Response()).SetWriteDeadline(time.Now().Add(d + 30*time.Second))
}

func (s *Server) controller() (Controller, error) {
	if s.opts.Control == nil {
		return nil, errorf(http.StatusNotImplemented, "this agent does not run stack commands")
	}
	return s.opts.Control, nil
}

// postReload converges synchronously: 200 with what changed and where each
// changed service ended up (ok false when one failed or the wait ended
// first), 422 when the file does not load.
func (s *Server) postReload(c echo.Context) error {
	ctl, err := s.controller()
	if err != nil {
		return err
	}
	q, err := query(c, "timeout")
	if err != nil {
		return err
	}
	wait := defaultConvergeWait
	if v, ok := q["timeout"]; ok {
		if wait, err = parseWait(v[0]); err != nil {
			return badParam("timeout", "timeout must be a duration (90s, 5m) or seconds up to %s, not %q", maxConvergeWait, v[0])
		}
	}
	extendWrite(c, wait)
	rep, err := ctl.Converge(c.Request().Context(), wait)
	switch {
	case errors.Is(err, ErrInvalidFile):
		return errorf(http.StatusUnprocessableEntity, "%v", err)
	case errors.Is(err, context.Canceled):
		return errorf(http.StatusServiceUnavailable, "reload: request cancelled (agent shutting down?)")
	case err != nil:
		return errorf(http.StatusConflict, "%v", err)
	}
	if rep.Services == nil {
		rep.Services = []supervisor.ChangedService{}
	}
	msg := "converged"
	switch {
	case !rep.Complete:
		msg = "not settled within " + wait.String()
	case !rep.OK:
		msg = "converged, but a changed service failed"
	}
	s.log.Info("api: reload", "added", len(rep.Added), "removed", len(rep.Removed), "recreated", len(rep.Recreated), "ok", rep.OK, "remote", c.Request().RemoteAddr)
	return c.JSON(http.StatusOK, ReloadBody{ConvergeReport: rep, Message: msg})
}

func parseWait(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		n, nerr := strconv.Atoi(v)
		if nerr != nil {
			return 0, err
		}
		d = time.Duration(n) * time.Second
	}
	if d <= 0 || d > maxConvergeWait {
		return 0, errors.New("out of range")
	}
	return d, nil
}

// postDown makes the agent let go of the stack; the caller then stops and
// removes the containers, and nothing restarts them.
func (s *Server) postDown(c echo.Context) error {
	ctl, err := s.controller()
	if err != nil {
		return err
	}
	if _, err := query(c); err != nil {
		return err
	}
	names := ctl.Down(c.Request().Context())
	if names == nil {
		names = []string{}
	}
	s.log.Info("api: down: supervision stopped", "services", len(names), "remote", c.Request().RemoteAddr)
	return c.JSON(http.StatusOK, DownBody{Released: names, Message: supervisor.MsgSupervisionStopped})
}

func (s *Server) postStop(c echo.Context) error {
	return s.userAction(c, "stop", supervisor.MsgStoppedByUser, func(ctl Controller, ctx context.Context, name string) error {
		return ctl.StopService(ctx, name)
	})
}

func (s *Server) postStart(c echo.Context) error {
	return s.userAction(c, "start", supervisor.MsgStartedByUser, func(ctl Controller, ctx context.Context, name string) error {
		return ctl.StartService(ctx, name)
	})
}

func (s *Server) userAction(c echo.Context, action, msg string, f func(Controller, context.Context, string) error) error {
	ctl, err := s.controller()
	if err != nil {
		return err
	}
	if _, err := query(c); err != nil {
		return err
	}
	name := c.Param("name")
	if _, ok := s.sup.Service(name); !ok {
		return unknownService(name)
	}
	extendWrite(c, stopCallTimeout)
	ctx, cancel := context.WithTimeout(c.Request().Context(), stopCallTimeout)
	defer cancel()
	err = f(ctl, ctx, name)
	switch {
	case err == nil:
	case errors.Is(err, supervisor.ErrUnknownService):
		return unknownService(name)
	case errors.Is(err, supervisor.ErrNotSupervised):
		e := errorf(http.StatusConflict, "%s: %v", name, err)
		e.body["service"] = name
		return e
	case errors.Is(err, context.DeadlineExceeded):
		return errorf(http.StatusGatewayTimeout, "%s: %s did not finish within %s", name, action, stopCallTimeout)
	default:
		e := errorf(http.StatusServiceUnavailable, "%s: %v", name, err)
		e.body["service"] = name
		return e
	}
	s.log.Info("api: "+action, "service", name, "remote", c.Request().RemoteAddr)
	return c.JSON(http.StatusOK, s.action(name, action, msg, false))
}
