package engine

import (
	"context"
	"fmt"
	"io"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"

	"github.com/hostagent/hostagent/internal/clock"
)

func msg(action string, nano int64, attrs map[string]string) events.Message {
	return events.Message{Type: events.ContainerEventType, Action: events.Action(action),
		Actor: events.Actor{ID: "c0ffee", Attributes: attrs}, Time: nano / 1e9, TimeNano: nano}
}

func TestNormalize(t *testing.T) {
	labels := func(extra map[string]string) map[string]string {
		m := map[string]string{"name": "p-web-1", LabelProject: "p", LabelService: "web", "containerExitCode": "0", "image": "x"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name string
		in   events.Message
		want Event
		ok   bool
	}{
		{"podman die carries exitCode", msg("die", 5e9, labels(map[string]string{"exitCode": "137", "containerExitCode": "137"})), Event{Kind: EventDie, ExitCode: 137}, true},
		{"podman died", msg("died", 5e9, labels(map[string]string{"containerExitCode": "3"})), Event{Kind: EventDie, ExitCode: 3}, true},
		{"docker die", msg("die", 5e9, map[string]string{"name": "p-web-1", LabelProject: "p", LabelService: "web", "exitCode": "1"}), Event{Kind: EventDie, ExitCode: 1}, true},
		{"start ignores containerExitCode", msg("start", 5e9, labels(nil)), Event{Kind: EventStart}, true},
		{"kill signal", msg("kill", 5e9, labels(map[string]string{"signal": "9"})), Event{Kind: EventKill, Signal: "9"}, true},
		{"podman remove is destroy", msg("remove", 5e9, labels(nil)), Event{Kind: EventDestroy}, true},
		{"docker destroy", msg("destroy", 5e9, labels(nil)), Event{Kind: EventDestroy}, true},
		{"docker health", msg("health_status: unhealthy", 5e9, labels(nil)), Event{Kind: EventHealth, Health: "unhealthy"}, true},
		{"podman bare health", msg("health_status", 5e9, labels(nil)), Event{Kind: EventHealth}, true},
		{"podman bare health with attribute", msg("health_status", 5e9, labels(map[string]string{"health_status": "healthy"})), Event{Kind: EventHealth, Health: "healthy"}, true},
		{"oom", msg("oom", 5e9, labels(nil)), Event{Kind: EventOOM}, true},
		{"restart", msg("restart", 5e9, labels(nil)), Event{Kind: EventRestart}, true},
		{"stop", msg("stop", 5e9, labels(nil)), Event{Kind: EventStop}, true},
		{"create", msg("create", 5e9, labels(nil)), Event{Kind: EventCreate}, true},
		{"pause", msg("pause", 5e9, labels(nil)), Event{Kind: EventPause}, true},
		{"podman init dropped", msg("init", 5e9, labels(nil)), Event{}, false},
		{"podman cleanup dropped", msg("cleanup", 5e9, labels(nil)), Event{}, false},
		{"docker exec_start dropped", msg("exec_start: sh -c true", 5e9, labels(nil)), Event{}, false},
		{"image event dropped", events.Message{Type: events.ImageEventType, Action: "pull"}, Event{}, false},
		// Old engines send only the deprecated Status and ID fields.
		{"old engine status only", events.Message{Status: "start", ID: "c0ffee", TimeNano: 5e9}, Event{Kind: EventStart}, true}, //nolint:staticcheck // the deprecated fields are what is tested

	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := normalize(tc.in)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if got.Kind != tc.want.Kind || got.ExitCode != tc.want.ExitCode || got.Signal != tc.want.Signal || got.Health != tc.want.Health {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if got.ID != "c0ffee" || !got.Time.Equal(time.Unix(5, 0)) {
				t.Errorf("id/time = %s %s", got.ID, got.Time)
			}
			if tc.in.Actor.Attributes[LabelService] == "web" && (got.Service != "web" || got.Project != "p" || got.Name != "p-web-1") {
				t.Errorf("labels not carried: %+v", got)
			}
		})
	}
}

func TestCursorDropsRepeatsAtTheBoundary(t *testing.T) {
	cur := &cursor{since: time.Unix(10, 0)}
	at := func(sec float64) Event { return Event{Time: time.Unix(0, int64(sec*1e9))} }
	steps := []struct {
		ev   Event
		key  string
		seen bool
	}{
		{at(9), "start/a", true},   // before the subscription
		{at(11), "start/a", false}, // new
		{at(11), "die/a", false},   // same instant, other event
		{at(11), "start/a", true},  // replayed after resubscribing with since=11
		{at(12), "die/a", false},
		{at(11.5), "kill/a", true}, // older than what was delivered
	}
	for i, s := range steps {
		if got := cur.seen(s.ev, s.key); got != s.seen {
			t.Errorf("step %d (%s at %s): seen = %v, want %v", i, s.key, s.ev.Time, got, s.seen)
		}
	}
}

func unreachable() error { return fmt.Errorf("dial unix: %w", syscall.ECONNREFUSED) }

