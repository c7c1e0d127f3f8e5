package probes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/engine"
	"github.com/hostagent/hostagent/internal/clock"
)

// outputPeek is how much of a failing command's output goes into Detail.
const outputPeek = 512

// Command runs the compose healthcheck command in the container.
type Command struct {
	exec    Execer
	argv    []string
	timeout time.Duration
	clock   clock.Clock
}

// NewCommand returns a probe that execs argv (a CMD-SHELL test arrives as
// /bin/sh -c script). The exec's deadline is the caller's context's (the
// Guard's); timeout is the check's, named in a timed-out verdict.
func NewCommand(ex Execer, argv []string, timeout time.Duration, clk clock.Clock) *Command {
	if clk == nil {
		clk = clock.New()
	}
	return &Command{exec: ex, argv: argv, timeout: timeout, clock: clk}
}

// Probe execs the command once; see the package doc for the
// classification.
func (c *Command) Probe(ctx context.Context, id engine.ContainerID) Result {
	res := Result{Method: compose.HealthCommand}
	began := c.clock.Now()
	r, err := c.exec.Exec(ctx, id, c.argv, engine.ExecOptions{MaxOutput: engine.DefaultMaxOutput})
	res.Latency = c.clock.Since(began)
	switch {
	case errors.Is(err, engine.ErrExecTimeout),
		// The deadline passed before the command started or reported its
		// exit: the check ran out of time all the same. (ctx's own state,
		// not the latency, says so: the two clocks differ by a hair.)
		errors.Is(err, context.DeadlineExceeded) && errors.Is(ctx.Err(), context.DeadlineExceeded):
		res.Outcome, res.Err = Failure, err
		res.Detail = "no exit within " + c.timeout.String()
	case err != nil:
		res.Outcome, res.Err = Error, err
	case r.ExitCode == 0:
		res.Outcome = Success
	default:
		res.Outcome = Failure
		res.Detail = fmt.Sprintf("exit %d", r.ExitCode)
		if out := strings.TrimSpace(string(r.Output[:min(len(r.Output), outputPeek)])); out != "" {
			res.Detail += ": " + out
		}
	}
	return res
}

// Running is the fallback: healthy while the container runs.
type Running struct {
	inspect Inspector
	clock   clock.Clock
}

// NewRunning returns the running-status probe.
func NewRunning(in Inspector, clk clock.Clock) *Running {
	if clk == nil {
		clk = clock.New()
	}
	return &Running{inspect: in, clock: clk}
}

// Probe inspects the container once, within the caller's deadline.
func (r *Running) Probe(ctx context.Context, id engine.ContainerID) Result {
	res := Result{Method: compose.HealthRunning}
	began := r.clock.Now()
	c, err := r.inspect.Inspect(ctx, id)
	res.Latency = r.clock.Since(began)
	if err != nil {
		res.Outcome, res.Err = Error, err
		return res
	}
	st := c.State
	if st.Running && st.Status != engine.StatusRestarting && st.Status != engine.StatusPaused {
		res.Outcome, res.Detail = Success, "running"
		return res
	}
	res.Outcome = Failure
	res.Detail = "container " + st.Status.String()
	if st.Status == engine.StatusExited || st.Status == engine.StatusDead {
		res.Detail += fmt.Sprintf(" (code %d)", st.ExitCode)
	}
	if st.OOMKilled {
		res.Detail += ", OOM killed"
	}
	return res
}
