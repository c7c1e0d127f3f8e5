//go:build integration

package supervisor_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hostagent/hostagent/internal/testsupport/podmantest"
	"github.com/hostagent/hostagent/supervisor"
)

// A `build:` service with no image is built and runs; a service whose
// image cannot be pulled waits in a status that names the image, retried,
// never disabled however often it is tried.
func TestRealBuildAndUnpullableImage(t *testing.T) {
	rig := newRealRig(t, fmt.Sprintf(`
services:
  built:
    build: ./app
    healthcheck: {test: ['CMD-SHELL', 'test -f /tmp/healthy && test -f /marker'], interval: 1s, timeout: 2s, retries: 2}
    x-hostagent: {restart: {max_failures: 2, backoff_base: 200ms, backoff_max: 1s}}
  ghost:
    image: registry.invalid/hostagent/nope:1
    x-hostagent: {restart: {max_failures: 2, backoff_base: 200ms, backoff_max: 500ms}}
  after:
    image: %s
    healthcheck: {test: ['CMD-SHELL', 'test -f /tmp/healthy'], interval: 1s, timeout: 2s, retries: 2}
    depends_on: {built: {condition: service_healthy}}
`, podmantest.TestsvcImage))
	app := filepath.Join(rig.stack.WorkingDir, "app")
	if err := os.MkdirAll(app, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{
		"Dockerfile": "FROM " + podmantest.TestsvcImage + "\nCOPY marker /marker\n",
		"marker":     "built\n",
	} {
		if err := os.WriteFile(filepath.Join(app, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _, _ = rig.pm.Podman(context.WithoutCancel(t.Context()), "rmi", "-f", rig.project+"-built") })

	sup, _ := rig.run(nil)
	waitReal(t, sup, "the built service and its dependent running", 90*time.Second, func() bool {
		return statusOf(sup, "built").Status == supervisor.Running && statusOf(sup, "after").Status == supervisor.Running
	})
	if out, err := rig.pm.Podman(t.Context(), "image", "exists", rig.project+"-built"); err != nil {
		t.Errorf("image %s-built (compose's name) absent: %v %s", rig.project, err, out)
	}

	// ghost has been tried many times by now (backoff ≤ 500ms); max_failures
	// 2 would have disabled it after three failed starts.
	waitReal(t, sup, "ghost's condition reported", 30*time.Second, func() bool {
		return strings.Contains(statusOf(sup, "ghost").Detail, "registry.invalid/hostagent/nope:1")
	})
	time.Sleep(3 * time.Second)
	g := statusOf(sup, "ghost")
	if g.Status == supervisor.Disabled || !g.Enabled || g.FailureCount != 0 {
		t.Errorf("ghost = %s, enabled %v, failure_count %d; want not disabled, 0 failures", g.Status, g.Enabled, g.FailureCount)
	}
	if !strings.HasPrefix(g.Detail, "image unavailable: registry.invalid/hostagent/nope:1: ") || !strings.Contains(g.Detail, "registry.invalid") {
		t.Errorf("ghost detail = %q, want the image and the registry's answer", g.Detail)
	}
	msgs := messagesOf(sup.Events(0), "ghost")
	n := 0
	for _, m := range msgs {
		if m == supervisor.MsgHostCondition {
			n++
		}
	}
	if n != 1 {
		t.Errorf("ghost events %q: want one %q", msgs, supervisor.MsgHostCondition)
	}
	t.Logf("ghost: %s", g.Detail)
}
