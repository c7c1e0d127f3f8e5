package pidwatch

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/hostagent/hostagent/internal/testsupport/cgrouptest"
)

const id = "8c6c7f5e0b1d4a3f9e2c7b6a5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c"

func fakeProc(t *testing.T, pid int, container string) string {
	return cgrouptest.WriteProc(t, map[int]string{pid: "0::/libpod_parent/libpod-" + container + "\n"})
}

func TestExitIsSignalled(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &Watcher{procRoot: fakeProc(t, cmd.Process.Pid, id)}
	exited, err := w.Watch(t.Context(), cmd.Process.Pid, id)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	select {
	case <-exited:
		t.Fatal("signalled before the process exited")
	case <-time.After(50 * time.Millisecond):
	}
	killed := time.Now()
	_ = cmd.Process.Kill()
	go func() { _ = cmd.Wait() }()
	select {
	case <-exited:
		t.Logf("exit seen %s after the kill", time.Since(killed))
		if d := time.Since(killed); d > 100*time.Millisecond {
			t.Errorf("exit seen only after %s", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("exit not signalled")
	}
}

func TestOtherProcessesAreNotWatched(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	other := "1111111111111111111111111111111111111111111111111111111111111111"
	w := &Watcher{procRoot: fakeProc(t, cmd.Process.Pid, other)}
	if _, err := w.Watch(t.Context(), cmd.Process.Pid, id); err == nil {
		t.Error("watched a process whose cgroup names another container")
	}
	if _, err := New().Watch(t.Context(), cmd.Process.Pid, id); err == nil {
		t.Error("watched a process that is in no container")
	}
	if _, err := New().Watch(t.Context(), 0, id); err == nil {
		t.Error("watched pid 0")
	}
}

func TestCancelEndsTheWatch(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	ctx, cancel := context.WithCancel(t.Context())
	w := &Watcher{procRoot: fakeProc(t, cmd.Process.Pid, id)}
	exited, err := w.Watch(ctx, cmd.Process.Pid, id)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-exited:
		if ctx.Err() == nil {
			t.Error("closed without a cancel")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancel did not end the watch")
	}
}
