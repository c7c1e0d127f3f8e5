package main

import (
	"context"
	"fmt"
	"syscall"
	"time"
)

func init() {
	commands["reload"] = command{"check the compose file, then make the running agent converge on it and wait; prints what changed", cmdReload}
}

// execReloadWait keeps `systemctl reload` (ExecReload passes --pid) under
// the unit's TimeoutStartSec=90s, which bounds ExecReload too.
const execReloadWait = 75 * time.Second

// cmdReload is `systemctl reload`'s ExecReload as well as a user command.
// It validates first, with the service's own settings and variables, so a
// broken file fails the reload (non-zero) and the running stack is kept.
func cmdReload(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("reload", `Check the compose file with the service's settings and variables, then ask the
running agent (over its API, with the token) to re-read it and converge: new
services brought up, removed ones stopped, changed ones (configuration or
image) recreated one at a time in phase order. It waits for the changed
services to settle and prints what changed. A file that does not load exits 1
and the agent keeps running the stack it has; so does a changed service that
ends DISABLED, UNHEALTHY or failed. A converge still going when the wait ends
is reported and exits 0 (the agent goes on). It does not pull: hostagent up
pulls first.

With --pid (systemd's ExecReload passes $MAINPID) and no API answering, the
agent is sent SIGHUP instead (the converge then runs without waiting).`, env)
	var sf stackFlags
	sf.register(fs)
	var cf clientFlags
	cf.register(fs)
	pid := fs.Int("pid", 0, "the agent's `PID` (systemd passes $MAINPID): signal it when its API does not answer")
	wait := fs.Duration("timeout", 0, "how long to wait for the converge (default 5m; 75s with --pid, under the unit's timeout)")
	if err := parse(fs, args); err != nil {
		return err
	}
	stack, plan, err := loadPlan(ctx, env, &sf)
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("not reloading, the agent keeps the running stack: %w", err)}
	}
	for _, w := range plan.Warnings {
		fmt.Fprintf(env.stderr, "warning: %s\n", w)
	}
	if *wait <= 0 {
		*wait = 5 * time.Minute
		if *pid > 0 {
			*wait = execReloadWait
		}
	}
	c, err := newAPIClient(env, cf)
	if err == nil {
		cerr := reloadConverge(ctx, env, c, stack.Name, *wait)
		if cerr == nil || !isAgentDown(cerr) || *pid <= 0 {
			return cerr
		}
		err = cerr
	}
	if *pid <= 0 {
		return err
	}
	if err := syscall.Kill(*pid, syscall.SIGHUP); err != nil {
		return fmt.Errorf("signal agent %d: %w", *pid, err)
	}
	fmt.Fprintf(env.stdout, "reload: %s ok (%d services); the agent's API did not answer, so agent %d was sent SIGHUP and converges without waiting\n", stack.Name, len(stack.Services), *pid)
	return nil
}

// reloadConverge asks the agent to converge, waits up to wait and prints
// what changed; a converge still going when the wait ends is not an error.
func reloadConverge(ctx context.Context, env *environment, c *apiClient, project string, wait time.Duration) error {
	body, err := convergeCall(ctx, c, wait)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "reload: %s\n", project)
	printConverge(env.stdout, body)
	if err := convergeFailure(body); err != nil {
		return err
	}
	if !body.Complete {
		fmt.Fprintf(env.stdout, "still converging after %s; the agent goes on (hostagent status --watch)\n", wait)
	}
	return nil
}
