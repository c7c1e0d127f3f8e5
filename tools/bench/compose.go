package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hostagent/hostagent/engine"
	"github.com/hostagent/hostagent/internal/testsupport/podmantest"
)

// composeBin is Docker Compose v5 as mk/compose.mk builds it (the Makefile
// exports HOSTAGENT_COMPOSE_BIN); "" when it is missing.
func composeBin() string {
	if p := os.Getenv("HOSTAGENT_COMPOSE_BIN"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
		return ""
	}
	matches, _ := filepath.Glob(filepath.Join(".build", "tools", "compose-*", "docker-compose"))
	if len(matches) == 0 {
		return ""
	}
	return matches[len(matches)-1]
}

// nineInterval is the health-check interval nineStack writes.
const nineInterval = 10 * time.Second

// composeOnce brings the 9-service stack up with `docker-compose up -d
// --wait` on the private Podman and returns launch → every service's
// first 200 as the independent poller saw it (s), and launch → Compose's
// own exit (s).
func composeOnce(ctx context.Context, bin string, pm *podmantest.Service, i int) (span, exited float64, err error) {
	portBase, err := freePorts(len(nineServices))
	if err != nil {
		return 0, 0, err
	}
	dir, err := filepath.Abs(filepath.Join(".build", "bench", fmt.Sprintf("compose%d", i)))
	if err != nil {
		return 0, 0, err
	}
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, 0, err
	}
	project := fmt.Sprintf("hab-compose%d", i)
	file := filepath.Join(dir, "docker-compose.yml")
	if err := os.WriteFile(file, []byte("name: "+project+"\n"+nineStack(portBase)), 0o644); err != nil {
		return 0, 0, err
	}
	_ = pm.Cleanup(ctx, project)
	defer func() { _ = pm.Cleanup(context.WithoutCancel(ctx), project) }()

	c, err := engine.New(engine.Options{Host: pm.URL()})
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	hcCtx, stopHC := context.WithCancel(ctx)
	var hcWG sync.WaitGroup
	hcWG.Add(1)
	go func() { defer hcWG.Done(); runHealthTimers(hcCtx, c, pm, project, nineInterval) }()
	defer func() { stopHC(); hcWG.Wait() }()

	logs, err := os.Create(filepath.Join(dir, "compose.log"))
	if err != nil {
		return 0, 0, err
	}
	defer logs.Close()
	cmd := exec.CommandContext(ctx, bin, "-f", file, "up", "-d", "--wait", "--wait-timeout", "180")
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+pm.URL(), "COMPOSE_PROGRESS=plain", "COMPOSE_MENU=false")
	cmd.Stdout, cmd.Stderr = logs, logs
	// The poller's agent stand-in: it only needs the exit channel.
	a := &agent{exited: make(chan error, 1), dir: dir, logPath: logs.Name()}
	a.launched = time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	done := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		if err != nil {
			a.exited <- fmt.Errorf("docker-compose up: %w", err)
		}
		done <- err
	}()
	seen, err := pollFirst200(ctx, a, portBase, 3*time.Minute)
	if err != nil {
		return 0, 0, fmt.Errorf("compose: %w (compose log %s)", err, logs.Name())
	}
	var last time.Time
	for _, t := range seen {
		if t.After(last) {
			last = t
		}
	}
	if err := <-done; err != nil {
		return 0, 0, fmt.Errorf("docker-compose up: %w (log %s)", err, logs.Name())
	}
	exited = time.Since(a.launched).Seconds()
	down := exec.CommandContext(ctx, bin, "-f", file, "down", "-t", "0")
	down.Env = cmd.Env
	down.Stdout, down.Stderr = logs, logs
	_ = down.Run()
	return last.Sub(a.launched).Seconds(), exited, nil
}

// runHealthTimers runs `podman healthcheck run` for each of the project's
// containers as Podman 4.3 has systemd do it: at container start it
// creates a transient timer (`systemd-run --unit ID --on-unit-inactive=
// INTERVAL --timer-property=AccuracySec=1s podman healthcheck run ID`) and
// starts its service unit at once, so the first check runs as the
// container starts and each next one an interval after the last ended.
// Without systemd Podman creates no timer and no check ever runs, so
// Compose's service_healthy would wait forever. Here the first check runs
// when the poll (every 100 ms) finds the container running, and the
// timers fire on time; systemd's AccuracySec=1s may fire them up to 1 s
// later, which would only slow Compose.
func runHealthTimers(ctx context.Context, c *engine.Client, pm *podmantest.Service, project string, interval time.Duration) {
	timed := map[engine.ContainerID]bool{}
	var wg sync.WaitGroup
	defer wg.Wait()
	for ctx.Err() == nil {
		list, _ := c.List(ctx, project)
		for _, ctr := range list {
			if timed[ctr.ID] || !ctr.State.Running {
				continue
			}
			full, err := c.Inspect(ctx, ctr.ID)
			if err != nil || full.State.StartedAt.IsZero() {
				continue
			}
			timed[ctr.ID] = true
			wg.Add(1)
			go func(id engine.ContainerID, next time.Time) {
				defer wg.Done()
				for {
					select {
					case <-ctx.Done():
						return
					case <-time.After(time.Until(next)):
					}
					_, _ = pm.Podman(ctx, "healthcheck", "run", string(id))
					next = time.Now().Add(interval)
				}
			}(ctr.ID, full.State.StartedAt)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// composeVersion is what the binary says it is ("v5.6.0").
func composeVersion(bin string) string {
	if bin == "" {
		return "v5"
	}
	out, err := exec.Command(bin, "version", "--short").Output()
	if err != nil {
		return "v5"
	}
	return "v" + strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
}
