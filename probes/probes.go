// Package probes checks a service's health in priority order (applied by
// the compose package when it builds the HealthSpec): an HTTP endpoint
// probed from the host, else the compose healthcheck command executed in
// the container, else whether the container runs.
//
// A probe ends in one of three outcomes. Success and Failure mean the
// probe ran and the service answered healthy or unhealthy; only a Failure
// counts toward the retries. Error means the probe could not be made
// (the container is gone or not running for an exec, the engine is
// unreachable, nothing accepts connections on the port): it says nothing
// about the service's health and must not flip it; container deaths come
// from engine events instead. Result.Counted makes the one exception: an
// HTTP check that cannot connect counts as failed.
//
// Classification choices:
//   - HTTP: healthy only on status 200; redirects are not followed, so a
//     3xx is a Failure. A connection that cannot be made is an Error; a
//     connection made but not answered within the timeout is a Failure (a
//     hung service).
//   - Command: exit 0 healthy, any other exit a Failure; an exec that
//     outlives its timeout is a Failure, as Docker and Kubernetes count it.
//   - Running: running is healthy, a container that exists but is not
//     running a Failure, a missing container an Error.
//
// Every probe has a timeout. ForSpec wraps each mechanism in a Guard, the
// one owner of the deadline (through the context) and of panic recovery:
// a panic or a mechanism ignoring its context still yields an Error
// result in bounded time, so a probe never panics or hangs its caller.
package probes

import (
	"context"
	"fmt"
	"time"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/engine"
	"github.com/hostagent/hostagent/internal/clock"
)

// Outcome is a probe's verdict.
type Outcome int

const (
	// Success: the probe ran and the service is healthy.
	Success Outcome = iota + 1
	// Failure: the probe ran and the service is unhealthy; counts toward
	// the retries.
	Failure
	// Error: the probe could not be made; health is unchanged.
	Error
)

func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Failure:
		return "failure"
	case Error:
		return "error"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// Result is one probe's outcome.
type Result struct {
	Outcome Outcome
	Method  compose.HealthMethod
	// Latency is how long the probe took (request to response, exec
	// create to exit code).
	Latency time.Duration
	// Detail says what was seen: "HTTP 503", "exit 1: <output>",
	// "container exited (code 137)".
	Detail string
	// Err is why the probe could not be made (Error), or the cause of a
	// Failure where there is one (timeout).
	Err error
}

// Healthy reports a Success.
func (r Result) Healthy() bool { return r.Outcome == Success }

// Counted is r as the service's health counts it. An HTTP check that
// could not be made is a failed check: nothing answers on the service's
// port, and the agent, not the engine, is the one asking. The Errors of
// command and running checks come from the engine and stay Errors.
func (r Result) Counted() Result {
	if r.Outcome != Error || r.Method != compose.HealthHTTP {
		return r
	}
	return Result{Outcome: Failure, Method: r.Method, Latency: r.Latency, Detail: "no answer: " + r.String(), Err: r.Err}
}

func (r Result) String() string {
	s := fmt.Sprintf("%s %s in %s", r.Method, r.Outcome, r.Latency.Round(time.Millisecond))
	if r.Detail != "" {
		s += ": " + r.Detail
	}
	if r.Err != nil {
		s += ": " + r.Err.Error()
	}
	return s
}

// Prober checks a service once. id is the service's current container;
// the HTTP mechanism does not need it.
type Prober interface {
	Probe(ctx context.Context, id engine.ContainerID) Result
}

// Execer runs a command in a container (engine.Client does).
type Execer interface {
	Exec(ctx context.Context, id engine.ContainerID, argv []string, opts engine.ExecOptions) (engine.ExecResult, error)
}

// Inspector reads a container's state (engine.Client does).
type Inspector interface {
	Inspect(ctx context.Context, id engine.ContainerID) (engine.Container, error)
}

// Engine is what ForSpec needs from the engine.
type Engine interface {
	Execer
	Inspector
}

// DefaultTimeout is ORCHESTRATOR_HEALTH_CHECK_TIMEOUT's default.
const DefaultTimeout = 5 * time.Second

// ForSpec returns the prober for a health spec: HTTP, command, or
// running status. HealthNone (the compose file said `test: NONE`) gets
// the running-status probe, since the agent still needs to know the
// container lives. The spec's timeout applies, else defaultTimeout,
// else DefaultTimeout. clk may be nil (the wall clock).
func ForSpec(spec compose.HealthSpec, eng Engine, defaultTimeout time.Duration, clk clock.Clock) (Prober, error) {
	timeout := spec.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if clk == nil {
		clk = clock.New()
	}
	var p Prober
	switch spec.Method {
	case compose.HealthHTTP:
		if spec.URL == "" {
			return nil, fmt.Errorf("http health check without a URL")
		}
		p = NewHTTP(spec.URL, timeout, clk)
	case compose.HealthCommand:
		if len(spec.Command) == 0 {
			return nil, fmt.Errorf("command health check without a command")
		}
		p = NewCommand(eng, spec.Command, timeout, clk)
	case compose.HealthRunning, compose.HealthNone, "":
		p = NewRunning(eng, clk)
	default:
		return nil, fmt.Errorf("unknown health method %q", spec.Method)
	}
	return Guard(p, timeout, spec.Method, clk), nil
}

// Guard makes p safe to call, and owns its deadline: p runs under a
// context that ends after timeout, so every mechanism gives its own
// verdict on a check that ran out of time. A panic becomes an Error
// result, and a mechanism still running a while after its context ended
// (it ignores it) is abandoned with an Error result.
func Guard(p Prober, timeout time.Duration, method compose.HealthMethod, clk clock.Clock) Prober {
	if clk == nil {
		clk = clock.New()
	}
	return guarded{p: p, timeout: timeout, overrun: max(timeout/4, 250*time.Millisecond), method: method, clock: clk}
}

type guarded struct {
	p       Prober
	timeout time.Duration
	// overrun is how long a mechanism is waited for once its context
	// has ended.
	overrun time.Duration
	method  compose.HealthMethod
	clock   clock.Clock
}

func (g guarded) Probe(ctx context.Context, id engine.ContainerID) Result {
	began := g.clock.Now()
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	// Buffered: an abandoned mechanism can still finish and exit.
	ch := make(chan Result, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				ch <- Result{Outcome: Error, Method: g.method, Latency: g.clock.Since(began), Err: fmt.Errorf("probe panicked: %v", v)}
			}
		}()
		ch <- g.p.Probe(ctx, id)
	}()
	select {
	case r := <-ch:
		return g.named(r)
	case <-ctx.Done():
	}
	// The deadline passed or the caller gave up: a mechanism that honours
	// its context answers at once, with its own verdict.
	overrun := time.NewTimer(g.overrun)
	defer overrun.Stop()
	select {
	case r := <-ch:
		return g.named(r)
	case <-overrun.C:
		return Result{Outcome: Error, Method: g.method, Latency: g.clock.Since(began),
			Err: fmt.Errorf("probe did not return within %s: %w", g.timeout+g.overrun, ctx.Err())}
	}
}

// named fills in the method of a result that does not say it.
func (g guarded) named(r Result) Result {
	if r.Method == "" {
		r.Method = g.method
	}
	return r
}
