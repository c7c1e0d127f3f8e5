package main

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/engine"
	"github.com/hostagent/hostagent/internal/logging"
)

// configuredStack loads the settings, applies the stack flags and loads the
// stack as the service would run it: what every command that reads the
// compose file starts with.
func configuredStack(ctx context.Context, env *environment, sf *stackFlags) (config, *compose.Stack, *compose.Plan, error) {
	cfg, err := loadConfig(env.getenv)
	if err != nil {
		return cfg, nil, nil, err
	}
	sf.apply(&cfg)
	stack, plan, err := loadStack(ctx, cfg)
	return cfg, stack, plan, err
}

// cliEngine is an engine client for the commands that talk to Podman
// directly (logs, pull, down); only its errors are logged.
func cliEngine(cfg config, env *environment) (*engine.Client, error) {
	return engine.New(engine.Options{Host: cfg.DockerHost, Logger: logging.New("error", env.stderr)})
}

// progressPrinter prints "service: message" lines, one at a time (progress
// may come from several goroutines), with control characters escaped.
func progressPrinter(w io.Writer) func(svc, msg string) {
	var mu sync.Mutex
	return func(svc, msg string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "%s: %s\n", svc, sanitizeLine(msg))
	}
}
