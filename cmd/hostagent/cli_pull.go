package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/hostagent/hostagent/compose"
)

func init() {
	commands["pull"] = command{"pull (or build) the services' images as their pull_policy says, with progress", cmdPull}
}

// cmdPull talks to the engine directly, like compose pull: it works with
// or without the agent, and a running agent picks the new images up on
// `hostagent up` or `systemctl reload` (outdated containers are rolled out).
func cmdPull(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("pull [SERVICE...]", `Make sure each service's image is present, as its pull_policy says (missing by
default: pull or build what is not there; always: pull anew; build: rebuild;
never: only check). Services with build: and no image are built. Progress is
printed per service. Exit status 1 when an image cannot be had, naming it and
the registry's answer.`, env)
	var sf stackFlags
	sf.register(fs)
	names, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	cfg, stack, _, err := configuredStack(ctx, env, &sf)
	if err != nil {
		return err
	}
	services, err := selectServices(stack, names)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	return pullServices(ctx, env, cfg, stack, services)
}

// pullServices makes each service's image present as its pull_policy says,
// printing progress; `pull` and `up` share it.
func pullServices(ctx context.Context, env *environment, cfg config, stack *compose.Stack, services []string) error {
	c, err := cliEngine(cfg, env)
	if err != nil {
		return err
	}
	defer c.Close()
	say := progressPrinter(env.stdout)
	var failed []error
	for _, svc := range services {
		say(svc, "checking image")
		err := c.EnsureImage(ctx, stack, svc, func(msg string) { say(svc, msg) })
		if err != nil {
			say(svc, "FAILED: "+err.Error())
			failed = append(failed, fmt.Errorf("%s: %w", svc, err))
			continue
		}
		say(svc, "image ready")
	}
	if len(failed) > 0 {
		return &exitError{code: 1, err: errors.Join(failed...)}
	}
	return nil
}
