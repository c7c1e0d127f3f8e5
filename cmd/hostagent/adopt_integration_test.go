//go:build integration

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/engine"
	"github.com/hostagent/hostagent/internal/testsupport/podmantest"
)

// adoptStack is what the compose tools bring up before the agent starts:
// a service with a health check and one that depends on it (started, so
// neither tool waits on a health check Podman cannot run without systemd).
const adoptStack = `
services:
  db:
    image: ` + podmantest.TestsvcImage + `
    environment: {HEALTHY_AFTER: 200ms}
    healthcheck: {test: ['CMD-SHELL', 'test -f /tmp/healthy'], interval: 1s, timeout: 2s, retries: 2, start_period: 10s}
  web:
    image: ` + podmantest.TestsvcImage + `
    depends_on: [db]
`

// requireTool finds a compose tool, skipping the test where it is missing
// outside CI; in CI (CI=true) a missing tool fails it, since make deps and
// make integration install both.
func requireTool(t *testing.T, path, install string) string {
	t.Helper()
	if path != "" {
		if _, err := os.Stat(path); err == nil {
			return path
		}
	}
	msg := "missing: " + install
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// composeV5 is Docker Compose v5 as mk/compose.mk builds it.
func composeV5(t *testing.T) string {
	p := os.Getenv("HOSTAGENT_COMPOSE_BIN")
	if p == "" {
		if root, err := podmantest.RepoRoot(); err == nil {
			m, _ := filepath.Glob(filepath.Join(root, ".build", "tools", "compose-*", "docker-compose"))
			if len(m) > 0 {
				p = m[len(m)-1]
			}
		}
	}
	return requireTool(t, p, "Docker Compose v5 (make compose-tool builds it into .build/tools)")
}

func podmanCompose(t *testing.T) string {
	p, _ := exec.LookPath("podman-compose")
	return requireTool(t, p, "podman-compose (make deps installs the Debian package)")
}

// projectContainers lists every container of the project, labelled or
// named as podman-compose names them, as "name service id" lines.
func projectContainers(t *testing.T, pm *podmantest.Service, project string) []string {
	t.Helper()
	out, err := pm.Podman(t.Context(), "ps", "-a", "--format", `{{.Names}} {{index .Labels "com.docker.compose.project"}} {{index .Labels "com.docker.compose.service"}} {{.ID}}`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		if strings.HasPrefix(f[0], project+"-") || strings.HasPrefix(f[0], project+"_") || (len(f) == 4 && f[1] == project) {
			got = append(got, line)
		}
	}
	sort.Strings(got)
	return got
}

// servicesOf maps service → container ID from projectContainers' lines,
// failing on a service with two containers or a container without the
// project label (a duplicate the label filter would miss).
func servicesOf(t *testing.T, lines []string, project string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 4 || f[1] != project {
			t.Errorf("container without com.docker.compose.project=%s: %q", project, l)
			continue
		}
		if _, dup := m[f[2]]; dup {
			t.Errorf("service %s has two containers: %v", f[2], lines)
		}
		m[f[2]] = f[3]
	}
	return m
}

