package supervisor

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// prepare has the engine create the project's networks and volumes while
// discovery runs, off the path to the first start; the channel closes when
// it is done. A failure only costs time: each Create ensures them again
// and reports what is wrong, naming the service.
func (s *Supervisor) prepare(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	p, ok := s.engine.(Preparer)
	if !ok {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := p.Prepare(pctx, s.stack); err != nil && ctx.Err() == nil {
			s.log.Warn("networks and volumes not prepared ahead; each container's create tries again", "error", err)
		}
	}()
	return done
}

// discover lists existing containers, waiting for the engine if needed.
func (s *Supervisor) discover(ctx context.Context) (map[string]Container, error) {
	beat := s.beatWhileDiscovering(ctx)
	defer beat.stop()
	delay := time.Second
	for {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		found, err := s.engine.Discover(dctx, s.stack)
		cancel()
		if err == nil {
			return found, nil
		}
		s.log.Error("Failed to connect to Docker daemon", "error", err, "retry_in", delay)
		beat.set(err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("discovering containers of %s: %w", s.stack.Name, err)
		case <-s.clock.After(delay):
		}
		// At most 5 s: the stack waits on this once the engine is back.
		delay = min(delay*2, 5*time.Second)
	}
}

// discoveryBeat feeds OnTick (systemd's watchdog and STATUS=) every
// second while discover waits for the engine: one attempt (up to its
// timeout) plus the backoff outlasts WatchdogSec, so pinging only between
// attempts got a healthy agent SIGABRTed whenever the engine was down at
// boot. It is the only caller of OnTick until discover returns.
type discoveryBeat struct {
	mu   sync.Mutex
	err  string
	stop func()
}

func (b *discoveryBeat) set(err error) {
	b.mu.Lock()
	b.err = err.Error()
	b.mu.Unlock()
}

func (s *Supervisor) beatWhileDiscovering(ctx context.Context) *discoveryBeat {
	b := &discoveryBeat{err: "connecting", stop: func() {}}
	if s.cfg.OnTick == nil {
		return b
	}
	phases, total := len(s.plan.Phases), len(s.order)
	bctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	b.stop = func() { cancel(); <-done }
	go func() {
		defer close(done)
		t := s.clock.NewTimer(time.Second)
		defer t.Stop()
		for {
			select {
			case <-bctx.Done():
				return
			case <-t.C():
				t.Reset(time.Second)
				b.mu.Lock()
				why := b.err
				b.mu.Unlock()
				s.cfg.OnTick(Progress{Phases: phases, Total: total, EngineError: why})
			}
		}
	}()
	return b
}
