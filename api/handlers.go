package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hostagent/hostagent/supervisor"
)

const (
	defaultEventLimit = 50
	maxEventLimit     = 500
)

func (s *Server) now() time.Time { return s.opts.Clock.Now().UTC() }

func (s *Server) getHealth(c echo.Context) error {
	if _, err := query(c); err != nil {
		return err
	}
	svcs := s.sup.Services()
	status, reason := rate(svcs, s.sup.Progress())
	return c.JSON(http.StatusOK, healthBody{Status: status, Reason: reason, Services: countStatuses(svcs), Timestamp: s.now()})
}

func (s *Server) getReady(c echo.Context) error {
	if _, err := query(c); err != nil {
		return err
	}
	b := readiness(s.sup.Services(), s.sup.Progress(), s.now())
	code := http.StatusOK
	if !b.Ready {
		code = http.StatusServiceUnavailable
	}
	return c.JSON(code, b)
}

func (s *Server) getFull(c echo.Context) error {
	if _, err := query(c); err != nil {
		return err
	}
	svcs := s.sup.Services()
	p := s.sup.Progress()
	status, reason := rate(svcs, p)
	return c.JSON(http.StatusOK, fullBody{
		Status:    status,
		Reason:    reason,
		Counts:    countStatuses(svcs),
		Services:  svcs,
		Progress:  p,
		GPU:       s.gpuStatus(c.Request().Context(), svcs),
		Timestamp: s.now(),
	})
}

type eventsBody struct {
	Events []supervisor.Event `json:"events"`
	Count  int                `json:"count"`
	Limit  int                `json:"limit"`
}

func (s *Server) getEvents(c echo.Context) error {
	q, err := query(c, "limit")
	if err != nil {
		return err
	}
	limit, err := intParam(q, "limit", defaultEventLimit, 1, maxEventLimit)
	if err != nil {
		return err
	}
	evs := s.sup.Events(limit)
	if evs == nil {
		evs = []supervisor.Event{}
	}
	return c.JSON(http.StatusOK, eventsBody{Events: evs, Count: len(evs), Limit: limit})
}

// ServicesBody is GET /api/system/services.
type ServicesBody struct {
	Services  []supervisor.ServiceStatus `json:"services"`
	Total     int                        `json:"total"`
	Progress  supervisor.Progress        `json:"progress"`
	Timestamp time.Time                  `json:"timestamp"`
}

func (s *Server) getServices(c echo.Context) error {
	if _, err := query(c); err != nil {
		return err
	}
	svcs := s.sup.Services()
	if svcs == nil {
		svcs = []supervisor.ServiceStatus{}
	}
	return c.JSON(http.StatusOK, ServicesBody{Services: svcs, Total: len(svcs), Progress: s.sup.Progress(), Timestamp: s.now()})
}

func (s *Server) getService(c echo.Context) error {
	if _, err := query(c); err != nil {
		return err
	}
	name := c.Param("name")
	st, ok := s.service(name)
	if !ok {
		return unknownService(name)
	}
	return c.JSON(http.StatusOK, st)
}

func (s *Server) getPlan(c echo.Context) error {
	if _, err := query(c); err != nil {
		return err
	}
	p := s.sup.Plan()
	if p == nil {
		return errorf(http.StatusServiceUnavailable, "no plan loaded")
	}
	// Open to local users: health commands and URLs carry interpolated
	// ${VAR}s, so the stack's secret values are served as "***".
	data, err := p.RedactedJSON()
	if err != nil {
		return err
	}
	return c.JSONBlob(http.StatusOK, data)
}

func (s *Server) getGPU(c echo.Context) error {
	if _, err := query(c); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.gpuStatus(c.Request().Context(), s.sup.Services()))
}

// ActionBody answers a restart, enable or disable.
type ActionBody struct {
	Service       string                    `json:"service"`
	Action        string                    `json:"action"`
	Message       string                    `json:"message"`
	ResetFailures bool                      `json:"reset_failures,omitempty"`
	Data          *supervisor.ServiceStatus `json:"data,omitempty"`
}

// postRestart answers 202: the restart has begun ("Manual restart
// initiated"); its outcome arrives as events.
func (s *Server) postRestart(c echo.Context) error {
	q, err := query(c, "reset_failures")
	if err != nil {
		return err
	}
	reset, err := boolParam(q, "reset_failures")
	if err != nil {
		return err
	}
	name := c.Param("name")
	err = s.call(c, name, func(ctx context.Context) error { return s.sup.Restart(ctx, name, reset) })
	if err != nil {
		return err
	}
	s.log.Info("api: manual restart", "service", name, "reset_failures", reset, "remote", c.Request().RemoteAddr)
	return c.JSON(http.StatusAccepted, s.action(name, "restart", supervisor.MsgManualRestart, reset))
}

func (s *Server) postEnable(c echo.Context) error {
	if _, err := query(c); err != nil {
		return err
	}
	name := c.Param("name")
	if err := s.call(c, name, func(ctx context.Context) error { return s.sup.Enable(ctx, name) }); err != nil {
		return err
	}
	s.log.Info("api: enable", "service", name, "remote", c.Request().RemoteAddr)
	return c.JSON(http.StatusOK, s.action(name, "enable", supervisor.MsgEnabled, false))
}

func (s *Server) postDisable(c echo.Context) error {
	if _, err := query(c); err != nil {
		return err
	}
	name := c.Param("name")
	if err := s.call(c, name, func(ctx context.Context) error { return s.sup.Disable(ctx, name) }); err != nil {
		return err
	}
	s.log.Info("api: disable", "service", name, "remote", c.Request().RemoteAddr)
	return c.JSON(http.StatusOK, s.action(name, "disable", supervisor.MsgDisabled, false))
}

func (s *Server) action(name, action, msg string, reset bool) ActionBody {
	b := ActionBody{Service: name, Action: action, Message: msg, ResetFailures: reset}
	if st, ok := s.sup.Service(name); ok {
		b.Data = &st
	}
	return b
}

// call runs a supervisor command under CallTimeout and maps its error.
func (s *Server) call(c echo.Context, name string, f func(context.Context) error) error {
	if _, ok := s.sup.Service(name); !ok {
		return unknownService(name)
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.opts.CallTimeout)
	defer cancel()
	err := f(ctx)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, supervisor.ErrUnknownService):
		return unknownService(name)
	case errors.Is(err, context.DeadlineExceeded):
		return errorf(http.StatusGatewayTimeout, "%s: the supervisor did not answer within %s", name, s.opts.CallTimeout)
	case errors.Is(err, context.Canceled):
		return errorf(http.StatusServiceUnavailable, "%s: request cancelled (agent shutting down?)", name)
	}
	// The supervisor's other refusals ("not running yet") are its state,
	// not a server fault.
	e := errorf(http.StatusServiceUnavailable, "%s: %v", name, err)
	e.body["service"] = name
	return e
}
