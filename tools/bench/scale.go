package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/engine"
	"github.com/hostagent/hostagent/internal/testsupport/podmantest"
)

// floors are Podman's own limits for bringing a stack's containers up,
// measured with the agent's create code (engine.Create, which on Podman
// creates through the Docker-compatible API unless the service asks for
// CDI devices, then through libpod's) and no agent. Every call is made
// one after another unless said otherwise.
type floors struct {
	n int
	// createStart: fresh containers, each created then at once started,
	// one after another (wall time). A fresh bring-up must make every one
	// of those calls, and Podman serialises them, so no fresh bring-up of
	// these containers beats it by much. createStartCreates and
	// createStartStarts are its create and start calls' sums.
	createStart, createStartCreates, createStartStarts time.Duration
	// starts: the containers all pre-created, then started; the sum of the
	// start calls. creates: the sum of the create calls before them.
	starts, creates time.Duration
	// restarts: the same containers after they have run and been
	// stopped, started again; the sum of the start calls (zero unless
	// measured). What an agent restart or a reboot leaves to start.
	restarts time.Duration
	// pairedRestarts: the same stopped containers started two at a time
	// (two goroutines, each taking the next), as the agent's start queue
	// does; wall time.
	pairedRestarts time.Duration
	// pipelined: fresh containers, one goroutine creating them while a
	// second starts each as soon as it exists; wall time. Were Podman to
	// run a create beside a start, this would approach the larger of
	// creates and starts rather than their sum.
	pipelined time.Duration
}

// startFloor measures the fresh-container floors for a stack (all but
// restarts), removing its containers before, between and after.
func startFloor(ctx context.Context, pm *podmantest.Service, opts compose.Options) (f floors, err error) {
	st, c, err := floorStack(ctx, pm, opts)
	if err != nil {
		return f, err
	}
	defer c.Close()
	defer func() { _ = pm.Cleanup(context.WithoutCancel(ctx), st.Name) }()
	f.n = len(st.Services)

	_ = pm.Cleanup(ctx, st.Name)
	t0 := time.Now()
	for _, svc := range st.Services {
		id, d, err := timed(func() (engine.ContainerID, error) { return c.Create(ctx, st, svc.Name) })
		f.createStartCreates += d
		if err != nil {
			return f, err
		}
		_, d, err = timed(func() (struct{}, error) { return struct{}{}, c.Start(ctx, id) })
		f.createStartStarts += d
		if err != nil {
			return f, err
		}
	}
	f.createStart = time.Since(t0)

	_ = pm.Cleanup(ctx, st.Name)
	var ids []engine.ContainerID
	for _, svc := range st.Services {
		id, d, err := timed(func() (engine.ContainerID, error) { return c.Create(ctx, st, svc.Name) })
		f.creates += d
		if err != nil {
			return f, err
		}
		ids = append(ids, id)
	}
	if f.starts, err = startEach(ctx, c, ids); err != nil {
		return f, err
	}

	_ = pm.Cleanup(ctx, st.Name)
	f.pipelined, err = pipelined(ctx, c, st)
	return f, err
}

