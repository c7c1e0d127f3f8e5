package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hostagent/hostagent/api/ui"
	"github.com/hostagent/hostagent/internal/testsupport/podmantest"
)

// benchPage measures the status page: the bytes a browser fetches for it,
// and the time from navigation to every service card drawn (the page's
// "hostagent-rendered" mark), in a cold headless chromium per run. The
// reference is the browser's own first contentful paint of the same page.
func benchPage(ctx context.Context, o options, pm *podmantest.Service) ([]row, []string, error) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		return nil, nil, fmt.Errorf("chromium not found: run scripts/install-deps.sh")
	}
	base, err := freePorts(len(nineServices) + 1)
	if err != nil {
		return nil, nil, err
	}
	a, err := startAgent(ctx, o.bin, pm, "page", nineStack(base), base+len(nineServices))
	if err != nil {
		return nil, nil, err
	}
	defer a.stop(ctx)
	if err := a.waitAll(ctx, 2*time.Minute, "stack running", allRunning); err != nil {
		return nil, nil, err
	}
	var weight int64
	for _, p := range []string{"/", "/ui/app.js", "/ui/style.css"} {
		n, err := fetchSize(ctx, "http://"+a.addr+p)
		if err != nil {
			return nil, nil, err
		}
		weight += n
	}
	var renders, fcps []float64
	for i := range o.runs {
		r, f, err := renderOnce(ctx, chromium, "http://"+a.addr+"/")
		if err != nil {
			return nil, nil, err
		}
		renders, fcps = append(renders, r), append(fcps, f)
		fmt.Printf("   run %d: first meaningful render %.0f ms, first contentful paint %.0f ms\n", i+1, r, f)
	}
	m := median(renders)
	pass := weight <= ui.Budget && m <= 1000
	return []row{{
			name:      "status page: weight and first meaningful render (9 services)",
			measured:  fmt.Sprintf("%.1f KB; %.0f ms (runs %s)", float64(weight)/1024, m, list(renders, "%.0f")),
			reference: fmt.Sprintf("first contentful paint %.0f ms", median(fcps)),
			target:    fmt.Sprintf("≤ %d KB; ≤ 1000 ms", ui.Budget/1024),
			verdict:   verdict(pass), pass: pass,
		}}, []string{
			"Status page: weight is the bytes of /, /ui/app.js and /ui/style.css as served (uncompressed; nothing else is fetched). First meaningful render: navigation start to the page's `hostagent-rendered` mark (every service card and the timeline drawn from the REST API), in a cold headless Debian chromium per run, over loopback; reference: the same load's first contentful paint.",
		}, nil
}

func fetchSize(ctx context.Context, url string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.Copy(io.Discard, resp.Body)
}

func renderOnce(ctx context.Context, chromium, url string) (render, fcp float64, err error) {
	dir, err := os.MkdirTemp("", "hostagent-bench-chromium-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	actx, cancelA := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(1280, 900),
	)
	defer cancelA()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil { // start the browser outside the timing
		return 0, 0, err
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(url)); err != nil {
		return 0, 0, err
	}
	v, err := chromedp.Run(bctx, chromedp.Poll[[]float64](`(() => {
		const r = performance.getEntriesByName('hostagent-rendered')[0];
		const f = performance.getEntriesByName('first-contentful-paint')[0];
		return r && f ? [r.startTime, f.startTime] : null;
	})()`, chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		return 0, 0, fmt.Errorf("status page never rendered: %w", err)
	}
	return v[0], v[1], nil
}
