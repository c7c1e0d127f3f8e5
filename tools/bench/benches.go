package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hostagent/hostagent/engine"
	"github.com/hostagent/hostagent/internal/testsupport/podmantest"
	"github.com/hostagent/hostagent/tools/loadgen"
)

// nineService is one service of a 9-service stack shaped like the nemotron
// stack.
type nineService struct {
	name, category string
	delay          time.Duration
	deps           []string
}

// nineServices is that stack: the nemotron stack's services and
// dependencies, with startup times scaled down 20x.
var nineServices = []nineService{
	{"postgres", "infrastructure", 500 * time.Millisecond, nil},
	{"redis", "infrastructure", 250 * time.Millisecond, nil},
	{"ai-detector", "ai", 3 * time.Second, nil},
	{"ai-llm", "ai", 6 * time.Second, nil},
	{"ai-florence", "ai", 3 * time.Second, nil},
	{"ai-clip", "ai", 3 * time.Second, nil},
	{"ai-enrichment", "ai", 9 * time.Second, nil},
	{"backend", "application", 1500 * time.Millisecond, []string{"postgres", "redis", "ai-detector", "ai-llm"}},
	{"frontend", "frontend", time.Second, []string{"backend"}},
}

// nineImage plays every one of those services: testsvc, with a curl (and
// the other tools real images' checks call) that asks it, so the file's
// exec check passes when Podman runs it for Compose, as it would in a real
// image.
const nineImage = "localhost/hostagent-bench-nine:latest"

// nineStack is nineServices as a compose file: services become healthy
// HEALTHY_AFTER after their process starts, checked over HTTP on the port
// published at portBase+i. No start_interval: how fast readiness is seen
// is the agent's own doing.
func nineStack(portBase int) string {
	var b strings.Builder
	b.WriteString("services:\n")
	for i, s := range nineServices {
		fmt.Fprintf(&b, `  %s:
    image: %s
    environment: {HEALTHY_AFTER: %s}
    ports: ['127.0.0.1:%d:8080']
    healthcheck: {test: ['CMD', 'curl', '-f', 'http://localhost:8080/health'], interval: 10s, timeout: 2s, retries: 3, start_period: 60s}
    x-hostagent: {category: %s, startup_time: %s}
`, s.name, nineImage, s.delay, portBase+i, s.category, s.delay)
		if len(s.deps) > 0 {
			b.WriteString("    depends_on:\n")
			for _, d := range s.deps {
				fmt.Fprintf(&b, "      %s: {condition: service_healthy}\n", d)
			}
		}
	}
	return b.String()
}

func detectionStack(n int) string {
	var b strings.Builder
	b.WriteString("services:\n")
	for i := range n {
		fmt.Fprintf(&b, `  svc%d:
    image: %s
    healthcheck: {test: ['CMD-SHELL', 'test -f /tmp/healthy'], interval: 10s, retries: 3, start_interval: 100ms}
    x-hostagent: {restart: {backoff_base: 1ms, backoff_max: 1ms, max_failures: 100000}}
`, i, podmantest.TestsvcImage)
	}
	return b.String()
}

