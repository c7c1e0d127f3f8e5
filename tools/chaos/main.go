// Command chaos is `make chaos`: it runs the real hostagent binary with the
// Redis store against a private Podman, brings up a stack shaped like the
// nemotron stack (plus one crash-looping service that must end DISABLED),
// then for a while injects random faults on a seeded schedule — podman
// kill of a service, a service forced unhealthy via /fail, a restart of
// the Podman API service, a Redis crash, an agent SIGKILL (sometimes with
// a service killed while it is down), an engine outage (the Podman API
// stopped for 10-60 s while services are killed), an agent SIGKILL during
// a Redis outage — one at a time, each followed by waiting for the stack
// to converge. It keeps a ledger of the faults per service and at the end
// checks what the agent says against it: every service running, restart
// and failure counts as the ledger implies (see expect), one container per
// service, a record per service in the file store and in Redis that agree,
// the crash-looper disabled. It prints a summary table, writes it to
// <out>/summary.txt, and exits 1 on any violation.
//
// It needs root, podman and redis-server (make deps), and builds its test
// image itself (no registry).
package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/hostagent/hostagent/internal/testsupport/podmantest"
)

type chaos struct {
	bin, out, stateDir string
	duration           time.Duration
	seed               uint64
	rng                *mrand.Rand
	kinds              map[faultKind]bool
	env                []string

	pm    *podmantest.Service
	redis *redisProc
	agent *agentProc

	exp      map[string]*expect // the supervised services (not the crash-looper)
	order    []string
	lastDiff map[string]string

	blind *[]outage // engine outages so far, for the model

	began, injectFrom time.Time
	faults            []*fault
	violations        []string
}

func (c *chaos) say(format string, args ...any) {
	fmt.Printf("[chaos %6.1fs] %s\n", time.Since(c.began).Seconds(), fmt.Sprintf(format, args...))
}

func (c *chaos) violate(format string, args ...any) {
	v := fmt.Sprintf(format, args...)
	c.violations = append(c.violations, v)
	c.say("VIOLATION: %s", v)
}

func main() {
	bin := flag.String("bin", "bin/hostagent", "the hostagent binary to run")
	duration := flag.Duration("duration", 10*time.Minute, "how long to inject faults")
	seedFlag := flag.String("seed", "", "seed of the fault schedule (empty: random; printed either way)")
	faultsFlag := flag.String("faults", "", "comma-separated fault kinds to inject (default all: kill,unhealthy,api-restart,redis-restart,agent-kill,engine-outage,redis-agent-kill)")
	out := flag.String("out", ".build/chaos", "directory for the compose file, state, logs and summary.txt")
	keep := flag.Bool("keep", false, "leave the stack's containers and the agent's state at the end")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := newChaos(*bin, *out, *duration, *seedFlag, *faultsFlag)
	if err != nil {
		fmt.Fprintf(os.Stderr, "chaos: %v\n", err)
		os.Exit(2)
	}
	if err := c.run(ctx, *keep); err != nil {
		fmt.Fprintf(os.Stderr, "chaos: %v\n", err)
		os.Exit(1)
	}
}

func newChaos(bin, out string, d time.Duration, seedText, faults string) (*chaos, error) {
	kinds, err := parseKinds(faults)
	if err != nil {
		return nil, err
	}
	seed := uint64(0)
	if seedText == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		seed = binary.LittleEndian.Uint64(b[:]) % 1_000_000_000
	} else if seed, err = strconv.ParseUint(seedText, 10, 64); err != nil {
		return nil, fmt.Errorf("SEED %q: %w", seedText, err)
	}
	if bin, err = filepath.Abs(bin); err != nil {
		return nil, err
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%s: %w (run make build)", bin, err)
	}
	if out, err = filepath.Abs(out); err != nil {
		return nil, err
	}
	c := &chaos{
		bin: bin, out: out, stateDir: filepath.Join(out, "state"), duration: d, seed: seed, kinds: kinds,
		rng:      newRNG(seed),
		exp:      map[string]*expect{},
		lastDiff: map[string]string{},
		began:    time.Now(),
		blind:    &[]outage{},
	}
	for _, sp := range specs {
		if !sp.crashLoop {
			c.exp[sp.name] = &expect{spec: sp, blind: c.blind}
			c.order = append(c.order, sp.name)
		}
	}
	return c, nil
}

// newRNG is the schedule's random source: a pure function of the seed.
func newRNG(seed uint64) *mrand.Rand { return mrand.New(mrand.NewPCG(seed, 0x686f73746167656e)) }

