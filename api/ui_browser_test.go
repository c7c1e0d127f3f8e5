//go:build integration

package api

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hostagent/hostagent/gpu"
	"github.com/hostagent/hostagent/supervisor"
)

type fakeGate []gpu.Wait

func (g fakeGate) Waiting() []gpu.Wait { return g }

// TestStatusPageGPUPanelAndText renders the page in chromium against the
// fake supervisor with a GPU (this machine has none, so the live-agent test
// in cmd/hostagent only sees "NVML unavailable"): devices, per-service use
// and learned need, the lane's queue and why its head waits. It also feeds
// markup through a service's detail (the page must show it as text) and
// tries a wrong token (refused, explained, forgotten).
func TestStatusPageGPUPanelAndText(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium not found: run scripts/install-deps.sh (Debian package chromium)")
	}
	f := newFakeSup()
	f.set("ai-yolo26", func(s *supervisor.ServiceStatus) {
		s.GPU = true
		s.LearnedVRAM = 6 << 30
		s.Status = supervisor.Unhealthy
		s.Detail = `<img src=x onerror="window.pwned=1">`
	})
	yolo, _ := f.Service("ai-yolo26")
	snap := gpu.Snapshot{Available: true, DriverVersion: "550.54", Devices: []gpu.Device{{
		Index: 0, Name: "NVIDIA L4", TotalBytes: 24 << 30, UsedBytes: 7 << 30, FreeBytes: 17 << 30,
		Processes: []gpu.Process{{PID: 4242, UsedBytes: 5 << 30, ContainerID: yolo.ContainerID + strings.Repeat("0", 52)}},
	}}}
	gate := fakeGate{
		{Service: "ai-llm", Op: gpu.OpStart, Reason: "waiting for 16.0 GiB free VRAM (17.0 GiB free, 2.0 GiB margin)", Since: time.Now().Add(-5 * time.Second)},
		{Service: "ai-clip", Op: gpu.OpStart, Reason: "behind ai-llm", Since: time.Now()},
	}
	s := newServer(t, f, Options{GPU: fakeGPU{snap}, GPUGate: gate})
	serveReal(t, s)

	actx, cancelA := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate("http://127.0.0.1:"+tcpPort(t, s)+"/")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](`document.body.dataset.ready === 'true' && document.querySelector('#gpu-body .dev')`,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("page with the GPU panel: %v", err)
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('`+sel+`')?.textContent ?? ''`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for sel, want := range map[string]string{
		"#gpu-body .dev h3":                                       "GPU 0 · NVIDIA L4",
		"#gpu-body .dev p":                                        "7.0 GiB used of 24.0 GiB · 17.0 GiB free",
		"#gpu-body .dev li":                                       "ai-yolo26: 5.0 GiB",
		`#gpu-body tr[data-service="ai-yolo26"]`:                  "ai-yolo265.0 GiB6.0 GiB—",
		"#gpu-body .queue li":                                     "ai-llm (start) is at the head and waits: waiting for 16.0 GiB free VRAM (17.0 GiB free, 2.0 GiB margin)",
		`#phases [data-service="ai-yolo26"] .badge`:               "UNHEALTHY",
		`#phases [data-service="ai-yolo26"] [data-f="detail"] dd`: `<img src=x onerror="window.pwned=1">`,
	} {
		if got := text(sel); !strings.HasPrefix(got, want) {
			t.Errorf("%s: %q, want %q", sel, got, want)
		}
	}
	if text("#nvml") != "" {
		t.Error("NVML shown unavailable with a GPU present")
	}
	// A wrong token: the agent refuses it, the page says so and forgets it.
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#token`), "not-the-token\r"),
		chromedp.Click(chromedp.CSS(`#phases [data-service="redis"] [data-a="restart"]`)),
		chromedp.Poll[chromedp.Void](`document.querySelector('#confirm').open`, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(5*time.Second)),
		chromedp.Click(chromedp.CSS(`#confirm-ok`)),
		chromedp.Poll[chromedp.Void](`document.querySelector('#notice').textContent.includes('refused the token') && sessionStorage.getItem('hostagent.token') === null && !document.querySelector('#auth-none').hidden`,
			chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(5*time.Second)),
	); err != nil {
		t.Fatalf("wrong token: %v (notice %q)", err, text("#notice"))
	}
	if calls := f.Calls(); len(calls) != 0 {
		t.Errorf("a wrong token reached the supervisor: %v", calls)
	}
	pwned, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.pwned === 1 || !!document.querySelector('#phases img')`))
	if err != nil || pwned {
		t.Errorf("markup in a service's detail was rendered as HTML (err %v)", err)
	}
}
