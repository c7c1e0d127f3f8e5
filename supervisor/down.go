package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/hostagent/hostagent/compose"
)

// Down stops the stack in reverse phase order and ends supervision of it.
func (s *Supervisor) Down(ctx context.Context) error {
	s.mu.Lock()
	var names []string
	for name := range s.runners {
		names = append(names, name)
	}
	st, plan := s.stack, s.plan
	s.mu.Unlock()
	for _, name := range names {
		_ = s.send(ctx, name, command{kind: cmdQuiesce})
	}
	return StopStack(ctx, s.engine, st, plan, s.cfg.StopTimeout, s.log)
}

// StopStack stops a stack's containers in reverse phase order, monitoring
// track first; it needs no running supervisor (`hostagent down`).
func StopStack(ctx context.Context, e Engine, st *compose.Stack, plan *compose.Plan, timeout time.Duration, log *slog.Logger) error {
	found, err := e.Discover(ctx, st)
	if err != nil {
		return err
	}
	services := slices.Clone(plan.Services)
	slices.SortStableFunc(services, func(a, b compose.PlannedService) int {
		if a.Track != b.Track {
			if a.Track == compose.TrackMonitoring {
				return -1
			}
			return 1
		}
		return b.Phase - a.Phase
	})
	var errs []error
	for _, ps := range services {
		c, ok := found[ps.Name]
		if !ok || !c.Running {
			continue
		}
		log.Info("stopping", "service", ps.Name, "phase", ps.Phase)
		// Each service gets its own stop_grace_period; timeout is the default.
		if err := e.Stop(ctx, c.ID, ps.StopTimeout(timeout)); err != nil {
			errs = append(errs, fmt.Errorf("stopping %s: %w", ps.Name, err))
		}
	}
	return errors.Join(errs...)
}
