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

	"github.com/hostagent/hostagent/engine"
	"github.com/hostagent/hostagent/internal/testsupport/podmantest"
	"github.com/hostagent/hostagent/supervisor"
)

// jobYAML: db (testsvc), a busybox job that appends a line to runs in a
// bind mount and exits with code, and app waiting for it to complete.
func jobYAML(dir, restart string, code int) string {
	return fmt.Sprintf(`
services:
  db:
    image: %[1]s
    healthcheck: {test: ['CMD-SHELL', 'test -f /tmp/healthy'], interval: 1s, timeout: 2s, retries: 2}
  migrate:
    image: %[2]s
    restart: %[3]s
    command: [sh, -c, 'echo run >> /data/runs; sleep 1; exit %[4]d']
    volumes: ['%[5]s:/data']
    depends_on: {db: {condition: service_healthy}}
    x-hostagent: {restart: {backoff_base: 200ms, backoff_max: 400ms}}
  app:
    image: %[1]s
    healthcheck: {test: ['CMD-SHELL', 'test -f /tmp/healthy'], interval: 1s, timeout: 2s, retries: 2}
    depends_on: {migrate: {condition: service_completed_successfully}}
`, podmantest.TestsvcImage, podmantest.BusyboxImage, restart, code, dir)
}

func runsIn(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "runs"))
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "run\n")
}

func inspectService(t *testing.T, rig *realRig, service string) engine.Container {
	t.Helper()
	c, err := rig.client.Inspect(t.Context(), engine.ContainerID(fullID(t, rig, service)))
	if err != nil {
		t.Fatalf("inspect %s: %v", service, err)
	}
	return c
}

func TestRealOneShotJobRunsOnceAcrossAnAgentRestart(t *testing.T) {
	dir := t.TempDir()
	rig := newRealRig(t, jobYAML(dir, `"no"`, 0))
	storeDir := t.TempDir()
	store := fileStore(t, storeDir, rig.project)
	sup, stop := rig.run(store)
	waitReal(t, sup, "app running", 90*time.Second, func() bool { return statusOf(sup, "app").Status == supervisor.Running })
	time.Sleep(5 * time.Second) // room for a wrong re-run
	if n := runsIn(t, dir); n != 1 {
		t.Errorf("the job ran %d times, want once", n)
	}
	m := statusOf(sup, "migrate")
	if m.Status != supervisor.Stopped || m.Detail != supervisor.DetailCompleted || m.FailureCount != 0 {
		t.Errorf("migrate = %s %q failures %d, want stopped %q, no failure", m.Status, m.Detail, m.FailureCount, supervisor.DetailCompleted)
	}
	job, app := inspectService(t, rig, "migrate"), inspectService(t, rig, "app")
	if job.State.ExitCode != 0 || !job.State.FinishedAt.Before(app.State.StartedAt) {
		t.Errorf("job exit %d finished %s, app started %s: want exit 0, app after the job", job.State.ExitCode,
			job.State.FinishedAt.Format(time.StampMilli), app.State.StartedAt.Format(time.StampMilli))
	}

	// The agent restarts with the stack up: the job is not run again.
	stop()
	_ = store.Close()
	store2 := fileStore(t, storeDir, rig.project)
	defer store2.Close()
	sup2, _ := rig.run(store2)
	waitReal(t, sup2, "app adopted running", 30*time.Second, func() bool { return statusOf(sup2, "app").Status == supervisor.Running })
	time.Sleep(5 * time.Second)
	if n := runsIn(t, dir); n != 1 {
		t.Errorf("after an agent restart the job ran %d times in all, want once", n)
	}
	if m := statusOf(sup2, "migrate"); m.Status != supervisor.Stopped || m.Detail != supervisor.DetailCompleted {
		t.Errorf("migrate after agent restart = %s %q, want stopped %q", m.Status, m.Detail, supervisor.DetailCompleted)
	}
	if p := sup2.Progress(); !p.Done || p.Completed != 1 {
		t.Errorf("progress %s, want done with 1 completed", p)
	}
}

