//go:build cgo

package gpu

// Real-GPU tests: opt in with HOSTAGENT_GPU_TEST=1 on a host with an NVIDIA
// GPU, NVML and python3 with torch (gpu/testdata/device-run.sh does it).
// They launch gpu/testdata/alloc.py, which allocates VRAM in steps and holds
// it, and check the gate against what NVML really reports.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hostagent/hostagent/internal/clock"
)

// realGPU skips unless opted in and NVML works; it returns a monitor whose
// /proc root is a temp dir the test fills (see fakeContainer) and the first
// device.
func realGPU(t *testing.T) (*Monitor, string, Device) {
	t.Helper()
	if os.Getenv("HOSTAGENT_GPU_TEST") != "1" {
		t.Skip("real-GPU test: set HOSTAGENT_GPU_TEST=1 on a host with an NVIDIA GPU")
	}
	procRoot := t.TempDir()
	m := NewMonitor(NewNVML(), testLogger(t), WithProcRoot(procRoot))
	t.Cleanup(func() { m.Close() })
	s := m.Snapshot(t.Context())
	if !s.Available {
		t.Skip(s.Reason) // "no NVML: ..." or "no NVIDIA GPU: ..."
	}
	t.Logf("NVML: driver %s, %d device(s)", s.DriverVersion, len(s.Devices))
	for _, d := range s.Devices {
		t.Logf("  GPU %d %s %s: total %s, used %s, free %s, %d process(es)", d.Index, d.UUID, d.Name,
			formatBytes(d.TotalBytes), formatBytes(d.UsedBytes), formatBytes(d.FreeBytes), len(d.Processes))
	}
	return m, procRoot, s.Devices[0]
}

// testLogger logs to t; every goroutine that logs must end before the test.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// deviceRef and helperEnv pin both sides to one GPU: the gate by UUID, the
// helper through CUDA_VISIBLE_DEVICES (only with several GPUs, so that a
// host that already narrows it keeps working).
func deviceRef(d Device) []string {
	if d.UUID != "" {
		return []string{d.UUID}
	}
	return []string{strconv.Itoa(d.Index)}
}

func helperEnv(m *Monitor, d Device) []string {
	env := append(os.Environ(), "CUDA_DEVICE_ORDER=PCI_BUS_ID", "PYTHONUNBUFFERED=1")
	if s := m.Snapshot(context.Background()); len(s.Devices) > 1 && d.UUID != "" {
		env = append(env, "CUDA_VISIBLE_DEVICES="+d.UUID)
	}
	return env
}

type allocHelper struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *bytes.Buffer
	once   sync.Once
	read   sync.WaitGroup
}

// startAlloc launches testdata/alloc.py (HOSTAGENT_ALLOC_PY overrides).
func startAlloc(t *testing.T, env []string, steps, mibPerStep int, pause time.Duration) *allocHelper {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("real-GPU test: no python3 in PATH")
	}
	script := os.Getenv("HOSTAGENT_ALLOC_PY")
	if script == "" {
		script, _ = filepath.Abs(filepath.Join("testdata", "alloc.py"))
	}
	cmd := exec.Command(py, script, "--steps", strconv.Itoa(steps), "--mib", strconv.Itoa(mibPerStep),
		"--pause", strconv.FormatFloat(pause.Seconds(), 'f', 3, 64))
	cmd.Env = env
	h := &allocHelper{t: t, cmd: cmd, lines: make(chan string, 64), stderr: &bytes.Buffer{}}
	cmd.Stderr = h.stderr
	if h.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", script, err)
	}
	h.read.Add(1)
	go func() {
		defer h.read.Done()
		defer close(h.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
	}()
	t.Cleanup(h.kill)
	return h
}

func (h *allocHelper) pid() int { return h.cmd.Process.Pid }

// waitLine reads helper lines until one equals want.
func (h *allocHelper) waitLine(want string, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-h.lines:
			if !ok {
				h.kill()
				return fmt.Errorf("alloc.py exited before %q: %v; stderr:\n%s", want, h.cmd.ProcessState, h.stderr)
			}
			h.t.Logf("alloc.py[%d]: %s", h.pid(), l)
			if l == want {
				return nil
			}
		case <-deadline:
			return fmt.Errorf("alloc.py printed no %q within %v; stderr:\n%s", want, timeout, h.stderr)
		}
	}
}

