//go:build integration

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/hostagent/hostagent/internal/testsupport/redistest"
)

// The browser test of the status page: Debian's chromium (install-deps),
// driven over CDP, against the real agent on a private Podman running the
// demo stack. HOSTAGENT_SCREENSHOTS=DIR keeps the screenshots there
// (docs/img/dashboard.png is one of them).

// demoStack is tools/demo's compose file with the test's project name
// and free host ports, so that it can run beside `make demo`.
func demoStack(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../tools/demo/docker-compose.demo.yml")
	if err != nil {
		t.Fatal(err)
	}
	s := regexp.MustCompile(`(?m)^name:.*\n`).ReplaceAllString(string(b), "")
	return regexp.MustCompile(`127\.0\.0\.1:28\d\d\d:`).ReplaceAllStringFunc(s, func(string) string {
		return fmt.Sprintf("127.0.0.1:%d:", redistest.FreePort(t))
	})
}

func (a *liveAgent) apiAddr() string {
	for _, e := range a.env {
		if v, ok := strings.CutPrefix(e, "ORCHESTRATOR_API_ADDR="); ok {
			return v
		}
	}
	a.t.Fatal("no API address")
	return ""
}

func (a *liveAgent) getJSON(path string, v any) {
	a.t.Helper()
	resp, err := http.Get("http://" + a.apiAddr() + path)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		a.t.Fatalf("GET %s: %v", path, err)
	}
}

// browser starts a headless chromium with a fresh profile; page errors
// (uncaught exceptions, console.error) are collected for the test to check.
func browser(t *testing.T) (context.Context, func() []string) {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium not found: run scripts/install-deps.sh (Debian package chromium)")
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	var mu sync.Mutex
	var errs []string
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			// The browser logs a refused WebSocket while the agent is down:
			// that is the reconnect working, not a page error.
			if m.IsException() || (m.Type == chromedp.ConsoleError && m.Source != "network") {
				mu.Lock()
				errs = append(errs, m.String())
				mu.Unlock()
			}
		}
	}()
	return ctx, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), errs...) }
}

