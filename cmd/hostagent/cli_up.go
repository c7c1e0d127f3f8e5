package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/hostagent/hostagent/api"
)

func init() {
	commands["up"] = command{"pull what the file needs, then make the running agent converge on it and wait; prints what changed", cmdUp}
}

// agentDownError: the agent's API did not answer at all (not an error
// answer), so a caller may try another way (SIGHUP).
type agentDownError struct{ err error }

func (e agentDownError) Error() string { return e.err.Error() }
func (e agentDownError) Unwrap() error { return e.err }

func isAgentDown(err error) bool {
	var d agentDownError
	return errors.As(err, &d)
}

// convergeCall asks the agent to load its file and converge, waiting up to
// wait, and prints what changed. It returns the agent's report; an error
// answer (a file that does not load: 422) is an error.
func convergeCall(ctx context.Context, c *apiClient, wait time.Duration) (api.ReloadBody, error) {
	var b api.ReloadBody
	path := fmt.Sprintf("/api/system/reload?timeout=%ds", int(wait.Seconds()))
	err := c.do(ctx, http.MethodPost, path, wait+time.Minute, &b)
	return b, err
}

// printConverge prints the summary, then one line per changed service.
func printConverge(w io.Writer, b api.ReloadBody) {
	if len(b.Added)+len(b.Removed)+len(b.Recreated) == 0 {
		fmt.Fprintf(w, "nothing changed (%d services up to date)\n", b.Unchanged)
		return
	}
	fmt.Fprintf(w, "%d added, %d removed, %d recreated, %d unchanged\n", len(b.Added), len(b.Removed), len(b.Recreated), b.Unchanged)
	for _, s := range b.Services {
		verdict := "ok"
		switch {
		case !s.Settled:
			verdict = "still starting"
		case !s.OK:
			verdict = "FAILED"
		}
		line := fmt.Sprintf("  %-9s %-24s %-9s %s", s.Change, s.Name, s.Status.Upper(), verdict)
		if s.Detail != "" && (!s.OK || !s.Settled) {
			line += ": " + sanitizeLine(s.Detail)
		}
		fmt.Fprintln(w, line)
	}
}

// convergeFailure is the error for a converge whose changed services did
// not all end healthy (nil when they did).
func convergeFailure(b api.ReloadBody) error {
	var failed []string
	for _, s := range b.Services {
		if s.Settled && !s.OK {
			failed = append(failed, s.Name)
		}
	}
	if len(failed) > 0 {
		return &exitError{code: 1, err: fmt.Errorf("converge failed: %v did not end healthy (hostagent status NAME says why)", failed)}
	}
	return nil
}

func cmdUp(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("up [SERVICE...]", `Bring the running agent's stack up to date with its compose file (the one the
service is configured with): check the file, pull or build what is needed as
each service's pull_policy says, then ask the agent to converge (new services
started, removed ones stopped, services whose configuration or image changed
recreated one at a time in phase order) and wait for it, printing what
changed. With SERVICE names only those images are pulled; the converge is
always of the whole file.

Exit status 0 when every changed service ends healthy (or completed); 1 when
the file is invalid (the agent keeps the running stack), an image cannot be
had, a changed service ends DISABLED, UNHEALTHY or failed, the wait runs out,
or the agent is not running (systemctl start hostagent).`, env)
	var cf clientFlags
	cf.register(fs)
	wait := fs.Duration("timeout", 5*time.Minute, "how long to wait for the changed services to settle")
	noPull := fs.Bool("no-pull", false, "do not pull or build; converge on the images present")
	names, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(env.getenv)
	if err != nil {
		return err
	}
	stack, plan, err := loadStack(ctx, cfg)
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("not converging, the agent keeps the running stack: %w", err)}
	}
	for _, w := range plan.Warnings {
		fmt.Fprintf(env.stderr, "warning: %s\n", w)
	}
	services, err := selectServices(stack, names)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	c, err := newAPIClient(env, cf)
	if err != nil {
		return err
	}
	// Before pulling: a pull is no use when no agent will converge.
	if err := c.get(ctx, "/api/system/health", nil); err != nil {
		return err
	}
	if !*noPull {
		if err := pullServices(ctx, env, cfg, stack, services); err != nil {
			return err
		}
	}
	fmt.Fprintf(env.stdout, "converging %s (%d services)...\n", stack.Name, len(stack.Services))
	return upConverge(ctx, env, c, *wait)
}

// upConverge asks the agent to converge and prints what changed; a
// converge not settled within wait is a failure.
func upConverge(ctx context.Context, env *environment, c *apiClient, wait time.Duration) error {
	b, err := convergeCall(ctx, c, wait)
	if err != nil {
		return err
	}
	printConverge(env.stdout, b)
	if err := convergeFailure(b); err != nil {
		return err
	}
	if !b.Complete {
		return &exitError{code: 1, err: fmt.Errorf("not settled within %s; the agent goes on (hostagent status --watch)", wait)}
	}
	return nil
}
