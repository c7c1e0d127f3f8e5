//go:build integration

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/internal/testsupport/podmantest"
	"github.com/hostagent/hostagent/internal/testsupport/redistest"
)

// The real file the product exists for, unmodified.
const nemotronFile = "../../compose/testdata/nemotron/docker-compose.prod.yml"

// nemotronProject is the project name the file gets from its directory
// (it has no name: key).
const nemotronProject = "nemotron"

// nemotronCore are the services without a profile: what must run.
var nemotronCore = []string{"postgres", "redis", "ai-detector", "ai-llm", "ai-florence", "ai-clip", "ai-enrichment", "backend", "frontend"}

var nemotronAI = []string{"ai-detector", "ai-llm", "ai-florence", "ai-clip", "ai-enrichment"}

// nemotronWaits is the start order the file implies: backend's and
// frontend's depends_on, and the data infrastructure before the AI
// services (the category order; they declare no depends_on).
var nemotronWaits = map[string][]string{
	"ai-detector":   {"postgres", "redis"},
	"ai-llm":        {"postgres", "redis"},
	"ai-florence":   {"postgres", "redis"},
	"ai-clip":       {"postgres", "redis"},
	"ai-enrichment": {"postgres", "redis"},
	"backend":       {"postgres", "redis", "ai-detector", "ai-llm"},
	"frontend":      {"backend"},
}

// nemotronPorts are the host ports the file publishes (fixed in the file).
var nemotronPorts = []int{5432, 6379, 8090, 8091, 8092, 8093, 8094, 8000, 5173}

// nemotronStandins are the images the file names, played by testsvc on the
// port each service's health check asks; ai-detector and backend run as a
// non-root user, as the real images do (that is what their :U is for).
func nemotronStandins(project string) []podmantest.Standin {
	return []podmantest.Standin{
		{Image: "docker.io/library/postgres:16-alpine", Service: "postgres", Port: 5432},
		{Image: "docker.io/library/redis:7.4-alpine3.21", Service: "redis", Port: 6379},
		{Image: project + "-ai-detector", Service: "ai-detector", Port: 8090, User: "1000"},
		{Image: project + "-ai-llm", Service: "ai-llm", Port: 8091},
		{Image: project + "-ai-florence", Service: "ai-florence", Port: 8092},
		{Image: project + "-ai-clip", Service: "ai-clip", Port: 8093},
		{Image: project + "-ai-enrichment", Service: "ai-enrichment", Port: 8094},
		{Image: project + "-backend", Service: "backend", Port: 8000, User: "1000"},
		{Image: project + "-frontend", Service: "frontend", Port: 5173},
	}
}

// nemotronCDI defines nvidia.com/gpu with an environment edit only: seen
// in a container's PID 1, it proves the device was attached, without a GPU.
const nemotronCDI = `cdiVersion: "0.5.0"
kind: nvidia.com/gpu
devices:
- name: "0"
  containerEdits: {env: [NEMO_TEST_GPU=0]}
- name: all
  containerEdits: {env: [NEMO_TEST_GPU=all]}
`

const appUID = 1000

// TestNemotronFileOnPodman runs the unmodified nemotron file with the real
// agent binary: once from the file in the stack's directory, once from a
// copy elsewhere with the project directory set to the stack's directory.
func TestNemotronFileOnPodman(t *testing.T) {
	pm := podmantest.Shared(t)
	lockNemotronPorts(t, pm)
	ctx := t.Context()
	if err := pm.EnsureStandins(ctx, nemotronStandins(nemotronProject)); err != nil {
		t.Fatal(err)
	}
	podmantest.WriteCDISpec(t, "hostagent-nemotron-test", nemotronCDI)
	file, err := os.ReadFile(nemotronFile)
	if err != nil {
		t.Fatal(err)
	}
	bin := buildAgent(t)

	t.Run("file in place", func(t *testing.T) {
		stack := newNemotronStack(t, file)
		n := runNemotron(t, pm, bin, stack, filepath.Join(stack, "docker-compose.prod.yml"), "")
		n.check()
	})
	t.Run("project directory set", func(t *testing.T) {
		stack := newNemotronStack(t, file)
		// As README has it: the agent's own copy of the file, the stack
		// (.env, ./backend/data, the project name) where the user keeps it.
		etc := filepath.Join(t.TempDir(), "hostagent")
		if err := os.MkdirAll(etc, 0o755); err != nil {
			t.Fatal(err)
		}
		copied := filepath.Join(etc, "docker-compose.yml")
		if err := os.Rename(filepath.Join(stack, "docker-compose.prod.yml"), copied); err != nil {
			t.Fatal(err)
		}
		n := runNemotron(t, pm, bin, stack, copied, stack)
		n.check()
		if _, err := os.Stat(filepath.Join(etc, "backend")); err == nil {
			t.Errorf("%s/backend exists: a relative bind resolved beside the file, not in the project directory", etc)
		}
	})
}

