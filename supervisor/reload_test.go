package supervisor

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestReloadAddsRemovesAndRecreates(t *testing.T) {
	h := newHarness(t, `
services:
  db: {image: postgres, healthcheck: {test: 'true', interval: 1s}}
  api: {image: app:1, healthcheck: {test: 'true', interval: 1s}, depends_on: {db: {condition: service_healthy}}}
  old: {image: x, healthcheck: {test: 'true', interval: 1s}}
`, Config{})
	h.start()
	h.until("all running", time.Minute, h.allRunning)
	dbID := h.status("db").ContainerID
	oldCtr := h.engine.byService["old"]

	st, plan := loadStack(t, `
services:
  db: {image: postgres, healthcheck: {test: 'true', interval: 1s}}
  api: {image: app:2, healthcheck: {test: 'true', interval: 1s}, depends_on: {db: {condition: service_healthy}}}
  extra: {image: x, healthcheck: {test: 'true', interval: 1s}, depends_on: {db: {condition: service_healthy}}}
`)
	st.Name = h.stack.Name
	plan.Project = st.Name
	h.health.set("extra", true)
	if err := h.sup.Reload(context.Background(), st, plan); err != nil {
		t.Fatal(err)
	}
	h.until("extra running, api recreated", time.Minute, func() bool {
		e, ok := h.sup.Service("extra")
		return ok && e.Status == Running && h.status("api").Status == Running && len(h.engine.startsOf("api")) == 2
	})
	if _, ok := h.sup.Service("old"); ok {
		t.Error("old is still supervised after it left the compose file")
	}
	if c, _ := h.engine.Inspect(context.Background(), oldCtr); c.Running {
		t.Error("old's container still runs after reload")
	}
	if got := h.status("db").ContainerID; got != dbID {
		t.Errorf("db container changed from %s to %s on reload", dbID, got)
	}
	if n := len(h.engine.startsOf("db")); n != 1 {
		t.Errorf("db restarted by a reload that did not change it (%d starts)", n)
	}
	api := h.status("api")
	if api.RestartCount != 0 || api.FailureCount != 0 {
		t.Errorf("recreating api counted as a restart or failure: %+v", api)
	}
	if !slices.Contains(messagesOf(h.sup.Events(0), "api"), "Service recreated") {
		t.Errorf("no Service recreated event for api: %v", messagesOf(h.sup.Events(0), "api"))
	}
	var names []string
	for _, s := range h.sup.Services() {
		names = append(names, s.Name)
	}
	if !slices.Equal(names, []string{"db", "api", "extra"}) {
		t.Errorf("services after reload = %v", names)
	}
}