// TestAdoptComposeMadeStacks: a stack brought up by podman-compose, and
// one by Docker Compose v5, are adopted by `hostagent run` on the same
// file and project without duplicates: one container per service, all
// running, the agent reporting them running. The log says which
// containers the first start kept and which it recreated (README says
// why).
func TestAdoptComposeMadeStacks(t *testing.T) {
	for _, tc := range []struct {
		name string
		tool func(t *testing.T) string
		up   func(t *testing.T, pm *podmantest.Service, bin, file, project string) *exec.Cmd
		// keep: recreate_outdated=false, so the first start keeps every
		// container and the first reload recreates the outdated ones.
		keep bool
	}{
		{"podman-compose", podmanCompose, func(t *testing.T, pm *podmantest.Service, bin, file, project string) *exec.Cmd {
			cmd := exec.Command(bin, "-p", project, "-f", file,
				"--podman-args", "--root "+pm.Root+" --runroot "+pm.RunRoot, "up", "-d")
			cmd.Env = pm.Env()
			return cmd
		}, false},
		{"docker-compose-v5", composeV5, composeV5Up, false},
		{"docker-compose-v5-keep", composeV5, composeV5Up, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := tc.tool(t)
			a := newLiveAgent(t, adoptStack)
			a.project += strings.ReplaceAll(tc.name, "-", "")
			if tc.keep {
				a.env = append(a.env, "ORCHESTRATOR_RECREATE_OUTDATED=false")
			}
			file := ""
			for _, e := range a.env {
				if v, ok := strings.CutPrefix(e, "ORCHESTRATOR_COMPOSE_FILE="); ok {
					file = v
				}
			}
			// The file's name: key is newLiveAgent's; the project here is this subtest's.
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			_, rest, _ := strings.Cut(string(data), "\n")
			if err := os.WriteFile(file, []byte("name: "+a.project+"\n"+rest), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = a.pm.Cleanup(context.WithoutCancel(t.Context()), a.project) })
			_ = a.pm.Cleanup(t.Context(), a.project)

			cmd := tc.up(t, a.pm, bin, file, a.project)
			cmd.Dir = filepath.Dir(file)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s up: %v\n%s", tc.name, err, out)
			}
			before := servicesOf(t, projectContainers(t, a.pm, a.project), a.project)
			if len(before) != 2 {
				t.Fatalf("%s made %v, want db and web", tc.name, before)
			}
			// README: at start a container is outdated, so recreated, when
			// its compose config hash differs from the agent's for the file
			// (podman-compose writes none: judged by its image, unchanged).
			home, _ := os.UserHomeDir()
			st, err := compose.Load(t.Context(), compose.Options{Files: []string{file}, ProjectName: a.project, Env: []string{"HOME=" + home}})
			if err != nil {
				t.Fatal(err)
			}
			outdated := map[string]bool{}
			for svc, id := range before {
				label, err := a.pm.Podman(t.Context(), "inspect", "--format", `{{index .Config.Labels "`+engine.LabelConfigHash+`"}}`, id)
				if err != nil {
					t.Fatal(err)
				}
				s, _ := st.Service(svc)
				ours := engine.ConfigHash(*s)
				outdated[svc] = label != "" && label != "<no value>" && label != ours
				t.Logf("%s: %s's config hash %q, the agent's %q", tc.name, svc, label, ours)
			}

			a.start()
			a.waitFor("both services running", 90*time.Second, func(m map[string]cliService) bool {
				return m["db"].Status == "running" && m["web"].Status == "running"
			})
			// Let a recreate that the first start began finish, then look.
			time.Sleep(2 * time.Second)
			after := adopted(t, a, "the first start")
			for svc, id := range after {
				kept := id == before[svc]
				t.Logf("%s: %s's container %s by the agent's first start", tc.name, svc, map[bool]string{true: "kept", false: "recreated"}[kept])
				if want := !outdated[svc] || tc.keep; kept != want {
					t.Errorf("%s: %s kept=%v at the first start, want %v (outdated=%v, recreate_outdated=%v; README)", tc.name, svc, kept, want, outdated[svc], !tc.keep)
				}
			}

			// The first reload (SIGHUP, as systemctl reload sends): it
			// recreates what is outdated still, and keeps the rest.
			if err := a.cmd.Process.Signal(syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(60 * time.Second)
			var reloaded map[string]string
			for {
				time.Sleep(2 * time.Second)
				a.waitFor("both services running after the reload", 60*time.Second, func(m map[string]cliService) bool {
					return m["db"].Status == "running" && m["web"].Status == "running"
				})
				reloaded = adopted(t, a, "the first reload")
				// Only kept outdated containers change; otherwise one look
				// after the reload settles is the answer.
				done := true
				for svc := range outdated {
					if tc.keep && outdated[svc] && reloaded[svc] == after[svc] {
						done = false
					}
				}
				if done || time.Now().After(deadline) {
					break
				}
			}
			for svc, id := range reloaded {
				kept := id == after[svc]
				t.Logf("%s: %s's container %s by the first reload", tc.name, svc, map[bool]string{true: "kept", false: "recreated"}[kept])
				if want := !outdated[svc] || !tc.keep; kept != want {
					t.Errorf("%s: %s kept=%v at the first reload, want %v (outdated=%v, recreated at start=%v; README)", tc.name, svc, kept, want, outdated[svc], !tc.keep)
				}
			}
		})
	}
}

func composeV5Up(t *testing.T, pm *podmantest.Service, bin, file, project string) *exec.Cmd {
	cmd := exec.Command(bin, "-p", project, "-f", file, "up", "-d")
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+pm.URL(), "COMPOSE_PROGRESS=plain", "COMPOSE_MENU=false")
	return cmd
}

// adopted checks that the project has exactly one container per service,
// all running, each the one the agent reports running, and returns them
// by service.
func adopted(t *testing.T, a *liveAgent, stage string) map[string]string {
	t.Helper()
	lines := projectContainers(t, a.pm, a.project)
	got := servicesOf(t, lines, a.project)
	if len(lines) != 2 || len(got) != 2 {
		t.Fatalf("after %s: %d containers %v, want exactly one for each of db and web", stage, len(lines), lines)
	}
	out, err := a.pm.Podman(t.Context(), "ps", "--filter", "label=com.docker.compose.project="+a.project, "--filter", "status=running", "-q")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(out)); n != 2 {
		t.Errorf("after %s: %d containers running, want 2", stage, n)
	}
	status := a.services()
	for svc, id := range got {
		if status[svc].Status != "running" || !strings.HasPrefix(id, shortID(status[svc].ContainerID)) {
			t.Errorf("after %s: the agent reports %s as %+v; podman has %s", stage, svc, status[svc], id)
		}
	}
	return got
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
