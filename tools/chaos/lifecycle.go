package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// jobDir is where the one-shot job records its runs (bind-mounted).
func (c *chaos) jobDir() string { return filepath.Join(c.out, "job") }

// checkLifecycle is the verdict on compose's restart semantics after the
// faults: the one-shot job ran exactly once and reads as completed, and the
// `restart: "no"` service, killed now, stays down.
func (c *chaos) checkLifecycle(ctx context.Context) {
	data, err := os.ReadFile(filepath.Join(c.jobDir(), "runs"))
	if runs := strings.Count(string(data), "run\n"); err != nil || runs != 1 {
		c.violate("one-shot job %s ran %d times (%v), want exactly once through every fault", jobName, runs, err)
	}
	ss, err := services(ctx)
	if err != nil {
		c.violate("lifecycle check: %v", err)
		return
	}
	if j := ss[jobName]; j.FailureCount != 0 || !strings.Contains(j.Detail, "completed (exit 0)") {
		c.violate("one-shot job %s: status %s, failures %d, detail %q; want completed (exit 0) and no failure", jobName, j.Status, j.FailureCount, j.Detail)
	}
	before := ss[noRestart]
	if before.Status != "running" {
		c.violate("%s (restart: no) is %s before its kill, want running", noRestart, before.Status)
		return
	}
	c.say("lifecycle: %s ran once; killing %s (restart: no), which must stay down", jobName, noRestart)
	if _, err := c.pm.Podman(ctx, "kill", containerName(noRestart)); err != nil {
		c.violate("kill %s: %v", noRestart, err)
		return
	}
	time.Sleep(5 * time.Second)
	after, err := services(ctx)
	if err != nil {
		c.violate("lifecycle check: %v", err)
		return
	}
	if s := after[noRestart]; s.Status == "running" || s.Status == "starting" || s.RestartCount != before.RestartCount {
		c.violate("%s (restart: no) after a kill: %s, restarts %d (were %d); want it left down", noRestart, s.Status, s.RestartCount, before.RestartCount)
	}
	if out, _ := c.pm.Podman(ctx, "inspect", "-f", "{{.State.Running}}", containerName(noRestart)); strings.TrimSpace(out) != "false" {
		c.violate("%s (restart: no): container running=%s 5 s after its kill, want it down", noRestart, strings.TrimSpace(out))
	}
}
