package supervisor

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Messages and details of `hostagent down`, `stop` and `start`.
const (
	MsgSupervisionStopped = "Supervision stopped"
	MsgStoppedByUser      = "Service stopped by the user"
	MsgStartedByUser      = "Service started by the user"
	// DetailDown: the agent let go of the stack for `hostagent down`.
	DetailDown = "not supervised after hostagent down; hostagent up (or reload, or an agent restart) brings it back"
	// DetailStoppedByUser is kept in the state store (as the disabled
	// reason), so a stop survives an agent restart.
	DetailStoppedByUser = "stopped by the user; hostagent start brings it back"
)

// ErrNotSupervised: the service is in the file but the agent let go of it
// (hostagent down) and has not taken it up again.
var ErrNotSupervised = errors.New("not supervised since hostagent down; run hostagent up (or reload) first")

// StopService stops a service as the user asked: the agent no longer
// restarts it (across agent restarts too) until StartService, and its
// container is stopped with its stop_grace_period.
func (s *Supervisor) StopService(ctx context.Context, name string) error {
	if err := s.send(ctx, name, command{kind: cmdUserStop}); err != nil {
		return err
	}
	_, plan := s.current()
	ps, _ := plan.Lookup(name)
	s.mu.Lock()
	id := ""
	for k, r := range s.byID {
		if r.svc.Name == name {
			id = k
		}
	}
	s.mu.Unlock()
	if id == "" {
		return nil
	}
	grace := s.cfg.StopTimeout
	if ps != nil {
		grace = ps.StopTimeout(s.cfg.StopTimeout)
	}
	sctx, cancel := context.WithTimeout(ctx, grace+30*time.Second)
	defer cancel()
	if err := s.engine.Stop(sctx, id, grace); err != nil {
		return fmt.Errorf("stopping %s: %w", name, err)
	}
	return nil
}

// StartService undoes StopService (or a disable) and starts the service.
func (s *Supervisor) StartService(ctx context.Context, name string) error {
	return s.send(ctx, name, command{kind: cmdUserStart})
}
