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

// Down ends supervision of the whole stack without touching a container:
// the runners are retired, the rollout stopped, and every service shows as
// not found until a reload (or an agent restart) brings the stack up again.
// `hostagent down` calls it before it stops and removes the containers, so
// nothing restarts them behind its back. It returns the services released.
func (s *Supervisor) Down(ctx context.Context) []string {
	s.mu.Lock()
	rs := make([]*runner, 0, len(s.runners))
	for _, name := range s.order {
		if r, ok := s.runners[name]; ok {
			rs = append(rs, r)
		}
	}
	if s.stopRollout != nil {
		s.stopRollout()
	}
	s.mu.Unlock()
	names := make([]string, 0, len(rs))
	for _, r := range rs {
		s.release(ctx, r)
		names = append(names, r.svc.Name)
	}
	sts := make([]ServiceStatus, 0, len(names))
	s.mu.Lock()
	for _, name := range names {
		delete(s.runners, name)
		st := s.initialStatus(name)
		st.Status, st.Detail = Stopped, DetailDown
		s.statuses[name] = st
		sts = append(sts, st)
	}
	s.mu.Unlock()
	for _, st := range sts {
		s.emit(st, MsgSupervisionStopped)
	}
	s.log.Info("Supervision stopped for hostagent down; the stack comes back on reload, up or an agent restart", "services", len(names))
	return names
}

// StopStack stops a stack's containers in reverse phase order, monitoring
// track first; it needs no running supervisor (`hostagent down`).
func StopStack(ctx context.Context, e Engine, st *compose.Stack, plan *compose.Plan, timeout time.Duration, log *slog.Logger) error {
	return TearDown(ctx, e, st, plan, DownOptions{Timeout: timeout, Progress: func(service, msg string) {
		log.Info(msg, "service", service)
	}})
}

// DownOptions tune TearDown.
type DownOptions struct {
	// Timeout is the stop timeout of services without stop_grace_period.
	Timeout time.Duration
	// Remove: remove the containers too (compose down); named volumes
	// are kept.
	Remove bool
	// Progress hears each step ("stopping", "stopped", "removed"); nil: quiet.
	Progress func(service, msg string)
}

// TearDown stops a stack's containers in reverse phase order, monitoring
// track first, each with its own stop_grace_period, and with Remove
// removes them afterwards. It goes on past a failure and returns them all.
func TearDown(ctx context.Context, e Engine, st *compose.Stack, plan *compose.Plan, o DownOptions) error {
	say := o.Progress
	if say == nil {
		say = func(string, string) {}
	}
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
		if !ok {
			continue
		}
		if c.Running {
			say(ps.Name, fmt.Sprintf("stopping (phase %d)", ps.Phase))
			if err := e.Stop(ctx, c.ID, ps.StopTimeout(o.Timeout)); err != nil {
				errs = append(errs, fmt.Errorf("stopping %s: %w", ps.Name, err))
				say(ps.Name, "FAILED to stop: "+err.Error())
				continue
			}
			say(ps.Name, "stopped")
		}
		if !o.Remove {
			continue
		}
		if err := e.Remove(ctx, c.ID); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", ps.Name, err))
			say(ps.Name, "FAILED to remove: "+err.Error())
			continue
		}
		say(ps.Name, "removed")
	}
	return errors.Join(errs...)
}