// kill ends the helper and reaps it; the driver frees its VRAM on exit.
func (h *allocHelper) kill() {
	h.once.Do(func() {
		h.stdin.Close()
		_ = h.cmd.Process.Kill() // it may have exited already
		h.read.Wait()
		_ = h.cmd.Wait() // a killed helper's exit status says nothing
	})
}

// fakeContainer makes procRoot say that pid runs in a Podman container, so
// the real per-process figures from NVML map to a container ID. Where NVML
// reports PIDs of another namespace nothing maps, and the tests say so.
func fakeContainer(t *testing.T, procRoot string, pid int) string {
	t.Helper()
	id := fmt.Sprintf("%064x", pid)
	dir := filepath.Join(procRoot, strconv.Itoa(pid))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cg := "0::/machine.slice/libpod-" + id + ".scope/container\n"
	if err := os.WriteFile(filepath.Join(dir, "cgroup"), []byte(cg), 0o644); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestRealGPUSnapshot(t *testing.T) {
	m, _, _ := realGPU(t)
	s := m.Snapshot(t.Context())
	if s.DriverVersion == "" {
		t.Error("empty driver version")
	}
	for _, d := range s.Devices {
		if d.TotalBytes == 0 || d.UsedBytes+d.FreeBytes > d.TotalBytes || d.Name == "" {
			t.Errorf("GPU %d: implausible %+v", d.Index, d)
		}
		if !strings.HasPrefix(d.UUID, "GPU-") && !strings.HasPrefix(d.UUID, "MIG-") {
			t.Errorf("GPU %d: UUID %q", d.Index, d.UUID)
		}
	}
}

// The second start waits until the first one's stepwise allocation is done
// and has been flat for the settle window.
func TestRealGPUGateHoldsNextStartUntilSettled(t *testing.T) {
	m, procRoot, dev := realGPU(t)
	const (
		steps, stepMiB = 4, 512
		pause          = 1500 * time.Millisecond
		window         = 3 * time.Second
	)
	if dev.FreeBytes < 4*gib {
		t.Skipf("GPU %d has only %s free", dev.Index, formatBytes(dev.FreeBytes))
	}
	g := NewGate(m, clock.New(), testLogger(t), GateConfig{
		SettleWindow: window, SettleTimeout: 60 * time.Second, PollInterval: 200 * time.Millisecond,
	})
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()

	a, err := g.Acquire(ctx, Request{Service: "alloc-a", NeedBytes: 2 * gib, Devices: deviceRef(dev)})
	if err != nil {
		t.Fatal(err)
	}
	h := startAlloc(t, helperEnv(m, dev), steps, stepMiB, pause)
	a.Track(fakeContainer(t, procRoot, h.pid()))

	var aSettled atomic.Bool
	bAdmitted := make(chan bool, 1) // carries aSettled at B's admission
	go func() {
		b, err := g.Acquire(ctx, Request{Service: "alloc-b", Devices: deviceRef(dev)})
		if err != nil {
			bAdmitted <- false
			return
		}
		bAdmitted <- aSettled.Load()
		b.Release()
	}()
	eventually(t, "alloc-b queued", func() bool { return len(g.Waiting()) == 1 })
	if r := reasons(g); r[0] != "alloc-b: waiting for alloc-a to settle" {
		t.Errorf("Waiting() = %q", r)
	}

	res := a.Settle(ctx, nil)
	aSettled.Store(true)
	t.Logf("alloc-a: %v after %v, device delta %s, tracked peak %s (known %v)", res.Outcome, res.Elapsed,
		formatBytes(uint64(max(res.DeviceDeltaBytes, 0))), formatBytes(res.PeakBytes), res.PeakKnown)
	// Every step must be done before the gate calls it settled.
	if err := h.waitLine("holding", time.Second); err != nil {
		t.Fatalf("settled before the helper finished allocating: %v", err)
	}
	select {
	case <-bAdmitted:
		t.Fatal("alloc-b admitted while alloc-a held the lane")
	default:
	}
	a.Release()
	if ok := recv(t, bAdmitted, "alloc-b admission"); !ok {
		t.Fatal("alloc-b admitted before alloc-a settled (or its Acquire failed)")
	}

	if res.Outcome != OutcomeSettled {
		t.Fatalf("outcome %v, want settled", res.Outcome)
	}
	if earliest := time.Duration(steps-1)*pause + window; res.Elapsed < earliest {
		t.Errorf("settled after %v, before the last step + window (%v)", res.Elapsed, earliest)
	}
	want := int64(steps*stepMiB) * int64(mib) * 9 / 10
	if res.DeviceDeltaBytes < want {
		t.Errorf("device used grew by %d bytes, want at least %d", res.DeviceDeltaBytes, want)
	}
	if !res.PeakKnown {
		t.Log("NVML attributed no memory to the helper's PID (PID namespace?): learned VRAM falls back to the device delta")
	} else if res.PeakBytes < uint64(want) {
		t.Errorf("tracked peak %s, want at least %s", formatBytes(res.PeakBytes), formatBytes(uint64(want)))
	}
	if l, ok := res.Learned(); !ok || l < uint64(want) {
		t.Errorf("Learned() = %s, %v", formatBytes(l), ok)
	}
}

// A start whose need exceeds free VRAM waits, visibly and with the reason,
// and is admitted once the memory holder exits; a need above the device's
// total is refused at once.
func TestRealGPUGateWaitsForFreeVRAM(t *testing.T) {
	m, _, dev := realGPU(t)
	g := NewGate(m, clock.New(), testLogger(t), GateConfig{
		SettleWindow: 2 * time.Second, SettleTimeout: 30 * time.Second, PollInterval: 200 * time.Millisecond,
	})
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()

	_, err := g.Acquire(ctx, Request{Service: "too-big", NeedBytes: dev.TotalBytes + gib, Devices: deviceRef(dev)})
	if !errors.Is(err, ErrNeverFits) {
		t.Fatalf("need above total: err = %v, want ErrNeverFits", err)
	}

	if dev.FreeBytes < 4*gib {
		t.Skipf("GPU %d has only %s free", dev.Index, formatBytes(dev.FreeBytes))
	}
	h := startAlloc(t, helperEnv(m, dev), 1, 2048, 0)
	if err := h.waitLine("holding", 60*time.Second); err != nil {
		t.Fatal(err)
	}
	var now Device
	for _, d := range m.Snapshot(ctx).Devices {
		if d.Index == dev.Index {
			now = d
		}
	}
	need := now.FreeBytes + gib // fits only once the helper's 2 GiB are back
	t.Logf("helper holds memory: %s free, asking for %s", formatBytes(now.FreeBytes), formatBytes(need))

	got := acquireAsync(ctx, g, Request{Service: "alloc-big", NeedBytes: need, Devices: deviceRef(dev)})
	eventually(t, "alloc-big waiting for memory", func() bool {
		w := g.Waiting()
		return len(w) == 1 && strings.Contains(w[0].Reason, "free VRAM")
	})
	reason := g.Waiting()[0].Reason
	t.Logf("Waiting(): %s", reason)
	if !strings.HasPrefix(reason, "waiting for "+formatBytes(need)+" free VRAM") {
		t.Errorf("reason %q does not name the need %s", reason, formatBytes(need))
	}
	select {
	case a := <-got:
		t.Fatalf("admitted while memory was short: %+v", a)
	case <-time.After(time.Second):
	}

	killed := time.Now()
	h.kill()
	a := recv20(t, got)
	if a.err != nil {
		t.Fatalf("Acquire after the helper exited: %v", a.err)
	}
	t.Logf("admitted %v after the helper was killed", time.Since(killed).Round(time.Millisecond))
	a.slot.Release()
}

func recv20(t *testing.T, ch <-chan acquired) acquired {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(20 * time.Second):
		t.Fatal("not admitted within 20s of the memory being freed")
	}
	return acquired{}
}
