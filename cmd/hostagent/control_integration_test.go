//go:build integration

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hostagent/hostagent/internal/testsupport/podmantest"
)

// TestUpReloadStopStartDownWithTheAgent drives the stack commands with the
// real binary against a running agent on real Podman: an image rebuilt
// under the same tag is rolled out by up; a broken file is refused by
// reload with the stack kept; stop/start of one service; down with the
// agent running leaves nothing behind, and up brings the stack back.
func TestUpReloadStopStartDownWithTheAgent(t *testing.T) {
	pm := podmantest.Shared(t)
	ctx := t.Context()
	tag := "localhost/hacontrol-app:1"
	if out, err := pm.Podman(ctx, "tag", podmantest.TestsvcImage, tag); err != nil {
		t.Fatalf("podman tag: %v %s", err, out)
	}
	t.Cleanup(func() { _, _ = pm.Podman(context.WithoutCancel(t.Context()), "rmi", "-f", tag) })
	stack := `
x-svc: &svc
  healthcheck: {test: ['CMD-SHELL', 'test -f /tmp/healthy'], interval: 1s, timeout: 2s, retries: 2, start_period: 10s}
  x-hostagent: {restart: {backoff_base: 200ms}}
  stop_grace_period: 2s
services:
  db: {<<: *svc, image: ` + podmantest.TestsvcImage + `, volumes: ['data:/data']}
  api: {<<: *svc, image: ` + tag + `, depends_on: {db: {condition: service_healthy}}}
  web: {<<: *svc, image: ` + podmantest.TestsvcImage + `, depends_on: {api: {condition: service_healthy}}}
volumes:
  data: {}
`
	a := newLiveAgent(t, stack)
	a.start()
	a.waitFor("stack running", 90*time.Second, allUp)
	before := a.services()

	// up after the image was rebuilt under the same tag.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+tag+"\nLABEL rev=2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := pm.Podman(ctx, "build", "-t", tag, dir); err != nil {
		t.Fatalf("podman build: %v %s", err, out)
	}
	code, out := a.cli("up")
	if code != 0 || !strings.Contains(out, "1 recreated") || !strings.Contains(out, "api") {
		t.Fatalf("up after a rebuild: exit %d\n%s\nagent log:\n%s", code, out, a.log)
	}
	t.Logf("up after the rebuild:\n%s", out)
	after := a.services()
	if after["api"].ContainerID == before["api"].ContainerID || after["api"].Status != "running" {
		t.Errorf("api not recreated by up: before %+v, after %+v", before["api"], after["api"])
	}
	if after["db"].ContainerID != before["db"].ContainerID {
		t.Errorf("db recreated though nothing of it changed")
	}

	// reload of a broken file: non-zero, the stack kept.
	file := a.composeFile()
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, append(good, []byte("  broken: {image: [\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out = a.cli("reload")
	if code == 0 || !strings.Contains(out, "keeps the running stack") || !strings.Contains(out, "docker-compose.yml") {
		t.Errorf("reload of a broken file: exit %d\n%s", code, out)
	}
	if err := os.WriteFile(file, good, 0o644); err != nil {
		t.Fatal(err)
	}
	if kept := a.services(); !allUp(kept) || kept["api"].ContainerID != after["api"].ContainerID {
		t.Errorf("stack changed by a refused reload: %+v", kept)
	}
	if code, out = a.cli("reload"); code != 0 || !strings.Contains(out, "nothing changed") {
		t.Errorf("reload of an unchanged file: exit %d\n%s", code, out)
	}

	// stop/start of one service.
	if code, out = a.cli("stop", "web"); code != 0 {
		t.Fatalf("stop web: exit %d\n%s", code, out)
	}
	a.waitFor("web stopped", 20*time.Second, func(m map[string]cliService) bool { return m["web"].Status == "stopped" })
	time.Sleep(3 * time.Second)
	if running, _ := pm.Podman(ctx, "ps", "-q", "--filter", "name="+a.project+"-web-1"); strings.TrimSpace(running) != "" {
		t.Errorf("web runs again after hostagent stop")
	}
	if code, out = a.cli("start", "web"); code != 0 {
		t.Fatalf("start web: exit %d\n%s", code, out)
	}
	a.waitFor("web running again", 30*time.Second, allUp)

	// down with the agent running: nothing comes back.
	code, out = a.cli("down")
	if code != 0 || !strings.Contains(out, "stopped supervising") || !strings.Contains(out, "web: stopping") || !strings.Contains(out, "removed") {
		t.Fatalf("down: exit %d\n%s\nagent log:\n%s", code, out, a.log)
	}
	t.Logf("down:\n%s", out)
	if strings.Index(out, "web: stopping") > strings.Index(out, "db: stopping") {
		t.Errorf("down did not stop in reverse phase order:\n%s", out)
	}
	time.Sleep(10 * time.Second)
	ids, _ := pm.Podman(ctx, "ps", "-a", "-q", "--filter", "label=com.docker.compose.project="+a.project)
	if n := len(strings.Fields(ids)); n != 0 {
		t.Errorf("%d containers of the project 10 s after down, want none\nagent log:\n%s", n, a.log)
	}
	nets, _ := pm.Podman(ctx, "network", "ls", "-q", "--filter", "label=com.docker.compose.project="+a.project)
	if strings.TrimSpace(nets) != "" {
		t.Errorf("project networks left after down: %s", nets)
	}
	volume := func() string {
		v, _ := pm.Podman(ctx, "volume", "ls", "-q", "--filter", "label=com.docker.compose.project="+a.project)
		return strings.TrimSpace(v)
	}
	if volume() == "" {
		t.Errorf("down without -v removed the named volume")
	}
	for name, s := range a.services() {
		if s.Status != "stopped" && s.Status != "not_found" {
			t.Errorf("%s shows %s after down", name, s.Status)
		}
	}

	// up brings it back.
	if code, out = a.cli("up"); code != 0 || !strings.Contains(out, "3 added") {
		t.Fatalf("up after down: exit %d\n%s\nagent log:\n%s", code, out, a.log)
	}
	a.waitFor("stack back", 30*time.Second, allUp)
	if code, out = a.cli("down", "-v"); code != 0 || !strings.Contains(out, "volume "+a.project+"_data: removed") {
		t.Errorf("down -v: exit %d\n%s", code, out)
	}
	if v := volume(); v != "" {
		t.Errorf("named volume left after down -v: %s", v)
	}
}

// composeFile is the file the agent and the CLI read.
func (a *liveAgent) composeFile() string {
	for _, e := range a.env {
		if v, ok := strings.CutPrefix(e, "ORCHESTRATOR_COMPOSE_FILE="); ok {
			return v
		}
	}
	a.t.Fatal("no ORCHESTRATOR_COMPOSE_FILE")
	return ""
}