func TestEventsResubscribeAndResync(t *testing.T) {
	fc := clock.NewFake(time.Unix(1000, 0))
	fa := &fakeAPI{subs: make(chan fakeSub), list: []container.Summary{
		{ID: "c0ffee", Names: []string{"/p-web-1"}, State: "running", Labels: map[string]string{LabelProject: "p", LabelService: "web"}},
		{ID: "other", Names: []string{"/q-web-1"}, State: "running", Labels: map[string]string{LabelProject: "q"}},
		{ID: "adopted", Names: []string{"p_cache_1"}, State: "exited"},
	}}
	log, rec := newLogRecorder(t)
	c := newClient(fa, Options{Clock: fc, Logger: log, ReconnectMin: time.Second, EventPing: -1})
	c.adopted.set("adopted", "p", "cache")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	evs := c.Events(ctx, "p")

	sub := <-fa.subs
	// Another project's event is dropped; an adopted container's
	// unlabelled event is attributed to its service.
	sub.msgs <- msg("start", 1000_100_000_000, map[string]string{"name": "q-web-1", LabelProject: "q"})
	adopted := msg("die", 1000_200_000_000, map[string]string{"name": "p_cache_1", "exitCode": "1"})
	adopted.Actor.ID = "adopted"
	sub.msgs <- adopted
	if e := <-evs; e.Kind != EventDie || e.Service != "cache" || e.Project != "p" {
		t.Fatalf("adopted container's event = %+v, want die of cache", e)
	}
	sub.msgs <- msg("start", 1000_500_000_000, map[string]string{"name": "p-web-1", LabelProject: "p"})
	if e := <-evs; e.Kind != EventStart || e.Replayed {
		t.Fatalf("first event = %+v", e)
	}
	// The API service goes away; the first reconnect attempt fails.
	fa.mu.Lock()
	fa.pingErrs = []error{unreachable()}
	fa.mu.Unlock()
	sub.errs <- io.ErrUnexpectedEOF
	fc.BlockUntil(1) // Connect waits out its backoff
	if rec.count("Failed to connect to Docker daemon") == 0 {
		t.Error("the connection failure line was not logged while the engine was away")
	}
	fc.Advance(time.Second)

	sub = <-fa.subs
	e := <-evs
	if e.Kind != EventResync || e.Project != "p" {
		t.Fatalf("after reconnect got %+v, want EventResync first", e)
	}
	var snap []string
	for _, ctr := range e.Snapshot {
		snap = append(snap, ctr.Name+"/"+ctr.Service)
	}
	if !slices.Equal(snap, []string{"p-web-1/web", "p_cache_1/cache"}) {
		t.Errorf("resync snapshot = %v, want the project's labelled and adopted containers", snap)
	}
	fa.mu.Lock()
	since := fa.sinces[len(fa.sinces)-1]
	fa.mu.Unlock()
	if want := time.Unix(1000, 500_000_000).UTC().Format(time.RFC3339Nano); since != want {
		t.Errorf("resubscribed since %s, want the last event's time %s", since, want)
	}
	// The engine replays from `since`: the start again (dropped), the die
	// that happened during the outage (replayed), then a live event.
	sub.msgs <- msg("start", 1000_500_000_000, map[string]string{"name": "p-web-1", LabelProject: "p"})
	sub.msgs <- msg("die", 1000_800_000_000, map[string]string{"name": "p-web-1", LabelProject: "p", "exitCode": "137"})
	sub.msgs <- msg("start", 1002_000_000_000, map[string]string{"name": "p-web-1", LabelProject: "p"})
	if e := <-evs; e.Kind != EventDie || !e.Replayed || e.ExitCode != 137 {
		t.Errorf("outage die = %+v, want replayed die 137", e)
	}
	if e := <-evs; e.Kind != EventStart || e.Replayed {
		t.Errorf("live start = %+v, want not replayed", e)
	}
	if rec.count("Connected to Docker daemon") == 0 {
		t.Error("reconnection not logged")
	}
	cancel()
	for range evs {
	}
}

func TestEventsWatchdogNoticesHungStream(t *testing.T) {
	fc := clock.NewFake(time.Unix(1000, 0))
	fa := &fakeAPI{subs: make(chan fakeSub)}
	log, _ := newLogRecorder(t)
	c := newClient(fa, Options{Clock: fc, Logger: log, ReconnectMin: time.Second, EventPing: 5 * time.Second})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	evs := c.Events(ctx, "p")
	<-fa.subs // a stream that never says anything again
	fc.BlockUntil(1)
	fa.mu.Lock()
	fa.pingErrs = []error{unreachable()}
	fa.mu.Unlock()
	fc.Advance(5 * time.Second) // watchdog ping fails: stream abandoned
	fc.BlockUntil(1)            // reconnect backoff
	fc.Advance(time.Second)
	<-fa.subs
	if e := <-evs; e.Kind != EventResync {
		t.Fatalf("got %+v, want EventResync after the watchdog", e)
	}
	cancel()
	for range evs {
	}
}

func TestConnectBacksOff(t *testing.T) {
	fc := clock.NewFake(time.Unix(0, 0))
	fa := &fakeAPI{pingErrs: []error{unreachable(), unreachable(), unreachable()}}
	log, rec := newLogRecorder(t)
	c := newClient(fa, Options{Clock: fc, Logger: log, ReconnectMin: time.Second, ReconnectMax: 3 * time.Second})
	done := make(chan error, 1)
	go func() { done <- c.Connect(t.Context()) }()
	pings := func() int {
		fa.mu.Lock()
		defer fa.mu.Unlock()
		return fa.pings
	}
	for i, wait := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second} {
		fc.BlockUntil(1)
		fc.Advance(wait - time.Millisecond)
		if pings() != i+1 {
			t.Fatalf("retry %d came before its %s backoff", i+1, wait)
		}
		fc.Advance(time.Millisecond)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := rec.count("Failed to connect to Docker daemon"); n != 3 {
		t.Errorf("failure line logged %d times, want 3 (one per failed attempt)", n)
	}
	if !c.Connected() || !c.IsPodman() || c.Version() != "Podman Engine 4.3.1 (API 1.41)" {
		t.Errorf("after connect: connected %v podman %v version %q", c.Connected(), c.IsPodman(), c.Version())
	}
}
