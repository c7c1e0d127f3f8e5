package supervisor

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestImageUnavailableIsAConditionNotAFailure(t *testing.T) {
	h := newHarness(t, `
services:
  ai-llm: {image: "ghcr.io/x/y:1", healthcheck: {test: 'true', interval: 1s}}
  backend:
    image: x
    healthcheck: {test: 'true', interval: 1s}
    depends_on: {ai-llm: {condition: service_healthy}}
`, Config{})
	h.step = time.Second
	h.engine.setImageErr("ai-llm", fmt.Errorf("%w: ghcr.io/x/y:1: manifest unknown", errFakeImage))
	h.start()
	// The 20th refusal is counted inside the start; its retry is scheduled
	// once the runner has the result.
	h.until("20 starts refused for the image", 3*time.Hour, func() bool {
		return h.engine.ensureCount("ai-llm") >= 20 && h.status("ai-llm").NextRestartAt != nil
	})

	st := h.status("ai-llm")
	if st.FailureCount != 0 || st.Status == Disabled || !st.Enabled {
		t.Errorf("after 20 condition starts: failure_count %d, status %s, enabled %v; want 0, not disabled, enabled", st.FailureCount, st.Status, st.Enabled)
	}
	if st.Detail != "image unavailable: ghcr.io/x/y:1: manifest unknown" {
		t.Errorf("detail = %q, want the image and the registry's answer", st.Detail)
	}
	if st.NextRestartAt == nil || st.NextRestartAt.Sub(h.clock.Now()) > 300*time.Second {
		t.Errorf("next retry at %v: want one within the policy's max backoff (300s)", st.NextRestartAt)
	}
	msgs := messagesOf(h.sup.Events(0), "ai-llm")
	if n := countOf(msgs, MsgHostCondition); n != 1 {
		t.Errorf("%d %q events over 20 retries, want 1 (one per change): %q", n, MsgHostCondition, msgs)
	}
	for _, bad := range []string{MsgStartFailed, MsgRestartFailed, MsgMaxFailures, MsgRestartInitiated} {
		if slices.Contains(msgs, bad) {
			t.Errorf("event %q for a host condition: %q", bad, msgs)
		}
	}
	if h.status("backend").Status == Running || len(h.engine.startsOf("backend")) > 0 {
		t.Error("backend started although the service it needs healthy never ran")
	}
	if creates, _, _ := h.engine.counts(); creates != 0 {
		t.Errorf("%d creates without an image", creates)
	}

	// The image appears (built, loaded, registry back): the next retry
	// starts it, and its dependent follows.
	h.engine.setImageErr("ai-llm", nil)
	h.until("ai-llm running once the image exists", 10*time.Minute, h.is("ai-llm", Running))
	h.until("backend running", time.Minute, h.is("backend", Running))
	st = h.status("ai-llm")
	if st.FailureCount != 0 || st.Detail != "" {
		t.Errorf("running: failure_count %d, detail %q; want 0 and none", st.FailureCount, st.Detail)
	}
}

func TestConditionThenFailureCountsOnlyTheFailure(t *testing.T) {
	h := newHarness(t, `
services:
  web: {image: x, healthcheck: {test: 'true', interval: 1s}}
`, Config{})
	h.step = time.Second
	h.engine.setImageErr("web", fmt.Errorf("%w: x: no registry", errFakeImage))
	h.start()
	h.until("3 condition starts", time.Hour, func() bool { return h.engine.ensureCount("web") >= 3 })
	h.engine.setImageErr("web", nil)
	h.engine.mu.Lock()
	h.engine.crash["web"] = true
	h.engine.mu.Unlock()
	h.until("a real failure", 10*time.Minute, func() bool { return h.status("web").FailureCount >= 1 })
	st := h.status("web")
	if st.FailureCount != 1 || strings.Contains(st.Detail, "image unavailable") {
		t.Errorf("after 3 conditions and 1 crash: failure_count %d, detail %q; want 1 and the crash", st.FailureCount, st.Detail)
	}
}