// lockNemotronPorts holds a machine-wide lock for the file's fixed host
// ports until the test ends, removes what an earlier, killed run left, and
// fails if something else has one of the ports.
func lockNemotronPorts(t *testing.T, pm *podmantest.Service) {
	t.Helper()
	lock, err := os.OpenFile("/run/lock/hostagent-nemotron-ports.lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close() })
	if err := pm.Cleanup(t.Context(), nemotronProject); err != nil {
		t.Logf("cleanup: %v", err)
	}
	for _, p := range nemotronPorts {
		l, err := net.Listen("tcp", fmt.Sprintf(":%d", p))
		if err != nil {
			t.Fatalf("host port %d is taken (%v): the nemotron file publishes fixed ports %v; free them", p, err, nemotronPorts)
		}
		l.Close()
	}
}

// newNemotronStack lays out the stack's directory, named as the project:
// the file, a .env with what the file requires (and data paths under the
// test's temp dir), and a Hugging Face cache holding a root-owned file,
// which :U must hand to the image's user.
func newNemotronStack(t *testing.T, file []byte) string {
	t.Helper()
	tmp := t.TempDir()
	dir := filepath.Join(tmp, nemotronProject)
	hf := filepath.Join(tmp, "hf-cache")
	for _, d := range []string{dir, filepath.Join(hf, "hub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(hf, "hub", "model.bin"), []byte("weights"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.prod.yml"), file, 0o644); err != nil {
		t.Fatal(err)
	}
	env := fmt.Sprintf("POSTGRES_PASSWORD=nemo-test-pw\nHF_CACHE=%s\nAI_MODELS_PATH=%s\nCAMERA_PATH=%s\n",
		hf, filepath.Join(tmp, "ai_models"), filepath.Join(tmp, "foscam"))
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

type nemotronRun struct {
	t     *testing.T
	a     *liveAgent
	stack string
	hf    string
	files []string
}

// runNemotron starts the agent on the file and waits until every core
// service runs, logging the time that took.
func runNemotron(t *testing.T, pm *podmantest.Service, bin, stack, file, projectDir string) *nemotronRun {
	t.Helper()
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Only what a unit would give: nothing of the test's environment may
	// stand in for the stack's .env.
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"ORCHESTRATOR_CONFIG=" + config,
		"ORCHESTRATOR_COMPOSE_FILE=" + file,
		"ORCHESTRATOR_DOCKER_HOST=" + pm.URL(),
		"ORCHESTRATOR_STATE_DIR=" + filepath.Join(dir, "state"),
		fmt.Sprintf("ORCHESTRATOR_API_ADDR=127.0.0.1:%d", redistest.FreePort(t)),
		"ORCHESTRATOR_API_SOCKET=" + filepath.Join(dir, "api.sock"),
		"ORCHESTRATOR_TOKEN_FILE=" + token,
		"HOSTAGENT_ENV_FILE=" + filepath.Join(dir, "hostagent.env"),
	}
	if projectDir != "" {
		env = append(env, "ORCHESTRATOR_PROJECT_DIRECTORY="+projectDir)
	}
	a := &liveAgent{t: t, bin: bin, project: nemotronProject, pm: pm, env: env}
	cleanup := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := pm.Cleanup(ctx, nemotronProject); err != nil {
			t.Logf("cleanup: %v", err)
		}
	}
	t.Cleanup(func() {
		a.stop(syscall.SIGTERM)
		cleanup()
	})

	start := time.Now()
	a.start()
	a.waitFor("every core service running", 3*time.Minute, func(m map[string]cliService) bool {
		for _, n := range nemotronCore {
			if m[n].Status != "running" {
				return false
			}
		}
		return true
	})
	t.Logf("bring-up: all %d core services running %.1fs after `hostagent run`", len(nemotronCore), time.Since(start).Seconds())
	// newNemotronStack put the cache beside the stack.
	return &nemotronRun{t: t, a: a, stack: stack, hf: filepath.Join(filepath.Dir(stack), "hf-cache"), files: []string{file}}
}

