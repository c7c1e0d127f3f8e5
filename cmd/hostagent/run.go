package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"

	"github.com/hostagent/hostagent/api"
	"github.com/hostagent/hostagent/cmd/hostagent/adapt"
	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/engine"
	"github.com/hostagent/hostagent/gpu"
	"github.com/hostagent/hostagent/internal/clock"
	"github.com/hostagent/hostagent/internal/logging"
	"github.com/hostagent/hostagent/internal/pidwatch"
	"github.com/hostagent/hostagent/internal/sdnotify"
	"github.com/hostagent/hostagent/state"
	"github.com/hostagent/hostagent/supervisor"
)

func init() {
	commands["run"] = command{"bring the stack up in phases and supervise it (the systemd service)", cmdRun}
}

func cmdRun(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("run", `Connect to Podman, adopt or create the stack's containers, bring them up in
phases (GPU services one at a time by free VRAM), and supervise them until
SIGTERM: health checks, restarts with backoff, disabling of services that keep
failing. SIGHUP re-reads the compose file and converges. On exit the stack is
left running.`, env)
	var sf stackFlags
	sf.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(env.getenv)
	if err != nil {
		return &exitError{code: exitConfig, err: err}
	}
	sf.apply(&cfg)
	log := logging.New(cfg.LogLevel, env.stderr)
	warnUnsafeStartFiles(log, cfg, env.getenv)
	notify := sdnotify.New(log)

	if !cfg.Enabled {
		log.Info("orchestrator disabled (ORCHESTRATOR_ENABLED=false); not supervising anything")
		_ = notify.Ready()
		_ = notify.Status("disabled by ORCHESTRATOR_ENABLED=false")
		<-ctx.Done()
		return nil
	}
	stack, plan, err := loadStack(ctx, cfg)
	if err != nil {
		// Restarting cannot fix the file: a distinct status that the unit's
		// RestartPreventExitStatus= does not retry.
		return &exitError{code: exitConfig, err: err}
	}
	logWarnings(log, stack, plan)
	if path := env.getenv("HOSTAGENT_CPUPROFILE"); path != "" {
		// For benchmarking the agent itself; not a user setting.
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	a, err := newAgent(ctx, cfg, stack, plan, log, notify)
	if err != nil {
		return err
	}
	defer a.close()
	return a.run(ctx, cfg)
}

// loadStack loads and plans the configured compose files, leaving out the
// monitoring services when ORCHESTRATOR_MONITORING_ENABLED=false.
func loadStack(ctx context.Context, cfg config) (*compose.Stack, *compose.Plan, error) {
	stack, err := compose.Load(ctx, composeOptions(cfg))
	if err != nil {
		return nil, nil, err
	}
	if !cfg.MonitoringEnabled {
		kept := stack.Services[:0]
		for _, s := range stack.Services {
			if s.Category != compose.Monitoring {
				kept = append(kept, s)
			}
		}
		stack.Services = kept
	}
	plan, err := compose.NewPlan(stack)
	if err != nil {
		return nil, nil, err
	}
	return stack, plan, nil
}

// logWarnings puts the plan's warnings in the journal each time the file
// is loaded; a compose key the agent does not carry gets its service, key
// and what happens instead as fields.
func logWarnings(log *slog.Logger, stack *compose.Stack, plan *compose.Plan) {
	unsupported := map[string]bool{}
	for _, w := range stack.Unsupported {
		unsupported[w.String()] = true
		log.Warn("compose key not carried into the container", "service", w.Service, "key", w.Key, "instead", w.Instead)
	}
	for _, w := range plan.Warnings {
		if !unsupported[w] {
			log.Warn(w)
		}
	}
}

// daemon is the running service: the supervisor and what it is wired to.
type daemon struct {
	log     *slog.Logger
	notify  *sdnotify.Notifier
	engine  *engine.Client
	store   state.Store
	gpu     *gpu.Monitor
	gate    *gpu.Gate
	sup     *supervisor.Supervisor
	api     *api.Server
	metrics *api.Metrics
	clock   clock.Clock

	lastPing time.Time
	// reloadMu keeps one load-and-converge at a time (SIGHUP, the API).
	reloadMu sync.Mutex
}

func newAgent(ctx context.Context, cfg config, stack *compose.Stack, plan *compose.Plan, log *slog.Logger, notify *sdnotify.Notifier) (*daemon, error) {
	a := &daemon{log: log, notify: notify, clock: clock.New()}
	var err error
	// The event stream's reconnect is how the agent learns the engine is
	// back (its resync restarts what died meanwhile): retried every 2 s
	// at most, so an outage ends for the stack within seconds.
	a.engine, err = engine.New(engine.Options{Host: cfg.DockerHost, Logger: log, ReconnectMax: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("ORCHESTRATOR_DOCKER_HOST %s: %w", cfg.DockerHost, err)
	}
	a.store, err = state.Open(ctx, state.Config{Dir: cfg.StateDir, RedisURL: cfg.RedisURL, Project: stack.Name, Logger: log, Clock: a.clock})
	if err != nil {
		a.engine.Close()
		return nil, fmt.Errorf("state store (ORCHESTRATOR_STATE_DIR %s): %w", cfg.StateDir, err)
	}
	var gate supervisor.GPUGate
	for _, s := range stack.Services {
		if s.GPU.Required {
			a.gpu = gpu.NewMonitor(gpu.NewNVML(), log)
			a.gate = gpu.NewGate(a.gpu, a.clock, log, gpu.GateConfig{})
			gate = a.gate
			break
		}
	}
	metrics := api.NewMetrics()
	metrics.SetVersion(version)
	a.metrics = metrics
	a.sup = supervisor.New(stack, plan, supervisor.Config{OnTick: a.onTick, StableWindow: cfg.StableWindow, KeepOutdated: !cfg.RecreateOutdated}, supervisor.Deps{
		Engine:  adapt.Engine{C: a.engine},
		Probes:  adapt.Probers(a.engine, cfg.HealthCheckTimeout, a.clock),
		Gate:    gate,
		Exits:   pidwatch.New(),
		Store:   a.store,
		Clock:   a.clock,
		Logger:  log,
		Metrics: metrics,
	})
	opts := api.Options{Addr: cfg.APIAddr, Socket: cfg.APISocket, Metrics: metrics, Clock: a.clock, EngineUp: a.engine.Connected,
		Control: daemonControl{a: a, cfg: cfg}}
	if a.gpu != nil {
		opts.GPU, opts.GPUGate = a.gpu, a.gate
	}
	a.api, err = api.New(a.sup, api.TokenFile(cfg.TokenFile), log, opts)
	if err == nil {
		err = a.api.Listen()
	}
	if err != nil {
		a.close()
		return nil, fmt.Errorf("control API (ORCHESTRATOR_API_ADDR %s, ORCHESTRATOR_API_SOCKET %s): %w", cfg.APIAddr, cfg.APISocket, err)
	}
	return a, nil
}

func (a *daemon) close() {
	if a.gpu != nil {
		_ = a.gpu.Close()
	}
	_ = a.store.Close()
	_ = a.engine.Close()
}

// onTick runs on the supervision loop: STATUS= with its progress, and the
// watchdog pings, so a wedged loop gets the agent restarted.
func (a *daemon) onTick(p supervisor.Progress) {
	_ = a.notify.Status(p.String())
	if every, ok := a.notify.WatchdogInterval(); ok && a.clock.Since(a.lastPing) >= every {
		a.lastPing = a.clock.Now()
		_ = a.notify.Watchdog()
	}
}

func (a *daemon) run(ctx context.Context, cfg config) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	served := make(chan error, 1)
	go func() { served <- a.api.Serve(ctx) }()
	done := make(chan error, 1)
	go func() { done <- a.sup.Run(ctx) }()
	// READY once the API serves and bring-up has begun; STATUS= follows
	// the progress from the supervision loop.
	_ = a.notify.Status("bring-up started: connecting to the container engine")
	_ = a.notify.Ready()
	for {
		select {
		case err := <-done:
			_ = a.notify.Stopping()
			cancel()
			return errors.Join(err, <-served)
		case err := <-served:
			// The control API is part of the service: without it, stop
			// and let systemd restart the agent.
			a.log.Error("control API stopped", "error", err)
			_ = a.notify.Stopping()
			cancel()
			return errors.Join(fmt.Errorf("control API: %w", err), <-done)
		case <-ctx.Done():
			_ = a.notify.Stopping()
			return errors.Join(<-done, <-served)
		case <-hup:
			a.reload(ctx, cfg)
		}
	}
}

// reload is SIGHUP's: the converge of POST /api/system/reload, without
// waiting for the rollout.
func (a *daemon) reload(ctx context.Context, cfg config) {
	_, _ = a.converge(ctx, cfg, 0)
}
