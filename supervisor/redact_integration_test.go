//go:build integration

package supervisor_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hostagent/hostagent/internal/testsupport/podmantest"
	"github.com/hostagent/hostagent/state"
)

// leakyCheckRig runs db, whose failing CMD-SHELL check prints the password
// the container got from the compose file, failing after retries checks.
func leakyCheckRig(t *testing.T, secret string, retries int) *realRig {
	return newRealRig(t, fmt.Sprintf(`
services:
  db:
    image: %s
    environment: {POSTGRES_PASSWORD: %s}
    healthcheck: {test: ['CMD-SHELL', 'echo "login failed with $$POSTGRES_PASSWORD"; exit 1'], interval: 1s, timeout: 5s, retries: %d, start_period: 1s}
    x-hostagent: {restart: {backoff_base: 1h}}
`, podmantest.TestsvcImage, secret, retries))
}

// A real CMD-SHELL check prints the password the container got from the
// compose file; the detail every reader sees has it as ***.
func TestRealProbeOutputRedacted(t *testing.T) {
	const secret = "hunter2-real-db-pass"
	r := leakyCheckRig(t, secret, 1)
	sup, stop := r.run(state.NewMemory())
	defer stop()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, _ := sup.Service("db")
		if st.Detail != "" {
			if strings.Contains(st.Detail, secret) || !strings.Contains(st.Detail, "login failed with ***") {
				t.Fatalf("detail %q: want the password as ***", st.Detail)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed check within 60s: %+v", st)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, ev := range sup.Events(100) {
		if strings.Contains(ev.Data.Detail, secret) {
			t.Errorf("event %q leaks the password: %q", ev.Message, ev.Data.Detail)
		}
	}
}
