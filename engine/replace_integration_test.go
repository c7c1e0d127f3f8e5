//go:build integration

package engine

import (
	"errors"
	"testing"

	"github.com/hostagent/hostagent/internal/testsupport/podmantest"
)

// A container made by hand under the name compose gives the service, and
// without our labels, is replaced by the service's, as compose up does.
func TestIntegrationCreateReplacesUnadoptedContainer(t *testing.T) {
	pm := podmantest.Shared(t)
	p := project(t, pm)
	c, _ := connect(t, pm)
	ctx := t.Context()
	st, err := podmantest.LoadStack(ctx, t.TempDir(), p, "services:\n  web:\n    image: "+podmantest.BusyboxImage+"\n    command: [sleep, \"600\"]\n")
	if err != nil {
		t.Fatal(err)
	}
	podman(t, pm, "create", "--name", p+"-web-1", podmantest.BusyboxImage, "true")
	if _, err := c.Create(ctx, st, "web"); !errors.Is(err, ErrConflict) {
		t.Fatalf("Create over a hand-made %s-web-1 = %v, want ErrConflict", p, err)
	}
	id, err := c.CreateReplacing(ctx, st, "web")
	if err != nil {
		t.Fatalf("CreateReplacing: %v", err)
	}
	got, err := c.Inspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != p+"-web-1" || got.Project != p || got.Service != "web" {
		t.Errorf("replacement is %q of project %q service %q, want %s-web-1 of %s, web", got.Name, got.Project, got.Service, p, p)
	}
}