func js[T any](ctx context.Context, t *testing.T, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// waitJS waits until expr is truthy in the page.
func waitJS(ctx context.Context, t *testing.T, desc string, limit time.Duration, expr string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(limit))); err != nil {
		// What the page shows instead, to tell why.
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({ready: document.body.dataset.ready, conn: document.querySelector('#conn')?.textContent, summary: document.querySelector('#summary')?.textContent, cards: [...document.querySelectorAll('#phases .svc')].map((c) => c.dataset.service + ':' + c.dataset.status)})`))
		t.Fatalf("%s: not within %s: %v\npage: %s", desc, limit, err, state)
	}
}

func screenshot(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := os.Getenv("HOSTAGENT_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", p, len(png))
}

func colorScheme(v string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		p := emulation.SetEmulatedMediaParams{}
		if v != "" {
			p.Features = []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: v}}
		}
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, p)
		return err
	})
}

// contrastJS lists the visible text elements whose colour is below 4.5:1
// against the first opaque background behind them.
const contrastJS = `(() => {
  const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0);
  const bg = (el) => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor); if (c.length === 3 || c[3] > 0.9) return c; } return [255, 255, 255]; };
  const bad = [];
  let checked = 0;
  const sel = 'h1, h2, h3, #summary, #conn, #notice, .hint, code, button, select, .svc h4, .svc dt, .svc dd, .badge, .gname, .gval, #gpu-body p, #ev-list li, #ev-list time, #ev-list .st';
  for (const el of document.querySelectorAll(sel)) {
    if (!el.offsetParent || !el.textContent.trim()) continue;
    checked++;
    const f = lum(rgb(getComputedStyle(el).color)), b = lum(bg(el));
    const r = (Math.max(f, b) + 0.05) / (Math.min(f, b) + 0.05);
    if (r < 4.5) bad.push(el.tagName + '.' + el.className + ' "' + el.textContent.trim().slice(0, 30) + '": ' + r.toFixed(2));
  }
  return {checked, bad};
})()`

func card(name, attr string) string {
	return fmt.Sprintf(`document.querySelector('#phases [data-service=%q]')?.dataset.%s`, name, attr)
}

func TestDashboardInBrowser(t *testing.T) {
	a := newLiveAgent(t, demoStack(t))
	a.start()
	a.waitFor("demo stack running", 3*time.Minute, func(m map[string]cliService) bool {
		for _, s := range m {
			if s.Status != "running" {
				return false
			}
		}
		return len(m) == 7
	})
	ctx, pageErrors := browser(t)

	t0 := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+a.apiAddr()+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(ctx, t, "page rendered", 10*time.Second, `document.body.dataset.ready === 'true' && document.querySelectorAll('#phases .svc').length === 7`)
	t.Logf("first meaningful render (every service card): %s after navigation", time.Since(t0).Round(time.Millisecond))
	waitJS(ctx, t, "WebSocket live", 10*time.Second, `document.querySelector('#conn').dataset.state === 'live'`)

	// Every service, phase by phase, in the plan's order.
	var plan struct {
		Phases []struct {
			Phase    int      `json:"phase"`
			Services []string `json:"services"`
		} `json:"phases"`
	}
	a.getJSON("/api/system/plan", &plan)
	shown := js[[]struct {
		Title    string   `json:"title"`
		Services []string `json:"services"`
	}](ctx, t, `[...document.querySelectorAll('#phases .phase')].map(s => ({title: s.dataset.phase, services: [...s.querySelectorAll('.svc')].map(c => c.dataset.service)}))`)
	if len(shown) != len(plan.Phases) {
		t.Fatalf("page shows %d phase groups, plan has %d: %+v", len(shown), len(plan.Phases), shown)
	}
	for i, p := range plan.Phases {
		if !strings.HasPrefix(shown[i].Title, fmt.Sprintf("Phase %d", p.Phase)) || strings.Join(shown[i].Services, ",") != strings.Join(p.Services, ",") {
			t.Errorf("group %d: page %q %v, plan phase %d %v", i, shown[i].Title, shown[i].Services, p.Phase, p.Services)
		}
	}
	for _, n := range []string{"postgres", "redis", "ai-detector", "ai-llm", "ai-florence", "backend", "frontend"} {
		if st := js[string](ctx, t, card(n, "status")); st != "running" {
			t.Errorf("%s shows %q, want running", n, st)
		}
	}
	if got := js[string](ctx, t, `document.querySelector('#phases [data-service="ai-llm"] [data-f="ports"] dd').textContent`); !strings.Contains(got, "→8080/tcp") {
		t.Errorf("ai-llm ports: %q", got)
	}
	if n := js[int](ctx, t, `document.querySelectorAll('#gantt .grow .bar.real').length`); n != 7 {
		t.Errorf("timeline shows %d actual bars, want 7", n)
	}
	if n := js[int](ctx, t, `document.querySelectorAll('#gantt .grow.crit').length`); n == 0 {
		t.Error("timeline marks no critical path")
	}

	// GPU: this machine has none.
	waitJS(ctx, t, "GPU panel", 10*time.Second, `document.querySelector('#nvml')?.textContent.includes('NVML unavailable')`)

	// Restart without the token: the explanation, no request, no change.
	before := a.services()["frontend"]
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#phases [data-service="frontend"] [data-a="restart"]`))); err != nil {
		t.Fatal(err)
	}
	waitJS(ctx, t, "no-token explanation", 5*time.Second, `document.querySelector('#notice').textContent.includes('/etc/hostagent/token')`)
	if js[bool](ctx, t, `document.querySelector('#confirm').open`) {
		t.Error("confirmation opened without a token")
	}
	time.Sleep(time.Second)
	if after := a.services()["frontend"]; after.RestartCount != before.RestartCount || after.ContainerID != before.ContainerID || after.Status != "running" {
		t.Errorf("restart without a token changed frontend: %+v -> %+v", before, after)
	}
	var evs struct {
		Events []struct {
			Message string `json:"message"`
		} `json:"events"`
	}
	a.getJSON("/api/system/health/events?limit=500", &evs)
	for _, e := range evs.Events {
		if e.Message == "Manual restart initiated" {
			t.Error("a restart was initiated without a token")
		}
	}

	// podman kill: the row turns to the failure state within 1 s. A
	// MutationObserver stamps the moment, so polling gaps do not count.
	js[bool](ctx, t, `(() => { const c = document.querySelector('#phases [data-service="ai-florence"]');
		window.failAt = 0; new MutationObserver(() => { if (!window.failAt && c.dataset.tone === 'fail') window.failAt = Date.now(); })
		.observe(c, {attributes: true}); return true; })()`)
	killStart := time.Now()
	if out, err := a.pm.Podman(t.Context(), "kill", a.project+"-ai-florence-1"); err != nil {
		t.Fatalf("podman kill: %v %s", err, out)
	}
	killed := time.Now()
	waitJS(ctx, t, "ai-florence shown failed", 5*time.Second, `window.failAt > 0`)
	failAt := time.UnixMilli(int64(js[float64](ctx, t, `window.failAt`)))
	t.Logf("ai-florence shown failed %s after podman kill began, %s after it returned",
		failAt.Sub(killStart).Round(time.Millisecond), failAt.Sub(killed).Round(time.Millisecond))
	if d := failAt.Sub(killed); d > time.Second {
		t.Errorf("ai-florence turned to the failure state %s after the kill, want within 1s", d)
	}
	waitJS(ctx, t, "ai-florence back to running", 60*time.Second, card("ai-florence", "status")+` === 'running'`)
	if got := js[string](ctx, t, `document.querySelector('#phases [data-service="ai-florence"] [data-f="failures"] dd').textContent`); got != "1" {
		t.Errorf("ai-florence failures shown %q, want 1", got)
	}

	// With the token (entered once, typed like a person would), restart
	// through the confirmation: the event log shows it.
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#token`), "s3cret-token\r"),
	); err != nil {
		t.Fatal(err)
	}
	waitJS(ctx, t, "token kept", 5*time.Second, `sessionStorage.getItem('hostagent.token') === 's3cret-token' && !document.querySelector('#auth-ok').hidden`)
	if !strings.HasSuffix(js[string](ctx, t, `location.href`), "/") {
		t.Error("the token form changed the URL")
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#phases [data-service="frontend"] [data-a="restart"]`))); err != nil {
		t.Fatal(err)
	}
	waitJS(ctx, t, "confirmation", 5*time.Second, `document.querySelector('#confirm').open`)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#confirm-ok`))); err != nil {
		t.Fatal(err)
	}
	waitJS(ctx, t, "restart in the event log", 10*time.Second,
		`[...document.querySelectorAll('#ev-list li[data-service="frontend"]')].some(li => li.textContent.includes('Manual restart initiated'))`)
	waitJS(ctx, t, "frontend running again, one restart shown", 60*time.Second, card("frontend", "status")+` === 'running' && `+
		fmt.Sprintf(`document.querySelector('#phases [data-service="frontend"] [data-f="restarts"] dd').textContent === '%d'`, before.RestartCount+1))
	if s := a.services()["frontend"]; s.RestartCount != before.RestartCount+1 {
		t.Errorf("frontend restart count %d, want %d", s.RestartCount, before.RestartCount+1)
	}
	// The timeline keeps the bring-up and counts the later restarts.
	if n := js[int](ctx, t, `document.querySelectorAll('#gantt .grow .bar.real').length`); n != 7 {
		t.Errorf("after the restarts the timeline shows %d actual bars, want 7", n)
	}
	if got := js[string](ctx, t, `document.querySelector('#gantt [data-service="ai-florence"] .gval').textContent`); !strings.Contains(got, "restarted 1×") {
		t.Errorf("ai-florence timeline: %q, want the restart counted", got)
	}

	// Disable and enable through the page: DISABLED with its reason, then back.
	for _, step := range []struct{ button, badge, note string }{{"Disable", "DISABLED", "DISABLED: Service disabled"}, {"Enable", "RUNNING", ""}} {
		sel := `#phases [data-service="frontend"] [data-a="toggle"]`
		if got := js[string](ctx, t, `document.querySelector('`+sel+`').textContent`); got != step.button {
			t.Fatalf("frontend toggle says %q, want %q", got, step.button)
		}
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
			t.Fatal(err)
		}
		waitJS(ctx, t, step.button+" confirmation", 5*time.Second, `document.querySelector('#confirm').open`)
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#confirm-ok`))); err != nil {
			t.Fatal(err)
		}
		waitJS(ctx, t, "frontend "+step.badge, 10*time.Second, fmt.Sprintf(
			`document.querySelector('#phases [data-service="frontend"] .badge').textContent === %q && document.querySelector('#phases [data-service="frontend"] [data-f="detail"] dd').textContent === %q`, step.badge, step.note))
	}

	// Keyboard: Enter on a focused Restart opens the confirmation, Escape
	// cancels it, and nothing is restarted.
	redis := a.services()["redis"]
	js[bool](ctx, t, `document.querySelector('#phases [data-service="redis"] [data-a="restart"]').focus(), true`)
	if err := chromedp.Do(ctx, chromedp.KeyEvent("\r")); err != nil {
		t.Fatal(err)
	}
	waitJS(ctx, t, "confirmation from the keyboard", 5*time.Second, `document.querySelector('#confirm').open`)
	if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Escape)); err != nil {
		t.Fatal(err)
	}
	waitJS(ctx, t, "Escape closes the confirmation", 5*time.Second, `!document.querySelector('#confirm').open`)
	time.Sleep(time.Second)
	if s := a.services()["redis"]; s.RestartCount != redis.RestartCount || s.ContainerID != redis.ContainerID {
		t.Errorf("a cancelled confirmation restarted redis: %+v -> %+v", redis, s)
	}

	// The filter shows one service's events only.
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS(`#ev-filter`), "frontend")); err != nil {
		t.Fatal(err)
	}
	js[bool](ctx, t, `document.querySelector('#ev-filter').dispatchEvent(new Event('change')), true`)
	if n := js[int](ctx, t, `[...document.querySelectorAll('#ev-list li[data-service]')].filter(li => !li.hidden && li.dataset.service !== 'frontend').length`); n != 0 {
		t.Errorf("filter on frontend still shows %d other events", n)
	}
	js[bool](ctx, t, `(document.querySelector('#ev-filter').value = '', document.querySelector('#ev-filter').dispatchEvent(new Event('change')), true)`)
	time.Sleep(1500 * time.Millisecond) // let the uptimes tick for the picture
	screenshot(ctx, t, "dashboard.png")

	// A phone: one column, nothing wider than the screen.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatal(err)
	}
	if w := js[int](ctx, t, `document.documentElement.scrollWidth - window.innerWidth`); w > 0 {
		t.Errorf("on a 390 px screen the page is %d px too wide", w)
	}
	screenshot(ctx, t, "dashboard-phone.png")
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}

	// Contrast, light and dark: text against what is behind it, WCAG AA.
	for _, scheme := range []string{"light", "dark"} {
		if err := chromedp.Do(ctx, colorScheme(scheme)); err != nil {
			t.Fatal(err)
		}
		res := js[struct {
			Checked int      `json:"checked"`
			Bad     []string `json:"bad"`
		}](ctx, t, contrastJS)
		if res.Checked < 100 || len(res.Bad) > 0 {
			t.Errorf("%s scheme: %d text elements checked, below 4.5:1 contrast:\n%s", scheme, res.Checked, strings.Join(res.Bad, "\n"))
		}
	}
	screenshot(ctx, t, "dashboard-dark.png")
	if err := chromedp.Do(ctx, colorScheme("")); err != nil {
		t.Fatal(err)
	}

	// The agent restarts: the page says it is reconnecting, then that it is
	// back, on its own.
	a.stop(syscall.SIGTERM)
	waitJS(ctx, t, "page says it reconnects", 10*time.Second, `document.querySelector('#conn').dataset.state === 'down' && document.querySelector('#conn').textContent.includes('reconnecting')`)
	a.start()
	waitJS(ctx, t, "page reconnected", 60*time.Second, `document.querySelector('#conn').dataset.state === 'live' && document.querySelector('#conn').textContent.includes('Reconnected')`)
	waitJS(ctx, t, "services after the reconnect", 30*time.Second, `document.querySelectorAll('#phases .svc[data-status="running"]').length === 7`)

	if errs := pageErrors(); len(errs) > 0 {
		t.Errorf("page errors:\n%s", strings.Join(errs, "\n"))
	}
}
