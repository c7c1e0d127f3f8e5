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

// pull builds a build: service's image and names an image that cannot be
// had, without an agent running.
func TestPullBuildsAndNamesTheUnpullable(t *testing.T) {
	ctxDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM "+podmantest.BusyboxImage+"\nRUN echo built > /built\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := newLiveAgent(t, `
services:
  web:
    build: {context: `+ctxDir+`}
  ghost:
    image: registry.invalid/hostagent/nope:1
`)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	image := a.project + "-web"
	t.Cleanup(func() { _, _ = a.pm.Podman(context.Background(), "rmi", "-f", image) })

	code, out := a.cli("pull", "web")
	if code != 0 || !strings.Contains(out, "web: image ready") {
		t.Fatalf("pull web: exit %d:\n%s", code, out)
	}
	if _, err := a.pm.Podman(ctx, "image", "exists", image); err != nil {
		t.Errorf("pull web did not build %s: %v\n%s", image, err, out)
	}
	code, out = a.cli("pull", "ghost")
	if code != 1 || !strings.Contains(out, "registry.invalid/hostagent/nope:1") {
		t.Errorf("pull ghost: exit %d, want 1 naming the image:\n%s", code, out)
	}
}