func TestRealFailedJobBlocksItsDependent(t *testing.T) {
	dir := t.TempDir()
	rig := newRealRig(t, jobYAML(dir, `"no"`, 3))
	sup, _ := rig.run(fileStore(t, t.TempDir(), rig.project))
	want := "migrate (failed with exit code 3)"
	waitReal(t, sup, "app blocked by the job", 90*time.Second, func() bool {
		for _, w := range statusOf(sup, "app").WaitingFor {
			if w == want {
				return true
			}
		}
		return false
	})
	time.Sleep(5 * time.Second)
	if n := runsIn(t, dir); n != 1 {
		t.Errorf("the job ran %d times, want once (restart: no)", n)
	}
	if a := statusOf(sup, "app"); a.Status != supervisor.NotFound || a.ContainerID != "" {
		t.Errorf("app = %s container %q, want never created", a.Status, a.ContainerID)
	}
	if m := statusOf(sup, "migrate"); m.Status != supervisor.Stopped || !strings.Contains(m.Detail, "code 3") {
		t.Errorf("migrate = %s %q, want stopped with the exit code", m.Status, m.Detail)
	}
}

func TestRealOnFailureTwo(t *testing.T) {
	cases := []struct {
		name   string
		code   int
		runs   int
		detail string
	}{
		{"exit 0 stays down", 0, 1, supervisor.DetailCompleted},
		{"exit 1 restarts at most twice", 1, 3, "2 restarts used"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			rig := newRealRig(t, jobYAML(dir, `"on-failure:2"`, c.code))
			sup, _ := rig.run(fileStore(t, t.TempDir(), rig.project))
			waitReal(t, sup, "job settled", 90*time.Second, func() bool {
				m := statusOf(sup, "migrate")
				return m.Status == supervisor.Stopped && strings.Contains(m.Detail, c.detail)
			})
			time.Sleep(5 * time.Second)
			if n := runsIn(t, dir); n != c.runs {
				t.Errorf("the job ran %d times, want %d", n, c.runs)
			}
			if m := statusOf(sup, "migrate"); m.Status != supervisor.Stopped || !m.Enabled {
				t.Errorf("migrate = %s enabled %v (%q), want stopped, enabled", m.Status, m.Enabled, m.Detail)
			}
		})
	}
}

func TestRealRestartNoStaysDownAfterKill(t *testing.T) {
	rig := newRealRig(t, fmt.Sprintf(`
services:
  web:
    image: %s
    restart: "no"
    healthcheck: {test: ['CMD-SHELL', 'test -f /tmp/healthy'], interval: 1s, timeout: 2s, retries: 2}
    x-hostagent: {restart: {backoff_base: 200ms}}
`, podmantest.TestsvcImage))
	sup, _ := rig.run(fileStore(t, t.TempDir(), rig.project))
	waitReal(t, sup, "web running", 60*time.Second, func() bool { return statusOf(sup, "web").Status == supervisor.Running })
	before := inspectService(t, rig, "web").State.StartedAt
	if out, err := rig.pm.Podman(t.Context(), "kill", rig.project+"-web-1"); err != nil {
		t.Fatalf("podman kill: %v %s", err, out)
	}
	waitReal(t, sup, "web stopped", 10*time.Second, func() bool { return statusOf(sup, "web").Status == supervisor.Stopped })
	time.Sleep(5 * time.Second)
	c := inspectService(t, rig, "web")
	if c.State.Running || !c.State.StartedAt.Equal(before) {
		t.Errorf("web running %v, started %s (was %s): want still down, never restarted", c.State.Running, c.State.StartedAt, before)
	}
	s := statusOf(sup, "web")
	if s.Status != supervisor.Stopped || !strings.Contains(s.Detail, "restart: no") || s.RestartCount != 0 {
		t.Errorf("web = %s %q restarts %d, want stopped with the policy named, no restart", s.Status, s.Detail, s.RestartCount)
	}
	// A manual restart still works.
	if err := sup.Restart(t.Context(), "web", false); err != nil {
		t.Fatal(err)
	}
	waitReal(t, sup, "web running after a manual restart", 30*time.Second, func() bool { return statusOf(sup, "web").Status == supervisor.Running })
}

// rebuild makes tag name a new image (another ID) that runs like testsvc.
func rebuild(t *testing.T, pm *podmantest.Service, tag, version string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Containerfile"), []byte("FROM "+podmantest.TestsvcImage+"\nLABEL version="+version+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := pm.Podman(t.Context(), "build", "--pull=never", "-q", "-t", tag, dir); err != nil {
		t.Fatalf("podman build: %v %s", err, out)
	}
}

