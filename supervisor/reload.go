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
// for the rollout it began (Converging.Wait).
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
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	records, err := s.store.Load(lctx)
	cancel()
	if err != nil {
		records = map[string]state.Record{}
	}

	type update struct {
		r   *runner
		svc *compose.PlannedService
		why string // outdated: why; "" when current
	}
	var updates []update
	var added, removed []*runner
	s.mu.Lock()
	kept := map[string]*runner{}
	s.order = s.order[:0]
	for i := range plan.Services {
		ps := &plan.Services[i]
		s.order = append(s.order, ps.Name)
		if r, ok := s.runners[ps.Name]; ok {
			updates = append(updates, update{r, ps, s.outdatedWhy(st, ps, existing)})
			kept[ps.Name] = r
			continue
		}
		var c *Container
		if ex, ok := existing[ps.Name]; ok {
			c = &ex
		}
		var rec *state.Record
		if rr, ok := records[ps.Name]; ok {
			rec = &rr
		}
		r := newRunner(s, plan, ps, c, rec)
		r.outdated = s.outdatedWhy(st, ps, existing)
		r.adoptExited(true, s.engine.ConfigHash(st, ps.Service))
		kept[ps.Name] = r
		added = append(added, r)
		delete(s.statuses, ps.Name) // what Down left; the runner publishes anew
		if r.ctr.ID != "" {
			s.byID[r.ctr.ID] = r
		}
		s.views[ps.Name] = depView{status: r.st, enabled: r.enabled, started: r.ctr.Running}
	}
	for name, r := range s.runners {
		if _, ok := kept[name]; !ok {
			removed = append(removed, r)
		}
	}
	s.runners, s.stack, s.plan = kept, st, plan
	s.mu.Unlock()

	for _, u := range updates {
		if err := s.send(ctx, u.svc.Name, command{kind: cmdUpdate, svc: u.svc, reason: u.why}); err != nil {
			s.log.Warn("reload: service not updated", "service", u.svc.Name, "error", err)
		}
	}
	for _, r := range added {
		s.startRunner(r)
	}
	for _, r := range removed {
		s.retire(ctx, r)
	}
	s.pokeAll()
	var outdated []outdatedService
	for _, u := range updates {
		if u.why != "" {
			outdated = append(outdated, outdatedService{u.svc.Name, u.svc.Phase, u.why})
		}
	}
	run := s.startRollout(outdated)
	s.log.Info("Reloaded compose file", "added", len(added), "removed", len(removed), "outdated", len(outdated), "services", len(plan.Services))
	c := &Converging{s: s, rollout: run}
	for _, r := range added {
		c.Summary.Added = append(c.Summary.Added, r.svc.Name)
	}
	for _, r := range removed {
		c.Summary.Removed = append(c.Summary.Removed, r.svc.Name)
	}
	for _, o := range outdated {
		c.Summary.Recreated = append(c.Summary.Recreated, o.name)
	}
	c.Summary.Unchanged = len(updates) - len(outdated)
	return c, nil
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
	delete(s.views, r.svc.Name)
	return id, st
}