// An engine that cannot be reached says nothing about whether a container
// exists: the agent must not create a second one beside it.
func TestUnreachableEngineDoesNotLeadToACreate(t *testing.T) {
	h := newHarness(t, `
services:
  web: {image: x, healthcheck: {test: 'true', interval: 1s}}
`, Config{})
	h.step = time.Second
	if _, err := h.engine.Create(t.Context(), h.stack, &h.stack.Services[0]); err != nil {
		t.Fatal(err)
	}
	h.engine.setHostErr(fmt.Errorf("start container: %w: dial unix /run/podman/podman.sock: connection refused", errFakeUnreachable))
	h.start()
	h.until("the start refused twice", time.Hour, func() bool {
		return strings.Contains(h.status("web").Detail, "engine unavailable") && h.status("web").NextRestartAt != nil
	})
	if creates, _, _ := h.engine.counts(); creates != 1 {
		t.Errorf("%d creates while the engine was unreachable, want the 1 container only", creates)
	}
	if st := h.status("web"); st.FailureCount != 0 {
		t.Errorf("failure_count %d for an unreachable engine, want 0", st.FailureCount)
	}
	h.engine.setHostErr(nil)
	h.until("web running in its own container", 10*time.Minute, h.is("web", Running))
	if creates, _, _ := h.engine.counts(); creates != 1 {
		t.Errorf("%d creates, want 1: the existing container is started", creates)
	}
}

func countOf(ss []string, s string) int {
	n := 0
	for _, x := range ss {
		if x == s {
			n++
		}
	}
	return n
}

func TestPullProgressShowsInStatus(t *testing.T) {
	h := newHarness(t, `
services:
  web: {image: "x/web:1", healthcheck: {test: 'true', interval: 1s}}
`, Config{})
	release := make(chan struct{})
	h.engine.imageBlock = release
	h.start()
	h.until("the pull shown", time.Minute, func() bool { return h.status("web").Detail == "pulling image x/web:1" })
	close(release)
	h.until("running", time.Minute, h.is("web", Running))
	if d := h.status("web").Detail; d != "" {
		t.Errorf("detail after the start = %q, want none", d)
	}
}

// A reload whose new image cannot be had leaves the outdated container
// serving, and recreates it once the image is there.
func TestRecreateWaitsForItsImageWithoutStoppingTheOldContainer(t *testing.T) {
	h := newHarness(t, `
services:
  api: {image: "app:1", healthcheck: {test: 'true', interval: 1s}}
`, Config{})
	h.step = time.Second
	h.start()
	h.until("running", time.Minute, h.is("api", Running))
	oldID := h.engine.containerOf("api")

	st, plan := loadStack(t, `
services:
  api: {image: "app:2", healthcheck: {test: 'true', interval: 1s}}
`)
	st.Name = h.stack.Name
	plan.Project = st.Name
	h.engine.setImageErr("api", fmt.Errorf("%w: app:2: not found", errFakeImage))
	if err := h.sup.Reload(t.Context(), st, plan); err != nil {
		t.Fatal(err)
	}
	h.until("3 tries for app:2", time.Hour, func() bool { return h.engine.ensureCount("api") >= 4 })
	api := h.status("api")
	if api.Status != Running || h.engine.containerOf("api") != oldID || api.FailureCount != 0 || !strings.Contains(api.Detail, "app:2") {
		t.Errorf("while app:2 is missing: %s container %s (was %s), failures %d, detail %q; want the old one running, the image named",
			api.Status, h.engine.containerOf("api"), oldID, api.FailureCount, api.Detail)
	}
	if n := len(h.engine.startsOf("api")); n != 1 {
		t.Errorf("the old container was restarted %d times while waiting for the new image", n-1)
	}
	h.engine.setImageErr("api", nil)
	h.until("recreated", 10*time.Minute, func() bool {
		s := h.status("api")
		return s.Status == Running && h.engine.containerOf("api") != oldID
	})
	if c, _ := h.engine.Inspect(t.Context(), oldID); c.ID != "" {
		t.Error("the outdated container was not removed")
	}
	// The event follows the container change; give it its turn.
	h.until("the recreated event", time.Minute, func() bool {
		return slices.Contains(messagesOf(h.sup.Events(0), "api"), MsgRecreated)
	})
}
