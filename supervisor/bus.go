package supervisor

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hostagent/hostagent/internal/clock"
	"github.com/hostagent/hostagent/state"
)

// eventBus is the supervisor's event side: the history /health/events
// reads, the subscribers (WebSocket, converge waits, the rollout), and
// the store's publication of every event.
type eventBus struct {
	// order is held from recording an event to its delivery, which keeps
	// delivery in sequence order across services.
	order sync.Mutex
	mu    sync.Mutex // guards the fields below
	// history holds the last limit events, oldest first.
	history []Event
	limit   int
	seq     uint64
	subs    map[int]chan Event
	nextSub int

	store state.Store
	clock clock.Clock
	log   *slog.Logger
}

func newEventBus(limit int, store state.Store, clk clock.Clock, log *slog.Logger) *eventBus {
	return &eventBus{limit: limit, subs: map[int]chan Event{}, store: store, clock: clk, log: log}
}

// record appends an event to the history (nil for no message) and returns
// it with the subscribers to hand it to; the caller holds order.
func (b *eventBus) record(st ServiceStatus, msg string) (*Event, []chan Event) {
	if msg == "" {
		return nil, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	ev := Event{Type: EventTypeServiceStatus, Data: st, Message: msg, Time: b.clock.Now(), Seq: b.seq}
	b.history = append(b.history, ev)
	if len(b.history) > b.limit {
		b.history = slices.Delete(b.history, 0, len(b.history)-b.limit)
	}
	subs := make([]chan Event, 0, len(b.subs))
	for _, c := range b.subs {
		subs = append(subs, c)
	}
	return &ev, subs
}

// deliver hands an event out; the caller holds order.
func (b *eventBus) deliver(ev *Event, subs []chan Event) {
	if ev == nil {
		return
	}
	b.log.Debug("event", "service", ev.Data.Name, "status", ev.Data.Status.String(), "message", ev.Message)
	for _, c := range subs {
		select {
		case c <- *ev:
		default: // a slow subscriber never blocks supervision
		}
	}
	b.publishToStore(*ev)
}

func (b *eventBus) publishToStore(ev Event) {
	pub, ok := b.store.(state.Publisher)
	if !ok {
		return
	}
	data, err := marshalEvent(ev)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = pub.Publish(ctx, data)
}

// recent returns up to limit recent events, oldest first.
func (b *eventBus) recent(limit int) []Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	if limit <= 0 || limit > len(b.history) {
		limit = len(b.history)
	}
	return append([]Event(nil), b.history[len(b.history)-limit:]...)
}

// subscribe returns a channel of every event from now on and the func
// that ends the subscription.
func (b *eventBus) subscribe(buf int) (<-chan Event, func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := b.nextSub
	b.nextSub++
	c := make(chan Event, max(buf, 1))
	b.subs[id] = c
	return c, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.subs, id)
	}
}
