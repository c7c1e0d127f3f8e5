// Command podmancost measures what Podman's API charges for the calls a
// bring-up makes, on a private Podman (podmantest). specs: a container
// create with the agent's code (engine.Create) against single create calls
// of leaner specs, through the Docker-compatible API and libpod's, the
// start of each, and the two inspects engine.Create makes first, alone and
// while another client starts containers. pipeline: fresh containers
// created by one goroutine while a second client starts each as it
// exists, with engine.Create and with a bare create, against the starts
// of pre-created ones. overlap: starts from one client against two at
// once, and each create variant alone against beside a stream of starts.
// calls: the API requests one engine.Create makes, timed through a
// recording proxy. It prints tables; nothing is written. The machine
// should be quiet.
//
//	go run ./tools/podmancost -n 20 -rounds 3 -parts specs,pipeline,overlap,calls
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/engine"
	"github.com/hostagent/hostagent/internal/testsupport/podmantest"
)

const project = "hab-cost"

func main() {
	n := flag.Int("n", 20, "containers per measurement")
	parts := flag.String("parts", "specs,pipeline,overlap,calls", "which measurements to make")
	rounds := flag.Int("rounds", 3, "rounds of the pipeline and overlap measurements")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *n, *rounds, strings.Split(*parts, ",")); err != nil {
		fmt.Fprintf(os.Stderr, "podmancost: %v\n", err)
		os.Exit(1)
	}
}

// lab is the private Podman and the clients that talk to it.
type lab struct {
	pm     *podmantest.Service
	st     *compose.Stack
	agent  *engine.Client // the agent's engine client
	docker *client.Client // a plain Docker-compatible client
	libpod *http.Client   // raw HTTP on the socket, for libpod's API
	net    string         // the project network engine.Create makes
	n      int
}

func run(ctx context.Context, n, rounds int, parts []string) error {
	pm, err := podmantest.Start(ctx)
	if err != nil {
		return err
	}
	defer pm.Close()
	if err := pm.EnsureImages(ctx); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "podmancost")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nservices:\n", project)
	for i := range n {
		fmt.Fprintf(&b, "  svc%03d: {image: %s, command: ['sleep', '864000']}\n", i, podmantest.BusyboxImage)
	}
	file := filepath.Join(dir, "docker-compose.yml")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		return err
	}
	st, err := compose.Load(ctx, compose.Options{Files: []string{file}, Env: []string{"HOME=" + dir}})
	if err != nil {
		return err
	}
	l := &lab{pm: pm, st: st, n: n, net: project + "_default"}
	if l.agent, err = engine.New(engine.Options{Host: pm.URL()}); err != nil {
		return err
	}
	defer l.agent.Close()
	if l.docker, err = client.NewClientWithOpts(client.WithHost(pm.URL()), client.WithAPIVersionNegotiation()); err != nil {
		return err
	}
	defer l.docker.Close()
	l.libpod = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", pm.Socket)
	}}}
	defer func() { _ = pm.Cleanup(context.WithoutCancel(ctx), project) }()
	_ = pm.Cleanup(ctx, project)
	// One create first, so the project network exists for every variant
	// and nothing measured pays for making it.
	if _, err := l.agent.Create(ctx, st, st.Services[0].Name); err != nil {
		return err
	}
	_ = l.removeAll(ctx)
	fmt.Printf("%d containers per measurement; per call: median / sum, ms\n\n", n)
	for _, p := range []struct {
		name string
		fn   func(context.Context, int) error
	}{
		{"specs", func(ctx context.Context, _ int) error { return l.specs(ctx) }},
		{"pipeline", l.pipeline},
		{"overlap", l.overlap},
		{"calls", func(ctx context.Context, _ int) error { return l.calls(ctx) }},
	} {
		if !slices.Contains(parts, p.name) {
			continue
		}
		if err := p.fn(ctx, rounds); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
	}
	return nil
}

// variant is one way to create a container.
type variant struct {
	name   string
	create func(ctx context.Context, i int) (string, error)
}

