//go:build integration

package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hostagent/hostagent/internal/testsupport/podmantest"
)

// rmi removes the test's images afterwards: the storage is shared by runs.
func rmi(t *testing.T, pm *podmantest.Service, refs ...string) {
	t.Cleanup(func() {
		for _, r := range refs {
			_, _ = pm.Podman(context.WithoutCancel(t.Context()), "rmi", "-f", r)
		}
	})
}

func TestIntegrationBuildServiceWithoutImage(t *testing.T) {
	pm := podmantest.Shared(t)
	p := project(t, pm)
	c, rec := connect(t, pm)
	ctx := t.Context()
	dir := t.TempDir()
	files := map[string]string{
		"app/Dockerfile": "FROM " + podmantest.BusyboxImage + "\nARG GREETING=unset\nCOPY . /ctx/\n" +
			"RUN echo \"$GREETING\" > /greeting\nCMD [\"sleep\", \"600\"]\n",
		"app/included.txt":  "shipped\n",
		"app/excluded.txt":  "must not reach the image\n",
		"app/.dockerignore": "excluded.txt\n",
	}
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st, err := podmantest.LoadStack(ctx, dir, p, `
services:
  web:
    build:
      context: ./app
      args: {GREETING: hello-build}
      labels: {team: core}
`)
	if err != nil {
		t.Fatal(err)
	}
	ref := p + "-web"
	rmi(t, pm, ref)

	var lines []string
	if err := c.EnsureImage(ctx, st, "web", func(l string) { lines = append(lines, l) }); err != nil {
		t.Fatal(err)
	}
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "building image "+ref) || lines[len(lines)-1] != "built image "+ref {
		t.Errorf("progress = %q", lines)
	}
	if rec.count("Built image "+ref) != 1 {
		t.Errorf("the log does not say the image was built")
	}
	labels := podman(t, pm, "image", "inspect", "--format", "{{.Labels.team}} {{index .Labels \""+LabelService+"\"}}", ref)
	if strings.TrimSpace(labels) != "core web" {
		t.Errorf("image labels = %q, want build label and compose service label", labels)
	}

	id, err := c.Create(ctx, st, "web")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	r, err := c.Exec(ctx, id, []string{"/bin/sh", "-c", "cat /greeting /ctx/included.txt; test ! -e /ctx/excluded.txt && echo excluded-absent"}, ExecOptions{})
	if err != nil || r.ExitCode != 0 {
		t.Fatalf("exec = %+v, %v", r, err)
	}
	if out := string(r.Output); out != "hello-build\nshipped\nexcluded-absent\n" {
		t.Errorf("in the built image: %q, want the build arg, the included file and no excluded file", out)
	}

	// Present now: a second EnsureImage neither builds nor pulls.
	before := rec.count("Building image")
	if err := c.EnsureImage(ctx, st, "web", nil); err != nil || rec.count("Building image") != before {
		t.Errorf("second EnsureImage: %v, builds %d -> %d", err, before, rec.count("Building image"))
	}
}

func TestIntegrationPodmanComposeImageIsUsed(t *testing.T) {
	pm := podmantest.Shared(t)
	p := project(t, pm)
	c, rec := connect(t, pm)
	st, err := podmantest.LoadStack(t.Context(), t.TempDir(), p, "services:\n  web:\n    build: ./nowhere\n    command: [\"sleep\", \"600\"]\n")
	if err != nil {
		t.Fatal(err)
	}
	// What `podman-compose build` leaves behind.
	podman(t, pm, "tag", podmantest.BusyboxImage, p+"_web")
	rmi(t, pm, p+"_web", p+"-web")
	if err := c.EnsureImage(t.Context(), st, "web", nil); err != nil {
		t.Fatal(err)
	}
	if rec.count("Building image") != 0 {
		t.Error("built although podman-compose's image exists")
	}
	if _, err := c.Create(t.Context(), st, "web"); err != nil {
		t.Errorf("create from the podman-compose image: %v", err)
	}
}

func TestIntegrationUnpullableImage(t *testing.T) {
	pm := podmantest.Shared(t)
	c, _ := connect(t, pm)
	for _, ref := range []string{"registry.invalid/nope:1", "localhost:1/nope:1"} {
		st := load(t, t.TempDir(), "services:\n  web:\n    image: "+ref+"\n")
		err := c.EnsureImage(t.Context(), st, "web", nil)
		if !errors.Is(err, ErrImageUnavailable) || !IsCondition(err) {
			t.Fatalf("%s: err = %v, want ErrImageUnavailable", ref, err)
		}
		// The image, then the registry's own answer.
		if msg := err.Error(); !strings.HasPrefix(msg, "image unavailable: "+ref+": ") || !strings.Contains(msg, strings.Split(ref, "/")[0]) || len(msg) < len("image unavailable: "+ref+": ")+10 {
			t.Errorf("%s: err = %q, want the image and the registry's answer", ref, msg)
		}
		t.Logf("%s: %v", ref, err)
	}
	st := load(t, t.TempDir(), "services:\n  web:\n    image: localhost/hostagent-absent:1\n    pull_policy: never\n")
	if err := c.EnsureImage(t.Context(), st, "web", nil); !errors.Is(err, ErrImageUnavailable) || !strings.Contains(err.Error(), "pull_policy is never") {
		t.Errorf("never, absent: err = %v", err)
	}
}
