package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"

	"github.com/hostagent/hostagent/api"
	"github.com/hostagent/hostagent/supervisor"
)

func init() {
	commands["restart"] = command{"restart a service now (--reset-failures clears its failure count)", cmdRestart}
	commands["enable"] = command{"re-enable auto-restart of a service (resets its failure count)", cmdEnable}
	commands["disable"] = command{"turn auto-restart of a service off (the container is left as it is)", cmdDisable}
	commands["events"] = command{"print the agent's recent service events", cmdEvents}
}

const controlExits = `Exit status: 0 done, 1 agent unreachable or refusing, 2 usage error,
3 unknown service, 4 unauthorized (the token file is root's: run as root or
pass --token-file).`

func cmdRestart(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("restart NAME...", "Restart services now (a manual restart); the outcome arrives as events:\nfollow it with hostagent status --watch.\n\n"+controlExits, env)
	var cf clientFlags
	cf.register(fs)
	reset := fs.Bool("reset-failures", false, "reset the failure count first (a service near its max failures gets a full budget)")
	names, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	q := ""
	if *reset {
		q = "?reset_failures=true"
	}
	return control(ctx, env, fs.Usage, cf, names, "restart", q)
}

func cmdEnable(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("enable NAME...", "Re-enable auto-restart of services (a DISABLED one is started again).\n\n"+controlExits, env)
	var cf clientFlags
	cf.register(fs)
	names, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	return control(ctx, env, fs.Usage, cf, names, "enable", "")
}

func cmdDisable(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("disable NAME...", "Turn auto-restart of services off; their containers are left as they are.\n\n"+controlExits, env)
	var cf clientFlags
	cf.register(fs)
	names, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	return control(ctx, env, fs.Usage, cf, names, "disable", "")
}

// control posts one action per name, stopping at the first error.
func control(ctx context.Context, env *environment, usage func(), cf clientFlags, names []string, action, query string) error {
	if len(names) == 0 {
		fmt.Fprintf(env.stderr, "hostagent %s: a service NAME is required\n", action)
		usage()
		return errUsage
	}
	c, err := newAPIClient(env, cf)
	if err != nil {
		return err
	}
	for _, n := range names {
		var b api.ActionBody
		if err := c.post(ctx, "/api/system/services/"+url.PathEscape(n)+"/"+action+query, &b); err != nil {
			return err
		}
		line := fmt.Sprintf("%s: %s", n, b.Message)
		if b.ResetFailures {
			line += " (failure count reset)"
		}
		if b.Data != nil {
			line += fmt.Sprintf(" — now %s", b.Data.Status.Upper())
		}
		fmt.Fprintln(env.stdout, line)
	}
	return nil
}

func cmdEvents(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("events [NAME...]", "Print the agent's recent events, oldest first (optionally only those of NAME).", env)
	var cf clientFlags
	cf.register(fs)
	n := fs.Int("n", 50, "how many recent events to fetch (1-500)")
	jsonOut := fs.Bool("json", false, "print the API's JSON")
	names, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if *n < 1 || *n > 500 {
		fmt.Fprintf(env.stderr, "hostagent events: -n %d: want 1 to 500\n", *n)
		return errUsage
	}
	c, err := newAPIClient(env, cf)
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := c.get(ctx, "/api/system/services/"+url.PathEscape(name), nil); err != nil {
			return err
		}
	}
	var body struct {
		Events []supervisor.Event `json:"events"`
	}
	var raw json.RawMessage
	if err := c.get(ctx, fmt.Sprintf("/api/system/health/events?limit=%d", *n), &raw); err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return fmt.Errorf("the agent's events: %w", err)
	}
	evs := body.Events
	if len(names) > 0 {
		evs = slices.DeleteFunc(evs, func(e supervisor.Event) bool { return !slices.Contains(names, e.Data.Name) })
	}
	if *jsonOut {
		if len(names) > 0 {
			return printJSON(env.stdout, map[string]any{"events": evs, "count": len(evs)})
		}
		return printJSON(env.stdout, raw)
	}
	if len(evs) == 0 {
		fmt.Fprintln(env.stdout, "no events")
		return nil
	}
	for _, ev := range evs {
		fmt.Fprintln(env.stdout, eventLine(ev))
	}
	return nil
}
