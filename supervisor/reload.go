package supervisor

import (
	"context"
	"fmt"
	"time"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/state"
)

// Reload converges on a new definition of the stack (SIGHUP): services
// that are new are brought up, services that are gone are stopped and no
// longer supervised, and services whose container definition changed are
// recreated. The rest keep their containers and counts.
func (s *Supervisor) Reload(ctx context.Context, st *compose.Stack, plan *compose.Plan) error {
	_, err := s.Converge(ctx, st, plan)
	return err
}

// Converge is Reload that says what it changed and lets the caller wait
// for the rollout it began (Converging.Wait). It observes the containers,
// computes the diff (diffReload) and applies it.
func (s *Supervisor) Converge(ctx context.Context, st *compose.Stack, plan *compose.Plan) (*Converging, error) {
	s.mu.Lock()
	running, oldName := s.running, s.stack.Name
	s.mu.Unlock()
	if !running {
		return nil, fmt.Errorf("reload: the supervisor is not running")
	}
	if st.Name != oldName {
		return nil, fmt.Errorf("reload: the project name changed from %q to %q; restart the agent to switch projects", oldName, st.Name)
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	existing, err := s.engine.Discover(dctx, st)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("reload: %w", err)
	}
	records, _ := s.loadRecords(ctx) // none: fresh counts for the added
	d, added, removed := s.swapPlan(st, plan, existing, records)
	for _, k := range d.keep {
		if err := s.send(ctx, k.svc.Name, command{kind: cmdUpdate, svc: k.svc, reason: k.why}); err != nil {
			s.log.Warn("reload: service not updated", "service", k.svc.Name, "error", err)
		}
	}
	for _, r := range added {
		s.startRunner(r)
	}
	for _, r := range removed {
		s.retire(ctx, r)
	}
	s.pokeAll()
	outdated := d.recreate()
	run := s.startRollout(outdated)
	s.log.Info("Reloaded compose file", "added", len(added), "removed", len(removed), "outdated", len(outdated), "services", len(plan.Services))
	c := &Converging{s: s, rollout: run}
	c.Summary.Added = append(c.Summary.Added, names(d.add)...)
	c.Summary.Removed = append(c.Summary.Removed, d.remove...)
	for _, o := range outdated {
		c.Summary.Recreated = append(c.Summary.Recreated, o.name)
	}
	c.Summary.Unchanged = len(d.keep) - len(outdated)
	return c, nil
}

// swapPlan diffs the new plan against the runners and makes it current:
// runners for the added services (not started yet), the removed ones
// returned to be retired.
func (s *Supervisor) swapPlan(st *compose.Stack, plan *compose.Plan, existing map[string]Container, records map[string]state.Record) (reloadDiff, []*runner, []*runner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var old []string // the services supervised now (Down retires them all)
	for _, name := range s.order {
		if _, ok := s.runners[name]; ok {
			old = append(old, name)
		}
	}
	d := diffReload(old, plan, existing, s.hashFor(st))
	var added, removed []*runner
	for _, name := range d.remove {
		removed = append(removed, s.runners[name])
		delete(s.runners, name)
	}
	s.stack, s.plan = st, plan
	s.board.setPlan(plan)
	s.order = s.order[:0]
	for i := range plan.Services {
		s.order = append(s.order, plan.Services[i].Name)
	}
	for _, ps := range d.add {
		delete(s.statuses, ps.Name) // what Down left; the runner publishes anew
		r := s.addRunnerLocked(ps, existing, records, true, s.outdatedWhy(st, ps, existing))
		added = append(added, r)
	}
	return d, added, removed
}

func names(svcs []*compose.PlannedService) []string {
	var out []string
	for _, ps := range svcs {
		out = append(out, ps.Name)
	}
	return out
}

// retire stops supervising a service that left the compose file and stops
// its container (compose down leaves removal to the user; so does the agent).
func (s *Supervisor) retire(ctx context.Context, r *runner) {
	id, st := s.release(ctx, r)
	if id != "" {
		stop := r.svc.StopTimeout(s.cfg.StopTimeout)
		sctx, cancel := context.WithTimeout(ctx, stop+30*time.Second)
		if err := s.engine.Stop(sctx, id, stop); err != nil {
			s.log.Warn("reload: stopping a removed service failed", "service", r.svc.Name, "error", err)
		}
		cancel()
	}
	st.Status = Stopped
	s.emit(st, MsgRemoved)
}

// release ends a runner (no restarts, its goroutine cancelled) and forgets
// its status; it returns its container ID and last status.
func (s *Supervisor) release(ctx context.Context, r *runner) (string, ServiceStatus) {
	select {
	case r.cmds <- command{kind: cmdQuiesce, reply: make(chan error, 1)}:
	case <-ctx.Done():
	}
	if r.cancel != nil {
		r.cancel()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := ""
	for k, v := range s.byID {
		if v == r {
			delete(s.byID, k)
			id = k
		}
	}
	st := s.statuses[r.svc.Name]
	delete(s.statuses, r.svc.Name)
	s.board.drop(r.svc.Name)
	return id, st
}
