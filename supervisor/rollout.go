package supervisor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hostagent/hostagent/compose"
)

// outdatedService is a service whose container no longer matches the
// file, and why ("configuration changed", "image changed").
type outdatedService struct {
	name  string
	phase int
	why   string
}

// errRecreateLater: the runner could not recreate now (disabled, stopping,
// a start under way, not launched yet); it recreates at its next start.
var errRecreateLater = errors.New("recreated at its next start")

// errAlreadyCurrent: the container matches the file already.
var errAlreadyCurrent = errors.New("already current")

// rolloutRun is one rollout: results (service -> "" when it was recreated
// and settled, else why not) are complete once done is closed.
type rolloutRun struct {
	done    chan struct{}
	results map[string]string
}

// startRollout recreates the outdated services one at a time, in phase
// order, in the background; a newer rollout replaces one still going.
func (s *Supervisor) startRollout(items []outdatedService) *rolloutRun {
	run := &rolloutRun{done: make(chan struct{}), results: map[string]string{}}
	if len(items) == 0 {
		close(run.done)
		return run
	}
	slices.SortStableFunc(items, func(a, b outdatedService) int { return a.phase - b.phase })
	s.mu.Lock()
	if s.stopRollout != nil {
		s.stopRollout()
	}
	ctx, cancel := context.WithCancel(s.runCtx)
	s.stopRollout = cancel
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(run.done)
		defer cancel()
		s.rollout(ctx, items, run.results)
	}()
	return run
}

// rollout recreates each service through its runner (so through the GPU
// lane, with the volumes kept) and waits until it is healthy, completed or
// failed before the next: a change reaches one service at a time.
func (s *Supervisor) rollout(ctx context.Context, items []outdatedService, results map[string]string) {
	done, failed, later := 0, 0, 0
	for _, it := range items {
		if ctx.Err() != nil {
			results[it.name] = "rollout cancelled (a newer reload or the agent stopping)"
			continue
		}
		events, unsubscribe := s.Subscribe(256)
		s.log.Info(fmt.Sprintf("Rolling out %s", it.name), "why", it.why, "phase", it.phase)
		err := s.send(ctx, it.name, command{kind: cmdRecreate, reason: it.why})
		if err != nil {
			unsubscribe()
			later++
			results[it.name] = ""
			if !errors.Is(err, errRecreateLater) && !errors.Is(err, errAlreadyCurrent) {
				results[it.name] = "not recreated: " + err.Error()
			}
			s.log.Info("not recreated now", "service", it.name, "why", err)
			continue
		}
		ok := s.awaitOutcome(ctx, events, it.name)
		unsubscribe()
		if ok {
			done++
			results[it.name] = ""
		} else {
			failed++
			results[it.name] = "recreated, but it did not become healthy"
		}
	}
	if ctx.Err() == nil {
		s.log.Info("Rollout complete", "recreated", done, "failed", failed, "deferred", later)
	}
}

// awaitOutcome waits for the recreated service to settle: true once it is
// healthy or has completed, false when it failed or took too long.
func (s *Supervisor) awaitOutcome(ctx context.Context, events <-chan Event, name string) bool {
	limit := 10 * time.Minute
	if _, plan := s.current(); plan != nil {
		if ps, ok := plan.Lookup(name); ok {
			limit = ps.StartupEstimate + s.cfg.StopTimeout + 2*time.Minute
		}
	}
	timeout := s.clock.After(limit)
	// Until the new container is up, what the old one does (a check that
	// was already under way) says nothing about the new one.
	recreated := false
	for {
		select {
		case <-ctx.Done():
			return false
		case <-timeout:
			s.log.Warn("rollout: service not healthy in time; going on", "service", name, "waited", limit)
			return false
		case ev := <-events:
			if ev.Data.Name != name {
				continue
			}
			switch ev.Message {
			case MsgRecreated:
				recreated = true
			case MsgCompleted:
				return true // a job done before its start returned
			case MsgHealthy, MsgRecovered:
				if recreated {
					return true
				}
			case MsgStartFailed, MsgRestartFailed:
				s.log.Warn("rollout: recreating the service failed; going on", "service", name, "detail", ev.Data.Detail)
				return false
			case MsgContainerDied, MsgHealthCheckFail, MsgMaxFailures, MsgDisabled:
				if !recreated {
					continue
				}
				s.log.Warn("rollout: recreated service failed; going on", "service", name, "event", ev.Message, "detail", ev.Data.Detail)
				return false
			}
		}
	}
}

// outdatedWhy is outdatedReason against the engine's config hash for st.
func (s *Supervisor) outdatedWhy(st *compose.Stack, ps *compose.PlannedService, existing map[string]Container) string {
	return outdatedReason(ps, existing, s.hashFor(st))
}

// hashFor is the config hash a container of a service of st would carry.
func (s *Supervisor) hashFor(st *compose.Stack) func(*compose.Service) string {
	return func(svc *compose.Service) string { return s.engine.ConfigHash(st, svc) }
}

// rollOutAtStart logs the containers found outdated at agent start and,
// unless KeepOutdated, rolls the running ones out (the others are
// recreated when bring-up starts them).
func (s *Supervisor) rollOutAtStart(existing map[string]Container) {
	st, plan := s.current()
	var items []outdatedService
	for i := range plan.Services {
		ps := &plan.Services[i]
		why := s.outdatedWhy(st, ps, existing)
		if why == "" {
			continue
		}
		s.log.Info(fmt.Sprintf("Outdated container for %s", ps.Name), "why", why, "recreate", !s.cfg.KeepOutdated)
		if !s.cfg.KeepOutdated && existing[ps.Name].Running {
			items = append(items, outdatedService{ps.Name, ps.Phase, why})
		}
	}
	s.startRollout(items)
}