func benchDetection(ctx context.Context, o options, pm *podmantest.Service) ([]row, []string, error) {
	const n = 6
	// Free ports, not fixed ones: a fixed port in the ephemeral range can be
	// any outgoing connection's, and the agent then serves on its socket only.
	port, err := freePorts(1)
	if err != nil {
		return nil, nil, err
	}
	a, err := startAgent(ctx, o.bin, pm, "detect", detectionStack(n), port)
	if err != nil {
		return nil, nil, err
	}
	defer a.stop(ctx)
	if err := a.waitAll(ctx, 2*time.Minute, "stack running", allRunning); err != nil {
		return nil, nil, err
	}
	c, err := engine.New(engine.Options{Host: pm.URL()})
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	// The reference: when the engine's die event reaches a subscriber of
	// our own, in the same run.
	evCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	dies := make(chan time.Time, 16)
	stream := c.Events(evCtx, a.project)
	go func() {
		for ev := range stream {
			if ev.Kind == engine.EventDie {
				select {
				case dies <- time.Now():
				default:
				}
			}
		}
	}()
	var agentLat, eventLat []float64
	var lastSeq uint64
	for k := range o.kills {
		name := fmt.Sprintf("svc%d", k%n)
		if err := a.waitAll(ctx, time.Minute, name+" running", func(ss []service) bool {
			for _, s := range ss {
				if s.Name == name {
					return s.Status == "running"
				}
			}
			return false
		}); err != nil {
			return nil, nil, err
		}
		time.Sleep(150 * time.Millisecond)
		for len(dies) > 0 {
			<-dies
		}
		if evs, err := a.events(ctx); err == nil && len(evs) > 0 {
			lastSeq = evs[len(evs)-1].Seq
		}
		t0 := time.Now()
		if out, err := a.pm.Podman(ctx, "kill", a.project+"-"+name+"-1"); err != nil {
			return nil, nil, fmt.Errorf("podman kill %s: %w %s", name, err, out)
		}

		var issued time.Time
		deadline := time.Now().Add(10 * time.Second)
		for issued.IsZero() {
			if time.Now().After(deadline) {
				return nil, nil, fmt.Errorf("kill %d of %s: no restart within 10s", k+1, name)
			}
			time.Sleep(10 * time.Millisecond)
			evs, err := a.events(ctx)
			if err != nil {
				continue
			}
			for _, e := range evs {
				if e.Seq > lastSeq && e.Data.Name == name && e.Message == "Restart initiated" {
					issued = e.Time
				}
			}
		}
		agentLat = append(agentLat, issued.Sub(t0).Seconds()*1000)
		select {
		case at := <-dies:
			eventLat = append(eventLat, at.Sub(t0).Seconds()*1000)
		case <-time.After(5 * time.Second):
		}
	}
	p50, p99 := pct(agentLat, 0.5), pct(agentLat, 0.99)
	pass := p99 < 250
	return []row{{
			name:      fmt.Sprintf("crash detection: kill → restart issued (%d kills)", len(agentLat)),
			measured:  fmt.Sprintf("p50 %.0f ms, p99 %.0f ms, max %.0f ms", p50, p99, pct(agentLat, 1)),
			reference: fmt.Sprintf("engine die event reaches a subscriber: p50 %.0f ms, p99 %.0f ms", pct(eventLat, 0.5), pct(eventLat, 0.99)),
			target:    "p99 < 250 ms",
			verdict:   verdict(pass), pass: pass,
		}}, []string{
			"Crash detection: the container is killed with `podman kill`; the clock starts before the command and stops at the agent's `Restart initiated` event (backoff 1 ms, so the restart is issued as soon as the death is known). The agent learns of the exit from a pidfd on the container's main process; Podman's own die event is the fallback. Reference: that die event as seen by a plain event subscriber in the bench process (Podman 4.3 tails its events file, so it trails). One figure over all kills (percentiles, not a median of runs).",
		}, nil
}

func pct(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}

func list(xs []float64, format string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(parts, ", ")
}

func idleStack(n int) string {
	var b strings.Builder
	b.WriteString("services:\n")
	for i := range n {
		fmt.Fprintf(&b, "  idle%03d: {image: %s, command: ['sleep', '864000']}\n", i, podmantest.BusyboxImage)
	}
	return b.String()
}

// benchIdle brings n services up and measures the agent's CPU and memory
// while it supervises them, nothing happening.
func benchIdle(ctx context.Context, o options, pm *podmantest.Service) ([]row, []string, error) {
	podmanPID := findPID(pm.Socket)
	port, err := freePorts(1)
	if err != nil {
		return nil, nil, err
	}
	a, err := startAgent(ctx, o.bin, pm, "idle", idleStack(o.services), port, "ORCHESTRATOR_LOG_LEVEL=info")
	if err != nil {
		return nil, nil, err
	}
	defer a.stop(ctx)
	if err := a.waitAll(ctx, 10*time.Minute, fmt.Sprintf("%d services running", o.services), allRunning); err != nil {
		return nil, nil, err
	}
	time.Sleep(10 * time.Second) // let bring-up's garbage go
	var cpus, rss, podmanCPU []float64
	for range o.runs {
		t0, _, err := procStat(a.cmd.Process.Pid)
		if err != nil {
			return nil, nil, err
		}
		p0, _, _ := procStat(podmanPID)
		start := time.Now()
		time.Sleep(o.window)
		t1, kb, err := procStat(a.cmd.Process.Pid)
		if err != nil {
			return nil, nil, err
		}
		p1, _, _ := procStat(podmanPID)
		secs := time.Since(start).Seconds()
		const clkTck = 100 // USER_HZ on Linux
		cpus = append(cpus, float64(t1-t0)/clkTck/secs*100)
		podmanCPU = append(podmanCPU, float64(p1-p0)/clkTck/secs*100)
		rss = append(rss, float64(kb)/1024)
		fmt.Printf("   window: agent %.2f%% of a core, RSS %.1f MB; podman service %.2f%%\n", cpus[len(cpus)-1], rss[len(rss)-1], podmanCPU[len(podmanCPU)-1])
	}
	cpu, mem := median(cpus), median(rss)
	pass := cpu < 1 && mem < 40
	return []row{{
			name:      fmt.Sprintf("idle supervision of %d services", o.services),
			measured:  fmt.Sprintf("CPU %.2f%% of a core, RSS %.1f MB", cpu, mem),
			reference: fmt.Sprintf("the Podman API service in the same windows: %.2f%% of a core", median(podmanCPU)),
			target:    "< 1% of a core and < 40 MB",
			verdict:   verdict(pass), pass: pass,
		}}, []string{
			fmt.Sprintf("Idle: %d busybox `sleep` containers with no compose healthcheck (running-status checks every 30 s, the default interval); CPU from /proc/PID/stat over %s windows starting 10 s after the agent reports every service running, RSS from /proc/PID/status VmRSS at each window's end.", o.services, o.window),
		}, nil
}

