package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"

	"github.com/hostagent/hostagent/internal/clock"
)

// Events streams the project's container events until ctx ends, then
// closes the channel. It is meant to have one consumer per project.
//
// The stream survives the engine going away: it reconnects with backoff
// (logging as Connect does), resubscribes with `since` set to the last
// event it delivered so that missed events are replayed (marked
// Replayed), and sends an EventResync first, carrying a fresh listing of
// the project's containers, so the consumer can reconcile what it missed.
//
// Subscribe before listing: Podman sends no response until the first
// event, so the subscription itself cannot be confirmed; instead every
// subscription asks for events since the moment Events was called (or
// since the last event), which closes the gap on the engine's side.
func (c *Client) Events(ctx context.Context, project string) <-chan Event {
	out := make(chan Event, 64)
	go c.streamEvents(ctx, project, out)
	return out
}

func (c *Client) streamEvents(ctx context.Context, project string, out chan<- Event) {
	defer close(out)
	cur := &cursor{since: c.clock.Now()}
	resubscribed := false
	for {
		err := c.follow(ctx, project, cur, resubscribed, out)
		if ctx.Err() != nil {
			return
		}
		c.log.Warn("Event stream lost", "project", project, "err", err)
		if c.Connect(ctx) != nil {
			return
		}
		resubscribed = true
	}
}

// cursor remembers where the stream got to, so that a resubscription
// with `since` neither loses nor repeats events. `since` is inclusive,
// so the events seen at the latest timestamp are kept to drop repeats.
type cursor struct {
	since  time.Time
	atLast map[string]bool
}

func (cur *cursor) seen(ev Event, key string) bool {
	switch {
	case ev.Time.Before(cur.since):
		return true
	case ev.Time.Equal(cur.since):
		if cur.atLast[key] {
			return true
		}
	default:
		cur.since = ev.Time
		cur.atLast = map[string]bool{}
	}
	cur.atLast[key] = true
	return false
}

type subscription struct {
	msgs <-chan events.Message
	errs <-chan error
}

// follow subscribes once and forwards events until the stream ends or the
// periodic ping fails; it returns why it stopped.
func (c *Client) follow(ctx context.Context, project string, cur *cursor, resubscribed bool, out chan<- Event) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fw := forwarder{c: c, project: project, cur: cur, resubscribed: resubscribed, resumedAt: c.clock.Now(), out: out}
	subs := c.subscribe(sctx, cur.since)
	if resubscribed {
		if err := fw.resync(ctx); err != nil {
			return err
		}
	}
	ping := c.pingTimer()
	defer ping.Stop()
	var sub subscription
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case sub = <-subs:
			subs = nil
		case <-ping.C():
			if err := c.Ping(ctx); err != nil {
				return fmt.Errorf("engine stopped answering: %w", err)
			}
			ping.Reset(c.opts.EventPing)
		case err, ok := <-sub.errs:
			if !ok || err == nil {
				err = errors.New("event stream closed")
			}
			return err
		case m, ok := <-sub.msgs:
			if !ok {
				sub.msgs = nil
				continue
			}
			if !fw.forward(ctx, m) {
				return ctx.Err()
			}
		}
	}
}

// subscribe asks for container events since the given time, in the
// background: the Docker client's Events does not return before the
// engine sends its first byte, which Podman delays until the first event.
func (c *Client) subscribe(ctx context.Context, since time.Time) <-chan subscription {
	// Only the type is filtered on the engine's side: containers adopted
	// by name have no project label and are matched here.
	f := filters.NewArgs(filters.Arg("type", string(events.ContainerEventType)))
	opts := events.ListOptions{Filters: f, Since: since.UTC().Format(time.RFC3339Nano)}
	subs := make(chan subscription, 1)
	go func() {
		m, e := c.api.Events(ctx, opts)
		subs <- subscription{m, e}
	}()
	return subs
}

// forwarder passes one subscription's events on to the consumer.
type forwarder struct {
	c            *Client
	project      string
	cur          *cursor
	resubscribed bool
	// resumedAt is when the subscription was made; older events are
	// replays of what the stream missed.
	resumedAt time.Time
	out       chan<- Event
}

// resync sends the EventResync that opens a resubscription, with the
// project's containers listed after subscribing, so nothing falls between
// the two. It fails only when ctx ends.
func (fw forwarder) resync(ctx context.Context) error {
	snap, err := fw.c.List(ctx, fw.project)
	if err != nil {
		snap = nil
	}
	fw.c.log.Info("Event stream resumed", "project", fw.project, "since", fw.cur.since, "containers", len(snap))
	if !send(ctx, fw.out, Event{Kind: EventResync, Time: fw.resumedAt, Project: fw.project, Snapshot: snap}) {
		return ctx.Err()
	}
	return nil
}

// forward sends an engine message on when it is one of the project's
// container events not yet delivered; false when ctx ended first.
func (fw forwarder) forward(ctx context.Context, m events.Message) bool {
	ev, keep := normalize(m)
	if !keep {
		return true
	}
	fw.c.adopted.attribute(ev.ID, &ev.Project, &ev.Service)
	if fw.project != "" && ev.Project != fw.project || fw.cur.seen(ev, string(m.Action)+"/"+m.Actor.ID) {
		return true
	}
	if ev.Kind == EventDestroy {
		fw.c.adopted.forget(ev.ID)
	}
	ev.Replayed = fw.resubscribed && ev.Time.Before(fw.resumedAt)
	return send(ctx, fw.out, ev)
}

// pingTimer returns the watchdog timer, or one that never fires when
// EventPing is negative.
func (c *Client) pingTimer() clock.Timer {
	if c.opts.EventPing < 0 {
		return nopTimer{}
	}
	return c.clock.NewTimer(c.opts.EventPing)
}

type nopTimer struct{}

func (nopTimer) C() <-chan time.Time { return nil }
func (nopTimer) Stop() bool          { return false }
func (nopTimer) Reset(time.Duration) {}

func send(ctx context.Context, out chan<- Event, ev Event) bool {
	select {
	case out <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}