// floorStack loads the stack as the agent would and opens an engine
// client on the private Podman.
func floorStack(ctx context.Context, pm *podmantest.Service, opts compose.Options) (*compose.Stack, *engine.Client, error) {
	home, _ := os.UserHomeDir()
	opts.Env = []string{"HOME=" + home}
	st, err := compose.Load(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	c, err := engine.New(engine.Options{Host: pm.URL()})
	if err != nil {
		return nil, nil, err
	}
	return st, c, nil
}

// timed runs f and says how long it took.
func timed[T any](f func() (T, error)) (T, time.Duration, error) {
	t0 := time.Now()
	v, err := f()
	return v, time.Since(t0), err
}

// startEach starts the containers one after another; the sum of the calls.
func startEach(ctx context.Context, c *engine.Client, ids []engine.ContainerID) (time.Duration, error) {
	var sum time.Duration
	for _, id := range ids {
		t0 := time.Now()
		if err := c.Start(ctx, id); err != nil {
			return sum, err
		}
		sum += time.Since(t0)
	}
	return sum, nil
}

// startPaired starts the containers two at a time, in order (each of two
// goroutines takes the next); the wall time.
func startPaired(ctx context.Context, c *engine.Client, ids []engine.ContainerID) (time.Duration, error) {
	next := make(chan engine.ContainerID, len(ids))
	for _, id := range ids {
		next <- id
	}
	close(next)
	errs := make(chan error, 2)
	t0 := time.Now()
	for range 2 {
		go func() {
			for id := range next {
				if err := c.Start(ctx, id); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	err := errors.Join(<-errs, <-errs)
	return time.Since(t0), err
}

// pipelined creates the stack's containers in one goroutine while this
// one starts each as soon as it exists; the wall time.
func pipelined(ctx context.Context, c *engine.Client, st *compose.Stack) (time.Duration, error) {
	created := make(chan engine.ContainerID, len(st.Services))
	errc := make(chan error, 1)
	t0 := time.Now()
	go func() {
		defer close(created)
		for _, svc := range st.Services {
			id, err := c.Create(ctx, st, svc.Name)
			if err != nil {
				errc <- err
				return
			}
			created <- id
		}
	}()
	var startErr error
	for id := range created {
		if startErr == nil {
			startErr = c.Start(ctx, id)
		}
	}
	if startErr != nil {
		return 0, startErr
	}
	select {
	case err := <-errc:
		return 0, err
	default:
	}
	return time.Since(t0), nil
}

// stopAll stops the project's containers at once (SIGKILL, no grace: the
// bench's containers have nothing to save) and returns their IDs.
func stopAll(ctx context.Context, pm *podmantest.Service, c *engine.Client, project string) ([]engine.ContainerID, error) {
	list, err := c.List(ctx, project)
	if err != nil {
		return nil, err
	}
	var ids []engine.ContainerID
	args := []string{"stop", "-t", "0"}
	for _, ctr := range list {
		ids = append(ids, ctr.ID)
		args = append(args, string(ctr.ID))
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("project %s has no containers to stop", project)
	}
	if out, err := pm.Podman(ctx, args...); err != nil {
		return nil, fmt.Errorf("podman stop: %w: %s", err, out)
	}
	slices.Sort(ids)
	return ids, nil
}

// lastStarted is the latest StartedAt among the project's containers, the
// earliest, and how many are running.
func lastStarted(ctx context.Context, pm *podmantest.Service, project string) (last, first time.Time, running int, err error) {
	c, err := engine.New(engine.Options{Host: pm.URL()})
	if err != nil {
		return last, first, 0, err
	}
	defer c.Close()
	list, err := c.List(ctx, project)
	if err != nil {
		return last, first, 0, err
	}
	for _, ctr := range list {
		full, err := c.Inspect(ctx, ctr.ID)
		if err != nil {
			return last, first, 0, err
		}
		if t := full.State.StartedAt; !t.IsZero() && (first.IsZero() || t.Before(first)) {
			first = t
		}
		if full.State.Running {
			running++
		}
		if full.State.StartedAt.After(last) {
			last = full.State.StartedAt
		}
	}
	return last, first, running, nil
}

// bringUp is one bring-up by the agent, clocked from the launch of
// `hostagent run` to the latest container StartedAt.
type bringUp struct {
	span, toFirst, agentSaw float64 // seconds after launch
	agentCPU, podmanCPU     float64 // seconds of CPU during it
	creates                 int     // "Container created" lines in its log
	createFirst, createLast float64 // seconds after launch
}

// measureBringUp waits for the agent to report every service running,
// then reads the containers' StartedAt. Every container must have started
// after the launch and be running.
func measureBringUp(ctx context.Context, a *agent, n, podmanPID int) (b bringUp, err error) {
	pm0, _, _ := procStat(podmanPID)
	agent0, _, _ := procStat(a.cmd.Process.Pid)
	if err := a.waitAll(ctx, 10*time.Minute, fmt.Sprintf("%d services running", n), allRunning); err != nil {
		return b, err
	}
	b.agentSaw = time.Since(a.launched).Seconds()
	agent1, _, _ := procStat(a.cmd.Process.Pid)
	pm1, _, _ := procStat(podmanPID)
	const clkTck = 100 // USER_HZ on Linux
	b.agentCPU, b.podmanCPU = float64(agent1-agent0)/clkTck, float64(pm1-pm0)/clkTck
	cFirst, cLast, nCreated := logSpan(a.logPath, `msg="Container created"`)
	b.creates = nCreated
	if nCreated > 0 {
		b.createFirst, b.createLast = cFirst.Sub(a.launched).Seconds(), cLast.Sub(a.launched).Seconds()
	}
	last, first, running, err := lastStarted(ctx, a.pm, a.project)
	if err != nil {
		return b, err
	}
	if running != n {
		return b, fmt.Errorf("%d of %d containers running after the agent said all were", running, n)
	}
	if first.Before(a.launched) {
		return b, fmt.Errorf("a container started %.3f s before the launch: not this bring-up's", a.launched.Sub(first).Seconds())
	}
	b.span, b.toFirst = last.Sub(a.launched).Seconds(), first.Sub(a.launched).Seconds()
	return b, nil
}

func (b bringUp) String() string {
	s := fmt.Sprintf("launch → first container started %.2f s, → last %.2f s; the agent reported all running at %.2f s; during it the agent used %.1f s of CPU and Podman's API service %.1f s",
		b.toFirst, b.span, b.agentSaw, b.agentCPU, b.podmanCPU)
	if b.creates > 0 {
		s += fmt.Sprintf("; the agent's creates ran from +%.2f s to +%.2f s (%d)", b.createFirst, b.createLast, b.creates)
	} else {
		s += "; no container created"
	}
	return s
}

// benchScale brings up n services with no health checks (running is
// ready) twice, from launch of `hostagent run` to the last container's
// StartedAt: fresh, with no container, and again once the containers
// exist but are stopped, as after a reboot. Each is set against Podman's
// floors for the same containers, measured after it in the same run.
func benchScale(ctx context.Context, o options, pm *podmantest.Service) ([]row, []string, error) {
	podmanPID := findPID(pm.Socket)
	port, err := freePorts(1)
	if err != nil {
		return nil, nil, err
	}
	a, err := startAgent(ctx, o.bin, pm, "scale", idleStack(o.services), port, "ORCHESTRATOR_LOG_LEVEL=info")
	if err != nil {
		return nil, nil, err
	}
	defer a.stop(ctx)
	fresh, err := measureBringUp(ctx, a, o.services, podmanPID)
	if err != nil {
		return nil, nil, fmt.Errorf("fresh bring-up: %w", err)
	}
	fmt.Printf("   fresh bring-up: %s\n", fresh)

	st, c, err := floorStack(ctx, pm, compose.Options{Files: []string{a.file}, ProjectName: a.project})
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	// The agent leaves the stack running on SIGTERM; stopping the
	// containers after it makes what a reboot leaves.
	a.terminate()
	before, err := stopAll(ctx, pm, c, a.project)
	if err != nil {
		return nil, nil, err
	}
	if err := a.relaunch(); err != nil {
		return nil, nil, err
	}
	again, err := measureBringUp(ctx, a, o.services, podmanPID)
	if err != nil {
		return nil, nil, fmt.Errorf("bring-up of the stopped containers: %w", err)
	}
	fmt.Printf("   bring-up of existing stopped containers: %s\n", again)
	a.terminate()
	after, err := stopAll(ctx, pm, c, a.project)
	if err != nil {
		return nil, nil, err
	}
	if again.creates > 0 || !slices.Equal(before, after) {
		return nil, nil, fmt.Errorf("the agent created containers when it was started on existing ones (%d created; log %s): not a starts-only bring-up", again.creates, a.logPath)
	}
	// The restart floor: the same stopped containers, started one after
	// another, in the order the agent's fresh bring-up created them.
	order, err := creationOrder(ctx, c, st, after)
	if err != nil {
		return nil, nil, err
	}
	restarts, err := startEach(ctx, c, order)
	if err != nil {
		return nil, nil, err
	}
	if _, err := stopAll(ctx, pm, c, a.project); err != nil {
		return nil, nil, err
	}
	paired, err := startPaired(ctx, c, order)
	if err != nil {
		return nil, nil, err
	}
	a.stop(ctx)
	fl, err := startFloor(ctx, pm, compose.Options{Files: []string{a.file}, ProjectName: a.project})
	if err != nil {
		return nil, nil, fmt.Errorf("start floor: %w", err)
	}
	fl.restarts, fl.pairedRestarts = restarts, paired
	fmt.Printf("   floors (%d containers): create then start each %.3fs (creates %.3fs + starts %.3fs); starts of pre-created %.3fs (after creates %.3fs); starts of stopped %.3fs; pipelined %.3fs\n",
		fl.n, fl.createStart.Seconds(), fl.createStartCreates.Seconds(), fl.createStartStarts.Seconds(), fl.starts.Seconds(), fl.creates.Seconds(), fl.restarts.Seconds(), fl.pipelined.Seconds())
	return scaleRows(o.services, fresh, again, fl), scaleNotes(o.services, fresh, again, fl), nil
}

// creationOrder is the containers in the order of the stack's services
// (the order the floors create them in).
func creationOrder(ctx context.Context, c *engine.Client, st *compose.Stack, ids []engine.ContainerID) ([]engine.ContainerID, error) {
	bySvc := map[string]engine.ContainerID{}
	for _, id := range ids {
		ctr, err := c.Inspect(ctx, id)
		if err != nil {
			return nil, err
		}
		bySvc[ctr.Service] = id
	}
	var out []engine.ContainerID
	for _, svc := range st.Services {
		id, ok := bySvc[svc.Name]
		if !ok {
			return nil, fmt.Errorf("no container for service %s", svc.Name)
		}
		out = append(out, id)
	}
	return out, nil
}

const scaleTarget = 1.15

func scaleRows(n int, fresh, again bringUp, fl floors) []row {
	cs, so, rs := fl.createStart.Seconds(), fl.starts.Seconds(), fl.restarts.Seconds()
	freshRatio, againRatio := fresh.span/cs, again.span/rs
	return []row{{
		name: fmt.Sprintf("fresh bring-up of %d services, no container yet (no health checks)", n),
		measured: fmt.Sprintf("%.2f s from launch to the last container's StartedAt: %.3f × the create+start floor; %.3f × the starts-only floor (the first started at %.2f s; the agent reported all running at %.2f s)",
			fresh.span, freshRatio, fresh.span/so, fresh.toFirst, fresh.agentSaw),
		reference: fmt.Sprintf("create+start floor: the same %d containers each created then started, one after another, %.2f s (creates %.2f s, starts %.2f s); starts-only floor: pre-created ones started one after another, %.2f s (%.0f ms each)",
			fl.n, cs, fl.createStartCreates.Seconds(), fl.createStartStarts.Seconds(), so, so*1000/float64(fl.n)),
		target:  fmt.Sprintf("≤ %.2f × the create+start floor (a fresh bring-up must create every container)", scaleTarget),
		verdict: verdict(freshRatio <= scaleTarget) + fmt.Sprintf(" (against the starts-only floor: %.3f, %s)", fresh.span/so, map[bool]string{true: "within 1.15", false: "over 1.15"}[fresh.span/so <= scaleTarget]),
		pass:    freshRatio <= scaleTarget,
	}, {
		name: fmt.Sprintf("bring-up of %d existing stopped containers (agent restart or reboot; no health checks)", n),
		measured: fmt.Sprintf("%.2f s from launch to the last container's StartedAt: %.3f × the starts-only floor (the first started at %.2f s; the agent reported all running at %.2f s; no container created)",
			again.span, againRatio, again.toFirst, again.agentSaw),
		reference: fmt.Sprintf("starts-only floor: the same %d containers, stopped after running, started one after another, %.2f s (%.0f ms each); never-started pre-created ones: %.2f s; the stopped ones started two at a time (as the agent does): %.2f s",
			fl.n, rs, rs*1000/float64(fl.n), so, fl.pairedRestarts.Seconds()),
		target:  fmt.Sprintf("≤ %.2f × the starts-only floor", scaleTarget),
		verdict: verdict(againRatio <= scaleTarget),
		pass:    againRatio <= scaleTarget,
	}}
}

func scaleNotes(n int, fresh, again bringUp, fl floors) []string {
	var b strings.Builder
	fmt.Fprintf(&b, "Scale: the agent brings up the same %d busybox `sleep` services (no compose healthcheck, so running is ready) twice in one run, each clocked from the launch of `hostagent run` (the agent's own start included) to the latest container StartedAt (podman inspect); with no health check a running container is ready, so no poller is needed. "+
		"Fresh: no container exists (%s). Existing: the agent is stopped with SIGTERM (it leaves the stack running), the bench stops every container (`podman stop -t 0`), and `hostagent run` is launched again with the same state directory, as `systemctl start hostagent` after a reboot would be (%s); the bench checks that it created nothing and that the container IDs are unchanged. ",
		n, fresh, again)
	fmt.Fprintf(&b, "Floors, measured after the agent stops, on the same containers and through the same API calls (engine.Create, which on Podman creates through the Docker-compatible API for a service without CDI devices, and engine.Start), one call after another: "+
		"starts-only for the existing containers: the stopped containers started again, %.2f s; "+
		"create+start for the fresh bring-up: the stack removed, each container created and at once started, %.2f s wall (creates %.2f s, starts %.2f s); "+
		"starts-only for fresh containers: all pre-created (creates %.2f s), then started, %.2f s. "+
		"Whether Podman overlaps a create with a start: one goroutine creating while a second starts each container as it exists took %.2f s, against %.2f s for the same calls one after another and %.2f s for the larger of the two sums (%s). ",
		fl.restarts.Seconds(), fl.createStart.Seconds(), fl.createStartCreates.Seconds(), fl.createStartStarts.Seconds(), fl.creates.Seconds(), fl.starts.Seconds(),
		fl.pipelined.Seconds(), (fl.creates + fl.starts).Seconds(), max(fl.creates, fl.starts).Seconds(), overlap(fl))
	b.WriteString("One run each: the ratios are from the same run.")
	return []string{b.String()}
}

// overlap says what the pipelined figure shows: how much of the shorter
// of creates and starts ran beside the other.
func overlap(fl floors) string {
	serial := (fl.creates + fl.starts).Seconds()
	hidden := serial - fl.pipelined.Seconds()
	shorter := min(fl.creates, fl.starts).Seconds()
	if shorter <= 0 {
		return "nothing to overlap"
	}
	share := max(0, hidden/shorter)
	if share < 0.2 {
		return fmt.Sprintf("%.0f%% of the shorter sum hidden: creates and starts are serialised", share*100)
	}
	return fmt.Sprintf("%.0f%% of the shorter sum hidden by running them side by side", min(share, 1)*100)
}
