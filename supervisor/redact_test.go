package supervisor

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hostagent/hostagent/compose"
)

// leakyProber fails with output that carries a secret, as a CMD-SHELL check
// echoing $POSTGRES_PASSWORD would.
type leakyProber struct {
	fakeProber
	out string
}

func (p leakyProber) Probe(ctx context.Context, id string) ProbeResult {
	r := p.fakeProber.Probe(ctx, id)
	if !r.Healthy && r.Err == nil {
		r.Output = p.out
	}
	return r
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// A failed check's output reaches the status detail, the events (and so the
// WebSocket) and the journal with the stack's secret values hidden.
func TestProbeOutputIsRedactedBeforePublish(t *testing.T) {
	const secret = "hunter2-db-password"
	h := newHarness(t, `
services:
  db:
    image: x
    environment: {POSTGRES_PASSWORD: `+secret+`}
    healthcheck: {test: 'true', interval: 1s, retries: 1, start_period: 1s}
    x-hostagent: {restart: {backoff_base: 1h}}
`, Config{})
	var journal syncBuffer
	h.sup = New(h.stack, h.plan, Config{}, Deps{
		Engine: h.engine,
		Probes: func(svc *compose.Service) Prober {
			return leakyProber{fakeProber{health: h.health, engine: h.engine, service: svc.Name},
				"psql: FATAL: password authentication failed (tried " + secret + ")"}
		},
		Store:  h.store,
		Clock:  h.clock,
		Logger: slog.New(slog.NewTextHandler(&journal, nil)),
	})
	h.health.set("db", false)
	h.start()
	// UNHEALTHY, not only a detail: the start's pull progress is one too.
	h.until("db unhealthy", time.Minute, h.is("db", Unhealthy))

	if d := h.status("db").Detail; strings.Contains(d, secret) || !strings.Contains(d, "(tried ***)") {
		t.Errorf("status detail = %q, want the password as ***", d)
	}
	for _, ev := range h.sup.Events(100) {
		if strings.Contains(ev.Data.Detail, secret) {
			t.Errorf("event %q leaks the secret: %q", ev.Message, ev.Data.Detail)
		}
	}
	if j := journal.String(); strings.Contains(j, secret) || !strings.Contains(j, "***") {
		t.Errorf("journal leaks the secret or lacks the failed check:\n%s", j)
	}
}
