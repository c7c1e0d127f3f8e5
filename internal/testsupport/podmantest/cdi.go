package podmantest

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// cdiLock serialises the tests that write CDI specs: /etc/cdi is the
// machine's, and two specs defining the same device (nvidia.com/gpu=0)
// make Podman refuse it as a conflict.
const cdiLock = "/run/lock/hostagent-test-cdi.lock"

// WriteCDISpec writes spec as /etc/cdi/NAME.yaml, where Podman 4 reads
// CDI specs, holding a machine-wide lock against other tests' specs until
// the test ends, then removes it. It skips the test when /etc/cdi cannot
// be written.
func WriteCDISpec(t testing.TB, name, spec string) {
	t.Helper()
	path := filepath.Join("/etc/cdi", name+".yaml")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Skipf("cannot write a CDI spec: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(cdiLock), 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(cdiLock, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		lock.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = os.Remove(path)
		lock.Close()
	})
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		t.Skipf("cannot write a CDI spec: %v", err)
	}
}
