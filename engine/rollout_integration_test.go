//go:build integration

package engine

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hostagent/hostagent/internal/testsupport/podmantest"
)

// An image rebuilt under the same tag is seen by Discover, and Recreate
// moves the service onto it keeping its named and anonymous volumes.
func TestIntegrationImageChangeAndRecreateKeepsVolumes(t *testing.T) {
	pm := podmantest.Shared(t)
	p := project(t, pm)
	c, _ := connect(t, pm)
	ctx := t.Context()
	tag := "localhost/" + p + "-app:latest"
	podman(t, pm, "tag", podmantest.BusyboxImage, tag)
	t.Cleanup(func() { _, _ = pm.Podman(context.WithoutCancel(t.Context()), "untag", tag) })
	st, err := podmantest.LoadStack(ctx, t.TempDir(), p, `
services:
  app:
    image: `+tag+`
    command: [sh, -c, 'exec sleep 600']
    volumes: ["data:/named", "/anon"]
volumes: {data: {}}
`)
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.Create(ctx, st, "app")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	podman(t, pm, "exec", string(id), "sh", "-c", "echo kept > /named/x && echo kept > /anon/x")

	d, err := c.Discover(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if f := d.Found["app"]; f.ImageChanged || f.Outdated || f.Container.ImageID == "" {
		t.Fatalf("fresh container: image changed %v, outdated %v, image ID %q; want neither, an ID", f.ImageChanged, f.Outdated, f.Container.ImageID)
	}

	// "Rebuild" the image: the tag now names another image.
	podman(t, pm, "tag", podmantest.TestsvcImage, tag)
	d, err = c.Discover(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if f := d.Found["app"]; !f.ImageChanged || f.Outdated {
		t.Fatalf("after a re-tag: image changed %v, outdated %v; want the image change only", f.ImageChanged, f.Outdated)
	}

	nid, err := c.Recreate(ctx, st, "app", id, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if nid == id {
		t.Fatal("Recreate returned the old container")
	}
	if err := c.Start(ctx, nid); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Inspect(ctx, id); err == nil {
		t.Errorf("the old container %s still exists", id.Short())
	}
	for _, f := range []string{"/named/x", "/anon/x"} {
		if out := strings.TrimSpace(podman(t, pm, "exec", string(nid), "cat", f)); out != "kept" {
			t.Errorf("%s after recreate = %q, want kept", f, out)
		}
	}
	want, err := c.ImageID(ctx, podmantest.TestsvcImage)
	if err != nil {
		t.Fatal(err)
	}
	n, err := c.Inspect(ctx, nid)
	if err != nil {
		t.Fatal(err)
	}
	if normalizeImageID(n.ImageID) != want {
		t.Errorf("new container's image %s, want %s", n.ImageID, want)
	}
	if got := n.Labels[LabelImage]; got != "sha256:"+want {
		t.Errorf("label %s = %q, want sha256:%s (the image it runs, as compose writes it)", LabelImage, got, want)
	}
	d, err = c.Discover(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if f := d.Found["app"]; f.ImageChanged || f.Container.ID != nid {
		t.Errorf("after recreate: found %s image changed %v, want %s current", f.Container.ID.Short(), f.ImageChanged, nid.Short())
	}
	if vols := podman(t, pm, "volume", "ls", "--format", "{{.Name}}"); !strings.Contains(vols, p+"_data") {
		t.Errorf("named volume %s_data gone: %q", p, vols)
	}
}
