package supervisor

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/hostagent/hostagent/compose"
)

// Containers that do not exist yet, of services whose image is present
// and due no pull or build, are created ahead of their start, in
// start-priority order, beside the starts (compose up, too, creates
// everything before it starts). A start then only starts. The creator
// does not take the start lane: on Podman 4.3 a create beside a start
// costs the start nothing once the create skips the network inspect
// (which waits behind a start's network setup; the engine remembers the
// networks it made). Each service's first create is done once: by the
// creator or by its own start, whichever claims it first.

// precreation is one service's container made ahead of its start.
type precreation struct {
	done    chan struct{} // closed when ctr, err are set
	ctr     Container
	err     error
	claimed bool // taken by a start (or made by it): never again
}

// precreate starts the background creator; the caller's wait group ends
// with it.
func (s *Supervisor) precreate(ctx context.Context, existing map[string]Container) {
	images, ok := s.engine.(ImageChecker)
	if !ok {
		return
	}
	stack, plan := s.current()
	var todo []*compose.PlannedService
	for i := range plan.Services {
		if _, ok := existing[plan.Services[i].Name]; !ok {
			todo = append(todo, &plan.Services[i])
		}
	}
	slices.SortStableFunc(todo, func(a, b *compose.PlannedService) int {
		if c := cmp.Compare(startPriority(b), startPriority(a)); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for _, ps := range todo {
			if ctx.Err() != nil {
				return
			}
			s.precreateOne(ctx, images, stack, ps)
		}
	}()
}

// precreateOne creates ps's container unless its start (or a disable) got
// there first. A service whose start has begun but waits elsewhere (the
// GPU lane) still gets its container made here.
func (s *Supervisor) precreateOne(ctx context.Context, images ImageChecker, stack *compose.Stack, ps *compose.PlannedService) {
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if ready, err := images.ImageReady(cctx, stack, ps.Service); !ready || err != nil {
		// Its start ensures the image first (pull, build) and creates then.
		return
	}
	s.mu.Lock()
	_, taken := s.pre[ps.Name]
	v, _ := s.board.view(ps.Name)
	p := &precreation{done: make(chan struct{})}
	if !taken && v.enabled {
		s.pre[ps.Name] = p
	}
	s.mu.Unlock()
	if taken || !v.enabled {
		return
	}
	p.ctr, p.err = s.engine.Create(cctx, stack, ps.Service)
	close(p.done)
}

// createContainer creates svc's container for a start: the one made ahead
// when there is one (waiting for it if under way), else a new one.
func (s *Supervisor) createContainer(ctx context.Context, st *compose.Stack, svc *compose.PlannedService) (Container, error) {
	s.mu.Lock()
	p, ok := s.pre[svc.Name]
	fresh := ok && !p.claimed
	if !ok {
		// Claim it, so the precreator leaves it alone.
		p = &precreation{}
		s.pre[svc.Name] = p
	}
	p.claimed = true
	s.mu.Unlock()
	if fresh {
		select {
		case <-p.done:
		case <-ctx.Done():
			return Container{}, ctx.Err()
		}
		// A failed or outdated (reloaded meanwhile) one is made again, and
		// the engine replaces the outdated container of the same name.
		if p.err == nil && p.ctr.ConfigHash == s.engine.ConfigHash(st, svc.Service) {
			return p.ctr, nil
		}
	}
	return s.engine.Create(ctx, st, svc.Service)
}
