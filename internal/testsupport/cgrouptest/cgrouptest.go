// Package cgrouptest makes fake /proc trees for tests of PID-to-container
// mapping.
package cgrouptest

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// WriteProc makes a /proc with one cgroup file per pid and returns its root.
func WriteProc(t testing.TB, procs map[int]string) string {
	t.Helper()
	root := t.TempDir()
	for pid, cg := range procs {
		dir := filepath.Join(root, strconv.Itoa(pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup"), []byte(cg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}