// findPID finds the process whose command line mentions needle.
func findPID(needle string) int {
	out, err := exec.Command("pgrep", "-f", needle).Output()
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.Fields(string(out))[0])
	return pid
}

func benchREST(ctx context.Context, o options, pm *podmantest.Service) ([]row, []string, error) {
	base, err := freePorts(len(nineServices) + 1)
	if err != nil {
		return nil, nil, err
	}
	a, err := startAgent(ctx, o.bin, pm, "rest", nineStack(base), base+len(nineServices))
	if err != nil {
		return nil, nil, err
	}
	defer a.stop(ctx)
	if err := a.waitAll(ctx, 2*time.Minute, "stack running", allRunning); err != nil {
		return nil, nil, err
	}
	const path = "/api/system/services"
	var body json.RawMessage
	if err := a.get(ctx, path, &body); err != nil {
		return nil, nil, err
	}
	// The reference: a bare net/http server answering the same bytes.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	bare := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})}
	go func() { _ = bare.Serve(ln) }()
	defer bare.Close()

	var p50, p99, r50, r99 []float64
	for range o.runs {
		res, err := loadgen.Run(ctx, loadgen.Options{Addr: a.addr, Path: path, Rate: o.rate, Duration: o.restDur})
		if err != nil {
			return nil, nil, err
		}
		if res.Errors > 0 {
			return nil, nil, fmt.Errorf("%d of %d requests failed", res.Errors, res.Requests)
		}
		ref, err := loadgen.Run(ctx, loadgen.Options{Addr: ln.Addr().String(), Path: path, Rate: o.rate, Duration: o.restDur})
		if err != nil {
			return nil, nil, err
		}
		fmt.Printf("   agent: %s\n   bare:  %s\n", res, ref)
		p50 = append(p50, ms(res.Percentile(0.5)))
		p99 = append(p99, ms(res.Percentile(0.99)))
		r50 = append(r50, ms(ref.Percentile(0.5)))
		r99 = append(r99, ms(ref.Percentile(0.99)))
	}
	wrk := wrkSummary(ctx, a.addr+path)
	pass := median(p99) < 5
	return []row{{
			name:      fmt.Sprintf("REST GET %s at %d req/s", path, o.rate),
			measured:  fmt.Sprintf("p50 %.2f ms, p99 %.2f ms", median(p50), median(p99)),
			reference: fmt.Sprintf("bare net/http with the same body: p50 %.2f ms, p99 %.2f ms", median(r50), median(r99)),
			target:    "p99 < 5 ms at 2k rps",
			verdict:   verdict(pass), pass: pass,
		}}, []string{
			fmt.Sprintf("REST: open-loop load (tools/loadgen: requests leave on schedule and latency counts from the due time) for %s per run against the agent running the 9-service stack, then against a bare net/http server with the same %d-byte body. Closed-loop wrk on the same agent, for peak throughput: %s.", o.restDur, len(body), wrk),
		}, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

var wrkLine = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
var wrk99 = regexp.MustCompile(`99%\s+([\d.]+\w+)`)

func wrkSummary(ctx context.Context, url string) string {
	out, err := exec.CommandContext(ctx, "wrk", "-t2", "-c32", "-d5s", "--latency", "http://"+url).CombinedOutput()
	if err != nil {
		return "wrk not available (" + strings.TrimSpace(string(bytes.TrimSpace(out))) + ")"
	}
	rps, p99 := "?", "?"
	if m := wrkLine.FindSubmatch(out); m != nil {
		rps = string(m[1])
	}
	if m := wrk99.FindSubmatch(out); m != nil {
		p99 = string(m[1])
	}
	return fmt.Sprintf("`wrk -t2 -c32 -d5s` %s req/s with p99 %s", rps, p99)
}