func (l *lab) variants() []variant {
	labels := func(i int) map[string]string {
		return map[string]string{
			"com.docker.compose.project": project, "com.docker.compose.service": fmt.Sprintf("svc%03d", i),
			"com.docker.compose.container-number": "1", "com.docker.compose.oneoff": "False",
			"com.docker.compose.config-hash": strings.Repeat("ab", 32), "io.hostagent.managed": "true",
			"com.docker.compose.project.working_dir": "/tmp", "com.docker.compose.project.config_files": "/tmp/docker-compose.yml",
			"com.docker.compose.depends_on": "", "com.docker.compose.image": "sha256:" + strings.Repeat("cd", 32),
		}
	}
	name := func(k, i int) string { return fmt.Sprintf("%s-v%d-%03d", project, k, i) }
	cmd := []string{"sleep", "864000"}
	compat := func(ctx context.Context, k, i int, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) (string, error) {
		r, err := l.docker.ContainerCreate(ctx, cfg, hc, nc, nil, name(k, i))
		return r.ID, err
	}
	return []variant{
		{"agent: engine.Create (network inspect, image inspect, compat create)", func(ctx context.Context, i int) (string, error) {
			id, err := l.agent.Create(ctx, l.st, fmt.Sprintf("svc%03d", i))
			return string(id), err
		}},
		{"compat create, the agent's spec (labels, project network + alias, restart no, healthcheck NONE)", func(ctx context.Context, i int) (string, error) {
			cfg := &container.Config{Image: podmantest.BusyboxImage, Cmd: cmd, Labels: labels(i), Healthcheck: &container.HealthConfig{Test: []string{"NONE"}}}
			hc := &container.HostConfig{RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled}, NetworkMode: container.NetworkMode(l.net)}
			nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{l.net: {Aliases: []string{fmt.Sprintf("svc%03d", i)}}}}
			return compat(ctx, 1, i, cfg, hc, nc)
		}},
		{"compat create, image and command only (Podman's default network)", func(ctx context.Context, i int) (string, error) {
			return compat(ctx, 2, i, &container.Config{Image: podmantest.BusyboxImage, Cmd: cmd}, &container.HostConfig{}, nil)
		}},
		{"compat create, image and command, network none", func(ctx context.Context, i int) (string, error) {
			return compat(ctx, 3, i, &container.Config{Image: podmantest.BusyboxImage, Cmd: cmd}, &container.HostConfig{NetworkMode: "none"}, nil)
		}},
		{"libpod create, the agent's spec (labels, project network + alias)", func(ctx context.Context, i int) (string, error) {
			return l.libpodCreate(ctx, map[string]any{"name": name(4, i), "image": podmantest.BusyboxImage, "command": cmd, "labels": labels(i),
				"netns": map[string]string{"nsmode": "bridge"}, "Networks": map[string]any{l.net: map[string]any{"aliases": []string{fmt.Sprintf("svc%03d", i)}}}})
		}},
		{"libpod create, image and command only", func(ctx context.Context, i int) (string, error) {
			return l.libpodCreate(ctx, map[string]any{"name": name(5, i), "image": podmantest.BusyboxImage, "command": cmd})
		}},
	}
}

func (l *lab) libpodCreate(ctx context.Context, spec map[string]any) (string, error) {
	body, err := json.Marshal(spec)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://d/v4.0.0/libpod/containers/create", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.libpod.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("libpod create: %s: %s", resp.Status, data)
	}
	var r struct {
		ID string `json:"Id"`
	}
	return r.ID, json.Unmarshal(data, &r)
}

