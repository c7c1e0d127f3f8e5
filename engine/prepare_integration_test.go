//go:build integration

package engine

import (
	"strings"
	"testing"

	"github.com/hostagent/hostagent/internal/testsupport/podmantest"
)

// Prepare makes the project's networks and volumes on real Podman, as
// Create would, and a second Prepare (or the Create after it) finds them.
func TestIntegrationPrepareNetworksAndVolumes(t *testing.T) {
	pm := podmantest.Shared(t)
	p := project(t, pm)
	c, rec := connect(t, pm)
	ctx := t.Context()
	st, err := podmantest.LoadStack(ctx, t.TempDir(), p, `services:
  a: {image: `+podmantest.BusyboxImage+`, command: [sleep, "600"], networks: [back, front], volumes: ["data:/d"]}
  b: {image: `+podmantest.BusyboxImage+`, command: [sleep, "600"], networks: [back]}
networks: {back: {}, front: {}}
volumes: {data: {}}
`)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Prepare(ctx, st); err != nil {
		t.Fatal(err)
	}
	nets := podman(t, pm, "network", "ls", "--filter", "label="+LabelProject+"="+p, "--format", "{{.Name}}")
	for _, n := range []string{p + "_back", p + "_front"} {
		if !strings.Contains(nets, n) {
			t.Errorf("network %s missing after Prepare: %q", n, nets)
		}
	}
	if vols := podman(t, pm, "volume", "ls", "--filter", "label="+LabelProject+"="+p, "--format", "{{.Name}}"); !strings.Contains(vols, p+"_data") {
		t.Errorf("volume %s_data missing after Prepare: %q", p, vols)
	}
	if err := c.Prepare(ctx, st); err != nil {
		t.Errorf("second Prepare: %v", err)
	}
	if _, err := c.Create(ctx, st, "a"); err != nil {
		t.Errorf("Create after Prepare: %v", err)
	}
	if n := rec.count("Network created"); n != 2 {
		t.Errorf("%d 'Network created' lines, want 2 (each once)", n)
	}

	// A network removed behind the client's back (it remembers the
	// networks it saw) is made again by the next create.
	podman(t, pm, "network", "rm", "-f", p+"_back") // and container a with it
	if _, err := c.Create(ctx, st, "b"); err != nil {
		t.Fatalf("Create after its network was removed: %v", err)
	}
	if nets := podman(t, pm, "network", "ls", "--format", "{{.Name}}"); !strings.Contains(nets, p+"_back") {
		t.Errorf("network %s_back not made again: %q", p, nets)
	}
}
