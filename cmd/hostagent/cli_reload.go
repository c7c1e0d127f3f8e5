package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

func init() {
	commands["reload"] = command{"check the compose file, then make the running agent re-read it and converge", cmdReload}
}

// cmdReload is `systemctl reload`'s ExecReload as well as a user command.
// It validates first, with the service's own settings and variables, so a
// broken file fails the reload (non-zero) and the running stack is kept.
func cmdReload(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("reload", `Check the compose file with the service's settings and variables, then tell the
running agent to re-read it and converge (new services brought up, removed ones
stopped, changed ones recreated). A file that does not load exits 1 and the
agent keeps running the stack it has. Without --pid this asks systemd
(systemctl reload hostagent), which runs this command again with --pid.`, env)
	var sf stackFlags
	sf.register(fs)
	pid := fs.Int("pid", 0, "signal this agent `PID` (systemd passes $MAINPID) instead of asking systemctl")
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
	if *pid > 0 {
		if err := syscall.Kill(*pid, syscall.SIGHUP); err != nil {
			return fmt.Errorf("signal agent %d: %w", *pid, err)
		}
		fmt.Fprintf(env.stdout, "reload: %s ok (%d services); agent %d re-reads it\n", stack.Name, len(stack.Services), *pid)
		return nil
	}
	cmd := exec.CommandContext(ctx, "systemctl", "reload", "hostagent")
	cmd.Stdout, cmd.Stderr = env.stdout, env.stderr
	cmd.Env = os.Environ()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("systemctl reload hostagent: %w (not run by systemd? send SIGHUP to the agent, or pass --pid)", err)
	}
	fmt.Fprintf(env.stdout, "reload: %s ok (%d services)\n", stack.Name, len(stack.Services))
	return nil
}
