package supervisor

import (
	"context"
	"errors"
	"fmt"

	"github.com/hostagent/hostagent/compose"
)

// cascade restarts the dependents whose depends_on has restart: true, once
// the restarted service is healthy again.
func (s *Supervisor) cascade(name string) {
	_, plan := s.current()
	for _, ps := range plan.Services {
		for _, d := range ps.Waits {
			if d.Service == name && d.Restart && !d.Implicit {
				s.mu.Lock()
				ctx := s.runCtx
				s.mu.Unlock()
				s.wg.Add(1)
				go func() {
					defer s.wg.Done()
					_ = s.send(ctx, ps.Name, command{kind: cmdRestart, reason: MsgDependencyRest + ": " + name})
				}()
			}
		}
	}
}

// send delivers a command to a service's runner and waits for its answer.
func (s *Supervisor) send(ctx context.Context, name string, c command) error {
	s.mu.Lock()
	r, ok := s.runners[name]
	running := s.running
	_, planned := s.plan.Lookup(name)
	s.mu.Unlock()
	if !ok {
		if planned && !running {
			return errors.New("supervisor is not running yet")
		}
		if planned {
			return ErrNotSupervised
		}
		return fmt.Errorf("%w %q", ErrUnknownService, name)
	}
	c.reply = make(chan error, 1)
	select {
	case r.cmds <- c:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-c.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Restart restarts a service now (a manual restart), optionally
// resetting its failure count. It never runs beside another restart of the
// same service.
func (s *Supervisor) Restart(ctx context.Context, name string, resetFailures bool) error {
	return s.send(ctx, name, command{kind: cmdRestart, reset: resetFailures, manual: true})
}

// Enable re-enables auto-restart (and resets the failure count).
func (s *Supervisor) Enable(ctx context.Context, name string) error {
	return s.send(ctx, name, command{kind: cmdEnable})
}

// Disable turns auto-restart off; the container is left as it is.
func (s *Supervisor) Disable(ctx context.Context, name string) error {
	return s.send(ctx, name, command{kind: cmdDisable})
}

// Services returns every service's status in plan order.
func (s *Supervisor) Services() []ServiceStatus {
	waits := s.gpuWaits()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ServiceStatus, 0, len(s.order))
	for _, n := range s.order {
		st, ok := s.statuses[n]
		if !ok {
			st = s.initialStatus(n)
		}
		if w, ok := waits[n]; ok {
			st.Detail = w
		}
		if r := s.runners[n]; r != nil {
			r.box.overlayCheck(&st)
		}
		if st.StartedAt != nil && (st.Status == Running || st.Status == Starting) {
			st.UptimeSeconds = int64(s.clock.Since(*st.StartedAt).Seconds())
		}
		out = append(out, st)
	}
	return out
}

// Service returns one service's status.
func (s *Supervisor) Service(name string) (ServiceStatus, bool) {
	for _, st := range s.Services() {
		if st.Name == name {
			return st, true
		}
	}
	return ServiceStatus{}, false
}

func (s *Supervisor) gpuWaits() map[string]string {
	out := map[string]string{}
	if s.gate == nil {
		return out
	}
	for _, w := range s.gate.Waiting() {
		out[w.Service] = w.Reason
	}
	return out
}

func (s *Supervisor) initialStatus(name string) ServiceStatus {
	ps, _ := s.plan.Lookup(name)
	return ServiceStatus{Name: name, DisplayName: ps.DisplayName, Category: ps.Category.String(), Status: NotFound,
		Enabled: true, Image: ps.Image, Phase: ps.Phase, Track: string(ps.Track), GPU: ps.GPU.Required,
		HealthMethod: string(ps.Health.Method)}
}

// Plan returns the plan being run.
func (s *Supervisor) Plan() *compose.Plan {
	_, p := s.current()
	return p
}

// Stack returns the stack being run.
func (s *Supervisor) Stack() *compose.Stack {
	st, _ := s.current()
	return st
}

// Progress summarises bring-up.
func (s *Supervisor) Progress() Progress {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.board.progress(len(s.order))
}