func (c *chaos) run(ctx context.Context, keep bool) error {
	c.say("seed %d (replay: make chaos SEED=%d DURATION=%s); faults: %s", c.seed, c.seed, c.duration, c.kindList())
	if err := c.setup(ctx); err != nil {
		return err
	}
	defer c.teardown(keep)

	c.say("starting the agent (log: %s)", c.agent.log)
	upFrom := time.Now()
	if err := c.agent.start(); err != nil {
		return err
	}
	for _, e := range c.exp {
		e.agentStarted(upFrom)
	}
	res := c.converge(ctx, 3*time.Minute, "")
	if !res.ok {
		return fmt.Errorf("the stack did not come up within 3m: %s (see %s)", res.why, c.agent.log)
	}
	c.say("stack up in %s; worker-crashloop disabled; injecting faults for %s", round(res.at.Sub(upFrom)), c.duration)
	if why := c.duplicates(ctx); why != "" {
		c.violate("after bring-up: %s", why)
	}

	c.injectFrom = time.Now()
	end := c.injectFrom.Add(c.duration)
	next := c.injectFrom.Add(2 * time.Second)
	for seq := 1; ctx.Err() == nil; seq++ {
		d := c.nextDraw()
		if next.After(end) {
			break
		}
		if !sleepUntil(ctx, next) {
			break
		}
		start := time.Now()
		c.inject(ctx, seq, d)
		next = maxTime(start.Add(d.gap), time.Now().Add(time.Second))
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	c.checkLifecycle(ctx)
	summary := c.verdict(ctx)
	fmt.Print("\n" + summary)
	c.writeOut(summary)
	c.say("summary written to %s", filepath.Join(c.out, "summary.txt"))
	c.hostagent(ctx, "events", "-n", "12")
	if len(c.violations) > 0 {
		return fmt.Errorf("%d violations (seed %d)", len(c.violations), c.seed)
	}
	return nil
}

func (c *chaos) setup(ctx context.Context) error {
	c.say("starting a private Podman API service and a redis-server; building the test image")
	pm, err := podmantest.Start(ctx)
	if err != nil {
		return err
	}
	c.pm = pm
	if err := pm.EnsureImages(ctx); err != nil {
		pm.Close()
		return err
	}
	_ = pm.Cleanup(ctx, project)
	if err := os.RemoveAll(c.out); err != nil {
		pm.Close()
		return err
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		pm.Close()
		return err
	}
	if c.redis, err = newRedis(c.out); err != nil {
		pm.Close()
		return err
	}
	// A fresh record of the one-shot job's runs (the agent creates the dir).
	_ = os.RemoveAll(c.jobDir())
	file := filepath.Join(c.out, "docker-compose.yml")
	config := filepath.Join(c.out, "config.yaml")
	token := filepath.Join(c.out, "token")
	tok := make([]byte, 32)
	_, _ = rand.Read(tok)
	for path, data := range map[string]string{
		file:   composeYAML(c.jobDir()),
		config: "# chaos: everything comes from the environment\n",
		token:  hex.EncodeToString(tok),
	} {
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			c.teardown(false)
			return err
		}
	}
	c.env = append(os.Environ(),
		"ORCHESTRATOR_CONFIG="+config,
		"ORCHESTRATOR_COMPOSE_FILE="+file,
		"ORCHESTRATOR_DOCKER_HOST="+pm.URL(),
		"ORCHESTRATOR_STATE_DIR="+c.stateDir,
		"ORCHESTRATOR_REDIS_URL="+c.redis.url(),
		"ORCHESTRATOR_API_ADDR="+apiAddr,
		"ORCHESTRATOR_API_SOCKET="+filepath.Join(c.out, "api.sock"),
		"ORCHESTRATOR_TOKEN_FILE="+token,
	)
	c.agent = &agentProc{bin: c.bin, log: filepath.Join(c.out, "agent.log"), env: c.env}
	c.say("podman %s; redis %s; compose file %s", pm.URL(), c.redis.addr(), file)
	return nil
}

func (c *chaos) teardown(keep bool) {
	if c.agent != nil {
		c.agent.stop()
	}
	if keep {
		// The Podman API service and redis-server end with this process
		// (Pdeathsig); the containers and the state files stay.
		c.say("-keep: leaving the stack's containers (podman --root %s) and the state in %s", c.pm.Root, c.stateDir)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.pm.Cleanup(ctx, project); err != nil {
		c.say("cleanup: %v", err)
	}
	if c.redis != nil {
		c.redis.kill()
	}
	c.pm.Close()
}

// hostagent runs a CLI subcommand against the agent, output to stdout.
func (c *chaos) hostagent(ctx context.Context, args ...string) {
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = c.env, os.Stdout, os.Stderr
	_ = cmd.Run()
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