func TestRealImageRebuiltUnderTheSameTagIsRolledOut(t *testing.T) {
	pm := podmantest.Shared(t)
	tag := fmt.Sprintf("localhost/hasup-rollout%d:latest", os.Getpid())
	rebuild(t, pm, tag, "1")
	t.Cleanup(func() { _, _ = pm.Podman(context.Background(), "rmi", "-f", tag) })
	rig := newRealRig(t, fmt.Sprintf(`
x-svc: &svc
  image: %s
  environment: {HEALTHY_AFTER: 500ms}
  healthcheck: {test: ['CMD-SHELL', 'test -f /tmp/healthy'], interval: 1s, timeout: 2s, retries: 2}
services:
  db:
    <<: *svc
    volumes: ["data:/named", "/anon"]
  api:
    <<: *svc
    depends_on: {db: {condition: service_healthy}}
volumes: {data: {}}
`, tag))
	storeDir := t.TempDir()
	store := fileStore(t, storeDir, rig.project)
	sup, stop := rig.run(store)
	waitReal(t, sup, "stack running", 60*time.Second, func() bool {
		return statusOf(sup, "db").Status == supervisor.Running && statusOf(sup, "api").Status == supervisor.Running
	})
	before := containerIDs(t, rig)
	if out, err := rig.pm.Podman(t.Context(), "exec", before["db"], "sh", "-c", "echo kept > /named/x && echo kept > /anon/x"); err != nil {
		t.Fatalf("write volumes: %v %s", err, out)
	}

	// The image is rebuilt under the same tag; a reload rolls it out.
	rebuild(t, pm, tag, "2")
	st, plan := rig.stack, rig.plan
	if err := sup.Reload(t.Context(), st, plan); err != nil {
		t.Fatal(err)
	}
	waitReal(t, sup, "both recreated and running", 90*time.Second, func() bool {
		ids := containerIDs(t, rig)
		return ids["db"] != before["db"] && ids["api"] != before["api"] &&
			runsContainer(sup, "db", ids) && runsContainer(sup, "api", ids)
	})
	checkRolledOut(t, rig, sup)

	// Rebuilt again while the agent is down: recreated at its start.
	stop()
	_ = store.Close()
	mid := containerIDs(t, rig)
	rebuild(t, pm, tag, "3")
	store2 := fileStore(t, storeDir, rig.project)
	defer store2.Close()
	sup2, _ := rig.run(store2)
	waitReal(t, sup2, "recreated at agent start", 90*time.Second, func() bool {
		ids := containerIDs(t, rig)
		return ids["db"] != mid["db"] && ids["api"] != mid["api"] &&
			runsContainer(sup2, "db", ids) && runsContainer(sup2, "api", ids)
	})
	checkRolledOut(t, rig, sup2)
}

// runsContainer: the service is RUNNING on the container the engine lists
// for it. The engine lists a recreated container as soon as it is made;
// until the recreate returns, the status is still the old container's.
func runsContainer(sup *supervisor.Supervisor, name string, ids map[string]string) bool {
	st := statusOf(sup, name)
	return st.Status == supervisor.Running && st.ContainerID != "" && strings.HasPrefix(ids[name], st.ContainerID)
}

// checkRolledOut: db was recreated and healthy before api was started, the
// volumes kept their data, and recreating counted as no restart.
func checkRolledOut(t *testing.T, rig *realRig, sup *supervisor.Supervisor) {
	t.Helper()
	ids := containerIDs(t, rig)
	for _, f := range []string{"/named/x", "/anon/x"} {
		if out, err := rig.pm.Podman(t.Context(), "exec", ids["db"], "cat", f); err != nil || strings.TrimSpace(out) != "kept" {
			t.Errorf("%s after the rollout = %q (%v), want kept", f, out, err)
		}
	}
	evs := sup.Events(0)
	var dbHealthy, apiRecreated uint64
	for _, e := range evs {
		if e.Data.Name == "db" && (e.Message == supervisor.MsgHealthy || e.Message == supervisor.MsgRecovered) && e.Seq > 0 {
			dbHealthy = e.Seq
		}
		if e.Data.Name == "api" && e.Message == supervisor.MsgRecreated && apiRecreated == 0 {
			apiRecreated = e.Seq
		}
	}
	if apiRecreated == 0 || dbHealthy == 0 || apiRecreated < dbHealthy {
		t.Errorf("api recreated at event %d, db healthy at %d: want api after db (phase order)", apiRecreated, dbHealthy)
	}
	for _, s := range []string{"db", "api"} {
		if st := statusOf(sup, s); st.RestartCount != 0 || st.FailureCount != 0 {
			t.Errorf("%s: recreating counted as restart %d / failure %d", s, st.RestartCount, st.FailureCount)
		}
	}
}
