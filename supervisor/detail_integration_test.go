//go:build integration

package supervisor_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hostagent/hostagent/state"
	"github.com/hostagent/hostagent/supervisor"
)

// A real command check's output, redacted, its time and latency, and the
// container's name reach the service's detail.
func TestRealDetailShowsTheChecks(t *testing.T) {
	const secret = "hunter2-detail-pass"
	r := leakyCheckRig(t, secret, 3)
	sup, stop := r.run(state.NewMemory())
	defer stop()
	deadline := time.Now().Add(60 * time.Second)
	var d supervisor.ServiceDetail
	for {
		d, _ = sup.Detail("db")
		if len(d.Probes) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not 2 checks within 60s: %+v", d)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, p := range d.Probes {
		if p.Result != supervisor.ProbeFailing || !strings.HasSuffix(p.Output, "login failed with ***") || strings.Contains(p.Output, secret) || p.LatencyMS <= 0 || p.At.IsZero() {
			t.Errorf("check %+v: want failing, the password as ***, a latency and a time", p)
		}
	}
	if !strings.HasSuffix(d.ContainerName, "-db-1") || d.LastCheckAt == nil || !d.LastCheckAt.Equal(d.Probes[0].At) {
		t.Errorf("container %q, last check %v, newest probe %v", d.ContainerName, d.LastCheckAt, d.Probes[0].At)
	}
}
