package podmantest

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"
)

// Require skips the test when podman cannot be used here, with the
// reason; under CI=true (CI installs podman) it fails instead.
func Require(t testing.TB) {
	t.Helper()
	err := Available()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("podmantest: %v (CI=true: podman is required)", err)
	}
	t.Skipf("podmantest: %v; skipping", err)
}

var shared struct {
	once sync.Once
	svc  *Service
	err  error
}

// Shared returns the test binary's one API service, started (and the
// test images built) on first use. Use Main in TestMain to stop it.
func Shared(t testing.TB) *Service {
	t.Helper()
	Require(t)
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		shared.svc, shared.err = Start(ctx)
		if shared.err == nil {
			shared.err = shared.svc.EnsureImages(ctx)
		}
		if shared.err == nil {
			t.Logf("podmantest: %s", shared.svc)
		}
	})
	if shared.err != nil {
		t.Fatalf("podmantest: %v", shared.err)
	}
	return shared.svc
}

// Main runs the tests and then stops the shared API service:
// func TestMain(m *testing.M) { os.Exit(podmantest.Main(m)) }.
func Main(m *testing.M) int {
	code := m.Run()
	if shared.svc != nil {
		_ = shared.svc.Close()
	}
	return code
}