type inspected struct {
	State struct {
		StartedAt time.Time
	}
	Config struct {
		Labels map[string]string
		User   string
	}
	Mounts []struct {
		Source, Destination string
	}
}

func (n *nemotronRun) container(svc string) string { return nemotronProject + "-" + svc + "-1" }

func (n *nemotronRun) inspect(svc string) inspected {
	n.t.Helper()
	out, err := n.a.pm.Podman(n.t.Context(), "container", "inspect", n.container(svc))
	if err != nil {
		n.t.Fatal(err)
	}
	var list []inspected
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
		n.t.Fatalf("inspect %s: %v\n%s", svc, err, out)
	}
	return list[0]
}

func (n *nemotronRun) exec(svc string, argv ...string) (string, error) {
	return n.a.pm.Podman(n.t.Context(), append([]string{"exec", n.container(svc)}, argv...)...)
}

func (n *nemotronRun) check() {
	t := n.t
	status := n.a.services()
	for _, s := range nemotronCore {
		if st := status[s]; st.FailureCount != 0 || st.RestartCount != 0 {
			t.Errorf("%s: %d failures, %d restarts during bring-up, want none\nagent log:\n%s", s, st.FailureCount, st.RestartCount, n.a.log)
		}
	}
	// The monitoring profile is not active: none of it is made.
	if out, _ := n.a.pm.Podman(t.Context(), "ps", "-a", "--format", "{{.Names}}",
		"--filter", "label=com.docker.compose.project="+nemotronProject); len(strings.Fields(out)) != len(nemotronCore) {
		t.Errorf("project containers:\n%s\nwant exactly the %d core services", out, len(nemotronCore))
	}

	// Start order: nothing starts before what it waits for.
	info := map[string]inspected{}
	for _, s := range nemotronCore {
		info[s] = n.inspect(s)
		if p := info[s].Config.Labels["com.docker.compose.project"]; p != nemotronProject {
			t.Errorf("%s: project label %q, want %q", s, p, nemotronProject)
		}
		if wd := info[s].Config.Labels["com.docker.compose.project.working_dir"]; wd != n.stack {
			t.Errorf("%s: working_dir label %q, want the stack directory %q", s, wd, n.stack)
		}
	}
	order := slices.Clone(nemotronCore)
	slices.SortFunc(order, func(a, b string) int { return info[a].State.StartedAt.Compare(info[b].State.StartedAt) })
	var line bytes.Buffer
	t0 := info[order[0]].State.StartedAt
	for _, s := range order {
		fmt.Fprintf(&line, " %s+%dms", s, info[s].State.StartedAt.Sub(t0).Milliseconds())
	}
	t.Logf("start order:%s", line.String())
	for s, waits := range nemotronWaits {
		for _, w := range waits {
			if !info[w].State.StartedAt.Before(info[s].State.StartedAt) {
				t.Errorf("%s started at %s, not after %s (%s), which it waits for", s,
					info[s].State.StartedAt.Format(time.StampMilli), w, info[w].State.StartedAt.Format(time.StampMilli))
			}
		}
	}

	// The GPU: each AI service's CDI device attached (its edit is in PID 1's
	// environment: Podman applies CDI edits to the main process only).
	for _, s := range nemotronCore {
		out, err := n.exec(s, "cat", "/proc/1/environ")
		if err != nil {
			t.Errorf("%s: %v", s, err)
			continue
		}
		has := slices.Contains(strings.Split(out, "\x00"), "NEMO_TEST_GPU=0")
		if want := slices.Contains(nemotronAI, s); has != want {
			t.Errorf("%s: CDI edit NEMO_TEST_GPU=0 in PID 1's environment: %v, want %v\n%q", s, has, want, out)
		}
	}

	// :U: the binds belong to the image's non-root user, recursively, and
	// it can write them.
	for _, b := range []struct{ svc, dir, file, host string }{
		{"ai-detector", "/cache/huggingface", "/cache/huggingface/hub/model.bin", n.hf},
		{"backend", "/app/data", "", filepath.Join(n.stack, "backend", "data")},
	} {
		if out, err := n.exec(b.svc, "id", "-u"); err != nil || out != fmt.Sprint(appUID) {
			t.Errorf("%s runs as uid %q (%v), want the image's user %d", b.svc, out, err, appUID)
		}
		paths := []string{b.dir}
		if b.file != "" {
			paths = append(paths, b.file)
		}
		for _, p := range paths {
			if out, err := n.exec(b.svc, "stat", "-c", "%u", p); err != nil || out != fmt.Sprint(appUID) {
				t.Errorf("%s: %s owned by uid %q (%v), want %d (:U)", b.svc, p, out, err, appUID)
			}
		}
		if out, err := n.exec(b.svc, "sh", "-c", "echo ok > "+b.dir+"/written && cat "+b.dir+"/written"); err != nil || out != "ok" {
			t.Errorf("%s cannot write its :U bind %s: %q %v", b.svc, b.dir, out, err)
		}
		found := false
		for _, m := range info[b.svc].Mounts {
			if m.Destination == b.dir {
				found = true
				if m.Source != b.host {
					t.Errorf("%s: %s is bound from %s, want %s", b.svc, b.dir, m.Source, b.host)
				}
			}
		}
		if !found {
			t.Errorf("%s: no mount at %s: %+v", b.svc, b.dir, info[b.svc].Mounts)
		}
		if fi, err := os.Stat(b.host); err != nil {
			t.Error(err)
		} else if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != appUID {
			t.Errorf("host %s owned by %d, want %d", b.host, uid, appUID)
		}
	}

	// The backend reaches its dependencies by service name on the
	// project's network (the stand-ins answer with their service's name).
	for _, dep := range []string{"postgres:5432", "redis:6379", "ai-detector:8090", "ai-llm:8091"} {
		out, err := n.exec("backend", "timeout", "10", "wget", "-q", "-O", "-", "http://"+dep+"/")
		if want := "testsvc " + strings.Split(dep, ":")[0]; err != nil || out != want {
			t.Errorf("backend -> %s: %q %v, want %q", dep, out, err, want)
		}
	}
	// The file's own health-check commands pass in every stand-in (the
	// agent probes some over HTTP instead; these prove the stand-ins play
	// the images the file was written for).
	st, err := compose.Load(t.Context(), compose.Options{Files: n.files, ProjectDirectory: n.stack, Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range nemotronCore {
		svc, _ := st.Service(s)
		test := svc.Config.HealthCheck.Test
		var argv []string
		switch {
		case len(test) > 1 && test[0] == "CMD":
			argv = test[1:]
		case len(test) == 2 && test[0] == "CMD-SHELL":
			argv = []string{"sh", "-c", test[1]}
		default:
			t.Fatalf("%s: health check %q", s, test)
		}
		if out, err := n.exec(s, append([]string{"timeout", "10"}, argv...)...); err != nil {
			t.Errorf("%s: the file's health check %q fails in the stand-in: %v %s", s, argv, err, out)
		}
	}

	// The password came from the stack's .env.
	if out, err := n.exec("backend", "sh", "-c", "cat /proc/1/environ | tr '\\0' '\\n' | grep ^DATABASE_URL="); err != nil ||
		out != "DATABASE_URL=postgresql+asyncpg://security:nemo-test-pw@postgres:5432/security" {
		t.Errorf("backend DATABASE_URL: %q %v", out, err)
	}
}
