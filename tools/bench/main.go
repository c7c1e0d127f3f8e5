// Command bench is `make bench`: it measures the agent against the ideal
// on a private Podman and writes docs/benchmarks.md — bring-up makespan
// against the plan's critical path and against Docker Compose v5 on the
// same stack, crash detection against the engine's own die-event latency,
// the bring-up of 100 services (fresh, and again from stopped containers)
// against Podman's serialised create and start floors, idle CPU and memory
// supervising them, the real nemotron file with stand-in images, and
// REST latency at a fixed rate against a bare HTTP server. Every figure is
// the median of several runs, with its reference measured in the same run.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hostagent/hostagent/internal/testsupport/podmantest"
)

type options struct {
	bin      string
	out      string
	runs     int
	kills    int
	services int
	window   time.Duration
	rate     int
	restDur  time.Duration
	only     string
}

// row is one line of the results table.
type row struct {
	name, measured, reference, target, verdict string
	pass                                       bool
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/hostagent", "the hostagent binary")
	flag.StringVar(&o.out, "out", "docs/benchmarks.md", "where to write the results")
	flag.IntVar(&o.runs, "runs", 3, "runs per figure (the median is reported)")
	flag.IntVar(&o.kills, "kills", 60, "podman kills for the detection benchmark")
	flag.IntVar(&o.services, "services", 100, "services for the scale and idle benchmarks")
	flag.DurationVar(&o.window, "window", 30*time.Second, "idle measurement window (per run)")
	flag.IntVar(&o.rate, "rate", 2000, "REST requests per second")
	flag.DurationVar(&o.restDur, "rest-duration", 10*time.Second, "REST load per run")
	flag.StringVar(&o.only, "only", "makespan,detection,scale,idle,nemotron,rest,page", "benchmarks to run")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if _, err := os.Stat(o.bin); err != nil {
		return fmt.Errorf("%s: %w (run make build)", o.bin, err)
	}
	pm, err := podmantest.Start(ctx)
	if err != nil {
		return err
	}
	defer pm.Close()
	if err := pm.EnsureImages(ctx); err != nil {
		return err
	}
	if err := pm.EnsureStandins(ctx, []podmantest.Standin{{Image: nineImage, Service: "nine", Port: 8080}}); err != nil {
		return err
	}
	var rows []row
	var notes []string
	for _, b := range []struct {
		name string
		fn   func(context.Context, options, *podmantest.Service) ([]row, []string, error)
	}{
		{"makespan", benchMakespan},
		{"detection", benchDetection},
		{"scale", benchScale},
		{"idle", benchIdle},
		{"nemotron", benchNemotron},
		{"rest", benchREST},
		{"page", benchPage},
	} {
		if !slices.Contains(strings.Split(o.only, ","), b.name) {
			continue
		}
		fmt.Printf("== %s\n", b.name)
		rs, n, err := b.fn(ctx, o, pm)
		if err != nil {
			return fmt.Errorf("%s: %w", b.name, err)
		}
		for _, r := range rs {
			fmt.Printf("   %s: %s (reference %s, target %s) %s\n", r.name, r.measured, r.reference, r.target, r.verdict)
		}
		rows = append(rows, rs...)
		notes = append(notes, n...)
	}
	return writeReport(o, pm, rows, notes)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func verdict(pass bool) string {
	if pass {
		return "meets target"
	}
	return "MISSES target"
}

func writeReport(o options, pm *podmantest.Service, rows []row, notes []string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks\n\nWritten by `make bench` (`go run ./tools/bench`) on %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "Machine: %s; %s; %s. Each figure is the median of %d runs unless it says otherwise; each reference was measured in the same run.\n\n",
		strings.TrimSpace(cmdOut("nproc"))+" cores", strings.TrimSpace(cmdOut("uname", "-sr")), strings.TrimSpace(cmdOut("podman", "--version")), o.runs)
	b.WriteString("| benchmark | measured | reference (same run) | target | verdict |\n| --- | --- | --- | --- | --- |\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.name, r.measured, r.reference, r.target, r.verdict)
	}
	b.WriteString("\n## How each figure is made\n\n")
	for _, n := range notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	fmt.Fprintf(&b, "\nReproduce: `make bench` (all; it builds Docker Compose into .build/tools first, as `make compose-tool` does), or `go run ./tools/bench -only makespan -runs 5` for one (makespan, detection, scale, idle, nemotron, rest, page). Options: `-kills`, `-services`, `-window`, `-rate`, `-rest-duration`.\n")
	if err := os.MkdirAll("docs", 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(o.out, []byte(b.String()), 0o644); err != nil {
		return err
	}
	fmt.Printf("\nwrote %s\n%s", o.out, b.String())
	return nil
}

func cmdOut(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return name + "?"
	}
	return string(out)
}