// specs creates n containers with each variant, taking the variants in
// turn container by container so that a busy machine slows them alike,
// then starts them the same way, one call at a time.
func (l *lab) specs(ctx context.Context) error {
	vs := l.variants()
	creates := make([][]time.Duration, len(vs))
	starts := make([][]time.Duration, len(vs))
	ids := make([][]string, len(vs))
	for i := range l.n {
		for k, v := range vs {
			id, d, err := timed(func() (string, error) { return v.create(ctx, i) })
			if err != nil {
				return fmt.Errorf("%s: %w", v.name, err)
			}
			creates[k] = append(creates[k], d)
			ids[k] = append(ids[k], id)
		}
	}
	for i := range l.n {
		for k, v := range vs {
			_, d, err := timed(func() (struct{}, error) { return struct{}{}, l.agent.Start(ctx, engine.ContainerID(ids[k][i])) })
			if err != nil {
				return fmt.Errorf("%s: start: %w", v.name, err)
			}
			starts[k] = append(starts[k], d)
		}
	}
	fmt.Printf("%-100s %17s %17s\n", "create variant (taken in turn)", "create", "its start")
	for k, v := range vs {
		fmt.Printf("%-100s %s %s\n", v.name, stat(creates[k]), stat(starts[k]))
	}
	if err := l.removeAll(ctx); err != nil {
		return err
	}
	return l.inspects(ctx)
}

