package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hostagent/hostagent/api"
	"github.com/hostagent/hostagent/cmd/hostagent/adapt"
	"github.com/hostagent/hostagent/supervisor"
)

func init() {
	commands["down"] = command{"stop and remove the stack (the running agent lets go of it first), in reverse phase order", cmdDown}
	commands["stop"] = command{"stop services; the agent does not restart them until hostagent start", cmdStop}
	commands["start"] = command{"start services stopped with hostagent stop (or disabled)", cmdStart}
}

func cmdDown(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("down", `Stop the stack's containers in reverse phase order (monitoring first), each
with its stop_grace_period, then remove them and the project's networks, like
docker compose down; -v also removes the project's named volumes.

When the agent runs, it is first told to stop supervising the stack, so it
restarts nothing while (or after) down stops it: its status then shows every
service STOPPED, "not supervised after hostagent down". The agent keeps
running and brings the stack back only on hostagent up, hostagent reload
(systemctl reload hostagent), or an agent restart (systemctl restart
hostagent, a reboot). To keep it down across reboots: systemctl disable
--now hostagent.`, env)
	var sf stackFlags
	sf.register(fs)
	var cf clientFlags
	cf.register(fs)
	timeout := fs.Duration("timeout", 10*time.Second, "how long each container gets to stop before it is killed, unless its service sets stop_grace_period")
	volumes := fs.Bool("v", false, "also remove the project's named volumes (their data is lost)")
	fs.BoolVar(volumes, "volumes", false, "same as -v")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, stack, plan, err := configuredStack(ctx, env, &sf)
	if err != nil {
		return err
	}
	if err := releaseFromAgent(ctx, env, cf, stack.Name); err != nil {
		return err
	}
	c, err := cliEngine(cfg, env)
	if err != nil {
		return err
	}
	defer c.Close()
	say := progressPrinter(env.stdout)
	err = supervisor.TearDown(ctx, adapt.Engine{C: c}, stack, plan, supervisor.DownOptions{Timeout: *timeout, Remove: true, Progress: say})
	nets, nerr := c.RemoveNetworks(ctx, stack.Name)
	for _, n := range nets {
		say("network "+n, "removed")
	}
	var verr error
	if *volumes {
		var vols []string
		vols, verr = c.RemoveVolumes(ctx, stack.Name)
		for _, v := range vols {
			say("volume "+v, "removed")
		}
	}
	if err := errors.Join(err, nerr, verr); err != nil {
		return &exitError{code: 1, err: fmt.Errorf("down %s: %w", stack.Name, err)}
	}
	fmt.Fprintf(env.stdout, "%s is down\n", stack.Name)
	return nil
}

// releaseFromAgent tells a running agent to stop supervising the stack
// before down stops it; with no agent answering there is nothing to tell.
// An agent that answers but refuses (no token) stops down: it would fight.
func releaseFromAgent(ctx context.Context, env *environment, cf clientFlags, project string) error {
	c, err := newAPIClient(env, cf)
	if err != nil {
		return nil // no agent address configured: no agent to tell
	}
	var plan struct {
		Project string `json:"project"`
	}
	if err := c.get(ctx, "/api/system/plan", &plan); err != nil {
		if isAgentDown(err) {
			fmt.Fprintln(env.stdout, "agent not running; stopping the stack directly")
			return nil
		}
		return fmt.Errorf("asking the agent which stack it runs: %w", err)
	}
	if plan.Project != project {
		fmt.Fprintf(env.stdout, "the agent supervises %s, not %s; leaving it alone\n", plan.Project, project)
		return nil
	}
	var b api.DownBody
	if err := c.do(ctx, http.MethodPost, "/api/system/down", writeTimeout, &b); err != nil {
		return fmt.Errorf("asking the agent to stop supervising %s (down would fight it): %w", project, err)
	}
	fmt.Fprintf(env.stdout, "agent: stopped supervising %s (%d services); hostagent up brings it back\n", project, len(b.Released))
	return nil
}

func cmdStop(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("stop NAME...", `Stop services through the agent: each is marked stopped by the user (kept in
the state store, so an agent restart does not start it either) and its
container is stopped with its stop_grace_period. hostagent start NAME undoes
it. Dependents are not stopped.

`+controlExits, env)
	var cf clientFlags
	cf.register(fs)
	names, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	return control(ctx, env, fs.Usage, cf, names, "stop", "")
}

func cmdStart(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("start NAME...", `Start services stopped with hostagent stop (or disabled) through the agent:
the mark is cleared, the failure count reset, and the agent starts and
supervises the service again.

`+controlExits, env)
	var cf clientFlags
	cf.register(fs)
	names, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	return control(ctx, env, fs.Usage, cf, names, "start", "")
}
