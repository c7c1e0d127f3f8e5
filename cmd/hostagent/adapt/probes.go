package adapt

import (
	"context"
	"errors"
	"time"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/engine"
	"github.com/hostagent/hostagent/internal/clock"
	"github.com/hostagent/hostagent/probes"
	"github.com/hostagent/hostagent/supervisor"
)

// Probers builds each service's prober from its health spec.
func Probers(c *engine.Client, defaultTimeout time.Duration, clk clock.Clock) supervisor.ProberFactory {
	return func(svc *compose.Service) supervisor.Prober {
		p, err := probes.ForSpec(svc.Health, c, defaultTimeout, clk)
		if err != nil {
			return brokenProber{err}
		}
		return proberAdapter{p}
	}
}

// proberAdapter presents a probes.Prober as the supervisor's.
type proberAdapter struct{ p probes.Prober }

// Probe maps a probe result, as health counts it (probes.Result.Counted),
// onto the supervisor's: an Error is a check that could not run and
// leaves health as it was.
func (a proberAdapter) Probe(ctx context.Context, id string) supervisor.ProbeResult {
	r := a.p.Probe(ctx, engine.ContainerID(id)).Counted()
	out := supervisor.ProbeResult{Healthy: r.Healthy(), Output: r.Detail, Latency: r.Latency}
	if r.Outcome == probes.Error {
		out.Err = r.Err
		if out.Err == nil {
			out.Err = errors.New(r.Detail)
		}
	}
	return out
}

// brokenProber reports a spec the probes package refused as a failing
// check, so the service shows unhealthy with the reason instead of
// waiting forever.
type brokenProber struct{ err error }

func (b brokenProber) Probe(context.Context, string) supervisor.ProbeResult {
	return supervisor.ProbeResult{Healthy: false, Output: "health check cannot run: " + b.err.Error()}
}