// inspects times the two calls engine.Create makes before its create
// (network inspect, image inspect), alone and while another client starts
// containers one after another.
func (l *lab) inspects(ctx context.Context) error {
	netInspect := func() (struct{}, error) {
		_, err := l.docker.NetworkInspect(ctx, l.net, network.InspectOptions{})
		return struct{}{}, err
	}
	imgInspect := func() (struct{}, error) {
		_, err := l.docker.ImageInspect(ctx, podmantest.BusyboxImage)
		return struct{}{}, err
	}
	measure := func() (nets, imgs []time.Duration, err error) {
		for range l.n {
			_, d, err := timed(netInspect)
			if err != nil {
				return nil, nil, err
			}
			nets = append(nets, d)
			_, d, err = timed(imgInspect)
			if err != nil {
				return nil, nil, err
			}
			imgs = append(imgs, d)
		}
		return nets, imgs, nil
	}
	nets, imgs, err := measure()
	if err != nil {
		return err
	}
	fmt.Printf("%-100s %s\n%-100s %s\n", "network inspect, alone", stat(nets), "image inspect, alone", stat(imgs))
	var ids []string
	for i := range l.n {
		id, err := l.variants()[0].create(ctx, i)
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	other, err := engine.New(engine.Options{Host: l.pm.URL()})
	if err != nil {
		return err
	}
	defer other.Close()
	done := make(chan error, 1)
	go func() {
		for _, id := range ids {
			if err := other.Start(ctx, engine.ContainerID(id)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	nets, imgs, err = measure()
	if err != nil {
		return err
	}
	if err := <-done; err != nil {
		return err
	}
	fmt.Printf("%-100s %s\n%-100s %s\n", "network inspect, while another client starts containers", stat(nets), "image inspect, while another client starts containers", stat(imgs))
	return l.removeAll(ctx)
}

// timed runs f and says how long it took.
func timed[T any](f func() (T, error)) (T, time.Duration, error) {
	t0 := time.Now()
	v, err := f()
	return v, time.Since(t0), err
}

// overlap asks whether Podman runs calls from two clients side by side:
// n starts from one client against the same split over two at once, in
// alternating order; and creates of each variant while another client
// starts containers, against the same creates alone.
func (l *lab) overlap(ctx context.Context, rounds int) error {
	other, err := engine.New(engine.Options{Host: l.pm.URL()})
	if err != nil {
		return err
	}
	defer other.Close()
	agentCreate := l.variants()[0].create
	precreate := func() ([]string, error) {
		var ids []string
		for i := range l.n {
			id, err := agentCreate(ctx, i)
			if err != nil {
				return nil, err
			}
			ids = append(ids, id)
		}
		return ids, nil
	}
	starting := func(c *engine.Client, ids []string) func() (time.Duration, error) {
		return func() (time.Duration, error) {
			t0 := time.Now()
			for _, id := range ids {
				if err := c.Start(ctx, engine.ContainerID(id)); err != nil {
					return 0, err
				}
			}
			return time.Since(t0), nil
		}
	}
	fmt.Printf("\n%d starts (the agent's spec), wall ms: one client, one after another | split over two clients at once\n", l.n)
	for r := range rounds {
		var one, two time.Duration
		for _, split := range []bool{r%2 == 1, r%2 == 0} {
			ids, err := precreate()
			if err != nil {
				return err
			}
			if split {
				ds, err := together(starting(l.agent, ids[:l.n/2]), starting(other, ids[l.n/2:]))
				if err != nil {
					return err
				}
				two = max(ds[0], ds[1])
			} else if one, err = starting(l.agent, ids)(); err != nil {
				return err
			}
			if err := l.removeAll(ctx); err != nil {
				return err
			}
		}
		fmt.Printf("  round %d: %.0f | %.0f\n", r+1, ms(one), ms(two))
	}

	fmt.Printf("\n%d creates of each variant, per-call median / sum ms: alone | while another client starts %d containers one after another\n", l.n, l.n)
	for k, v := range l.variants() {
		var alone, during []time.Duration
		for i := range l.n {
			_, d, err := timed(func() (string, error) { return v.create(ctx, i) })
			if err != nil {
				return err
			}
			alone = append(alone, d)
		}
		if err := l.removeAll(ctx); err != nil {
			return err
		}
		ids, err := precreate()
		if err != nil {
			return err
		}
		if k == 0 {
			// engine.Create names the containers by service: the starter's
			// own are in the way; make the variant's under other services.
			if err := l.renameAll(ctx, ids); err != nil {
				return err
			}
		}
		done := make(chan error, 1)
		go func() { _, err := starting(other, ids)(); done <- err }()
		for i := range l.n {
			_, d, err := timed(func() (string, error) { return v.create(ctx, i) })
			if err != nil {
				return err
			}
			during = append(during, d)
		}
		if err := <-done; err != nil {
			return err
		}
		fmt.Printf("  %-100s %s | %s\n", v.name, stat(alone), stat(during))
		if err := l.removeAll(ctx); err != nil {
			return err
		}
	}
	return nil
}

// pipeline brings n fresh containers up as a pipelined bring-up would:
// one goroutine creating them one after another (with engine.Create, or
// with a bare compat create of the same spec, which skips the network
// inspect engine.Create makes first) while a second client starts each as
// soon as it exists; wall ms, against the starts alone of pre-created
// containers. Rounds rotate the order.
func (l *lab) pipeline(ctx context.Context, rounds int) error {
	other, err := engine.New(engine.Options{Host: l.pm.URL()})
	if err != nil {
		return err
	}
	defer other.Close()
	vs := l.variants()
	kinds := []struct {
		name string
		run  func() (time.Duration, error)
	}{
		{"starts alone (pre-created)", func() (time.Duration, error) {
			var ids []string
			for i := range l.n {
				id, err := vs[0].create(ctx, i)
				if err != nil {
					return 0, err
				}
				ids = append(ids, id)
			}
			t0 := time.Now()
			for _, id := range ids {
				if err := other.Start(ctx, engine.ContainerID(id)); err != nil {
					return 0, err
				}
			}
			return time.Since(t0), nil
		}},
		{"pipelined, engine.Create", func() (time.Duration, error) { return l.pipelined(ctx, other, vs[0].create) }},
		{"pipelined, bare compat create", func() (time.Duration, error) { return l.pipelined(ctx, other, vs[1].create) }},
	}
	fmt.Printf("\n%d containers brought up, wall ms:", l.n)
	for _, k := range kinds {
		fmt.Printf(" %s |", k.name)
	}
	fmt.Println()
	for r := range rounds {
		got := make([]time.Duration, len(kinds))
		for j := range kinds {
			k := (j + r) % len(kinds)
			d, err := kinds[k].run()
			if err != nil {
				return fmt.Errorf("%s: %w", kinds[k].name, err)
			}
			got[k] = d
			if err := l.removeAll(ctx); err != nil {
				return err
			}
		}
		fmt.Printf("  round %d:", r+1)
		for _, d := range got {
			fmt.Printf(" %.0f |", ms(d))
		}
		fmt.Println()
	}
	return nil
}

// pipelined creates with create in this goroutine and starts each
// container from starter as soon as it exists; the wall time.
func (l *lab) pipelined(ctx context.Context, starter *engine.Client, create func(context.Context, int) (string, error)) (time.Duration, error) {
	created := make(chan string, l.n)
	errc := make(chan error, 1)
	t0 := time.Now()
	go func() {
		var err error
		for id := range created {
			if err == nil {
				err = starter.Start(ctx, engine.ContainerID(id))
			}
		}
		errc <- err
	}()
	for i := range l.n {
		id, err := create(ctx, i)
		if err != nil {
			close(created)
			return 0, errors.Join(err, <-errc)
		}
		created <- id
	}
	close(created)
	if err := <-errc; err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// renameAll renames the containers out of the way of engine.Create's
// names.
func (l *lab) renameAll(ctx context.Context, ids []string) error {
	for i, id := range ids {
		if out, err := l.pm.Podman(ctx, "rename", id, fmt.Sprintf("%s-moved-%03d", project, i)); err != nil {
			return fmt.Errorf("podman rename: %w: %s", err, out)
		}
	}
	return nil
}

// together runs the functions at once and returns each one's duration.
func together(fs ...func() (time.Duration, error)) ([]time.Duration, error) {
	out := make([]time.Duration, len(fs))
	errs := make([]error, len(fs))
	var wg sync.WaitGroup
	for i, f := range fs {
		wg.Add(1)
		go func() { defer wg.Done(); out[i], errs[i] = f() }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// removeAll removes the project's containers, leaving its network.
func (l *lab) removeAll(ctx context.Context) error {
	out, err := l.pm.Podman(ctx, "ps", "-a", "-q", "--filter", "name=^"+project+"-")
	if err != nil || strings.TrimSpace(out) == "" {
		return err
	}
	if out, err := l.pm.Podman(ctx, append([]string{"rm", "-f", "-t", "0"}, strings.Fields(out)...)...); err != nil {
		return fmt.Errorf("podman rm: %w: %s", err, out)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// stat is "median / sum" of the calls, in ms.
func stat(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return fmt.Sprintf("%6.1f / %8.1f", ms(s[len(s)/2]), ms(sum))
}

// calls lists the API requests engine.Create makes, each with its time,
// through a recording proxy in front of the Podman socket: what one
// create of the agent costs, call by call.
func (l *lab) calls(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "podmancost-proxy")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "proxy.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	type call struct {
		what string
		took time.Duration
	}
	var mu sync.Mutex
	var seen []call
	upstream := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", l.pm.Socket)
	}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.RequestURI = ""
		r.URL.Scheme, r.URL.Host = "http", "d"
		t0 := time.Now()
		resp, err := upstream.RoundTrip(r)
		took := time.Since(t0)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		mu.Lock()
		seen = append(seen, call{r.Method + " " + r.URL.Path, took})
		mu.Unlock()
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	c, err := engine.New(engine.Options{Host: "unix://" + sock})
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Printf("\nengine.Create through a recording proxy, call by call (ms; the proxy adds its own hop)\n")
	for i := range min(l.n, 3) {
		mu.Lock()
		seen = nil
		mu.Unlock()
		_, d, err := timed(func() (engine.ContainerID, error) { return c.Create(ctx, l.st, fmt.Sprintf("svc%03d", i)) })
		if err != nil {
			return err
		}
		mu.Lock()
		var parts []string
		for _, s := range seen {
			parts = append(parts, fmt.Sprintf("%s %.1f", s.what, ms(s.took)))
		}
		mu.Unlock()
		fmt.Printf("  create %d: %.1f in all: %s\n", i+1, ms(d), strings.Join(parts, "; "))
	}
	return l.removeAll(ctx)
}
