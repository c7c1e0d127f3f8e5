package main

import (
	"context"
	"fmt"
	"time"

	"github.com/hostagent/hostagent/api"
	"github.com/hostagent/hostagent/supervisor"
)

// converge is the one reload path, for SIGHUP and POST /api/system/reload:
// load the file with the service's settings, converge on it, and wait up
// to wait (0: not at all) for the changed services to settle. A file that
// does not load leaves the running stack as it is.
func (a *daemon) converge(ctx context.Context, cfg config, wait time.Duration) (supervisor.ConvergeReport, error) {
	c, err := a.beginConverge(ctx, cfg)
	if err != nil {
		return supervisor.ConvergeReport{}, err
	}
	if wait <= 0 {
		return c.Report(), nil
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	rep := c.Wait(wctx)
	a.log.Info("reload converged", "complete", rep.Complete, "ok", rep.OK, "added", len(rep.Added), "removed", len(rep.Removed), "recreated", len(rep.Recreated))
	return rep, nil
}

// beginConverge loads and starts the converge; only this part is
// serialised, so a long rollout never holds up the next reload.
func (a *daemon) beginConverge(ctx context.Context, cfg config) (*supervisor.Converging, error) {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	_ = a.notify.Reloading()
	defer func() { _ = a.notify.Ready() }()
	stack, plan, err := loadStack(ctx, cfg)
	if err != nil {
		a.log.Error("reload failed; keeping the running configuration", "error", err)
		a.metrics.Reloaded(false, a.clock.Now())
		return nil, fmt.Errorf("%w: %w", api.ErrInvalidFile, err)
	}
	logWarnings(a.log, stack, plan)
	c, err := a.sup.Converge(ctx, stack, plan)
	if err != nil {
		a.log.Error("reload failed", "error", err)
		a.metrics.Reloaded(false, a.clock.Now())
		return nil, err
	}
	a.metrics.Reloaded(true, a.clock.Now())
	return c, nil
}

// daemonControl is the daemon's api.Controller.
type daemonControl struct {
	a   *daemon
	cfg config
}

func (d daemonControl) Converge(ctx context.Context, wait time.Duration) (supervisor.ConvergeReport, error) {
	return d.a.converge(ctx, d.cfg, wait)
}

// Down waits for a reload being loaded, so the two do not interleave.
func (d daemonControl) Down(ctx context.Context) []string {
	d.a.reloadMu.Lock()
	defer d.a.reloadMu.Unlock()
	return d.a.sup.Down(ctx)
}

func (d daemonControl) StopService(ctx context.Context, name string) error {
	return d.a.sup.StopService(ctx, name)
}

func (d daemonControl) StartService(ctx context.Context, name string) error {
	return d.a.sup.StartService(ctx, name)
}
