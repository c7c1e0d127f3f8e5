//go:build integration

package probes

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/engine"
	"github.com/hostagent/hostagent/internal/testsupport/podmantest"
)

func TestMain(m *testing.M) { os.Exit(podmantest.Main(m)) }

func TestIntegrationProbesAgainstPodman(t *testing.T) {
	pm := podmantest.Shared(t)
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	project := "hap" + hex.EncodeToString(b)
	t.Cleanup(func() { _ = pm.Cleanup(context.Background(), project) })
	ctx := t.Context()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	st, err := podmantest.LoadStack(ctx, t.TempDir(), project, fmt.Sprintf(`
services:
  web:
    image: %s
    ports: ["127.0.0.1:%d:8080"]
    healthcheck: {test: ["CMD-SHELL", "test -f /tmp/healthy"], timeout: 2s}
`, podmantest.TestsvcImage, port))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Options{Host: pm.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	id, err := eng.Create(ctx, st, "web")
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	web, _ := st.Service("web")
	httpProbe, _ := ForSpec(compose.HealthSpec{Method: compose.HealthHTTP, URL: base + "/health", Timeout: 2 * time.Second}, eng, 0, nil)
	cmdProbe, err := ForSpec(web.Health, eng, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	runProbe, _ := ForSpec(compose.HealthSpec{Method: compose.HealthRunning}, eng, 2*time.Second, nil)

	// Healthy on all three, once the service listens.
	deadline := time.Now().Add(10 * time.Second)
	for r := httpProbe.Probe(ctx, id); !r.Healthy(); r = httpProbe.Probe(ctx, id) {
		if time.Now().After(deadline) {
			t.Fatalf("http probe never healthy: %s", r)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for name, p := range map[string]Prober{"http": httpProbe, "command": cmdProbe, "running": runProbe} {
		r := p.Probe(ctx, id)
		t.Logf("%s: %s", name, r)
		if !r.Healthy() {
			t.Errorf("%s probe of a healthy service: %s", name, r)
		}
	}

	// /fail: HTTP and the CMD-SHELL check fail (count toward retries),
	// the container still runs.
	resp, err := http.Get(base + "/fail")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if r := httpProbe.Probe(ctx, id); r.Outcome != Failure || r.Detail != "HTTP 503: unhealthy" {
		t.Errorf("http after /fail = %s, want failure HTTP 503", r)
	}
	if r := cmdProbe.Probe(ctx, id); r.Outcome != Failure || r.Detail != "exit 1" {
		t.Errorf("command after /fail = %s, want failure exit 1", r)
	}
	if r := runProbe.Probe(ctx, id); !r.Healthy() {
		t.Errorf("running after /fail = %s", r)
	}

	// A closed port is an error, not a failure.
	closed, _ := ForSpec(compose.HealthSpec{Method: compose.HealthHTTP, URL: fmt.Sprintf("http://127.0.0.1:%d/health", freeish(t)), Timeout: time.Second}, eng, 0, nil)
	if r := closed.Probe(ctx, id); r.Outcome != Error {
		t.Errorf("closed port = %s, want error", r)
	}

	// Stopped: running fails, the exec cannot be made (error), the
	// published port refuses (error).
	if err := eng.Stop(ctx, id, time.Second); err != nil {
		t.Fatal(err)
	}
	if r := runProbe.Probe(ctx, id); r.Outcome != Failure {
		t.Errorf("running on a stopped container = %s, want failure", r)
	}
	if r := cmdProbe.Probe(ctx, id); r.Outcome != Error {
		t.Errorf("command on a stopped container = %s, want error", r)
	}
	if r := httpProbe.Probe(ctx, id); r.Outcome != Error {
		t.Errorf("http on a stopped container = %s, want error", r)
	}
	// Removed: every container probe is an error.
	if err := eng.Remove(ctx, id, true); err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]Prober{"command": cmdProbe, "running": runProbe} {
		if r := p.Probe(ctx, id); r.Outcome != Error {
			t.Errorf("%s on a removed container = %s, want error", name, r)
		}
	}
}

func freeish(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
