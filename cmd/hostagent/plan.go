package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/hostagent/hostagent/compose"
)

func cmdPlan(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("plan", "Print the phased startup plan: phases, dependencies, health checks, GPU\nservices and the critical path, without touching any container.", env)
	var sf stackFlags
	sf.register(fs)
	format := fs.String("format", "text", "output `FORMAT`: text, json or mermaid")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *format != "text" && *format != "json" && *format != "mermaid" {
		fmt.Fprintf(env.stderr, "hostagent plan: unknown --format %q (want text, json or mermaid)\n", *format)
		return errUsage
	}
	_, plan, err := loadPlan(ctx, env, &sf)
	if err != nil {
		return err
	}
	switch *format {
	case "json":
		data, err := plan.JSON()
		if err != nil {
			return err
		}
		fmt.Fprintln(env.stdout, string(data))
	case "mermaid":
		fmt.Fprint(env.stdout, plan.Mermaid())
	default:
		fmt.Fprint(env.stdout, plan.Text())
	}
	return nil
}

func cmdValidate(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("validate", "Check that a compose file loads (variables, profiles, dependencies, health\nchecks) and can be planned. Exit status 0 when it can, 1 otherwise. Compose\nkeys the agent does not carry into the containers are listed as warnings.", env)
	var sf stackFlags
	sf.register(fs)
	quiet := fs.Bool("q", false, "print nothing on success")
	strict := fs.Bool("strict", false, "fail (exit 1) when the file uses compose keys the agent does not carry")
	if err := parse(fs, args); err != nil {
		return err
	}
	stack, plan, err := loadPlan(ctx, env, &sf)
	if err != nil {
		return err
	}
	for _, w := range plan.Warnings {
		fmt.Fprintf(env.stderr, "warning: %s\n", w)
	}
	// Only what is dropped fails --strict; a notice such as the obsolete
	// version: key changes nothing in the containers.
	if *strict && len(stack.Unsupported) > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%s: %d compose key(s) the agent does not carry, which --strict makes errors",
			strings.Join(stack.Files, ", "), len(stack.Unsupported))}
	}
	if !*quiet {
		gpu := 0
		for _, s := range stack.Services {
			if s.GPU.Required {
				gpu++
			}
		}
		fmt.Fprintf(env.stdout, "%s: ok — project %s, %d services (%d GPU), %d phases\n",
			strings.Join(stack.Files, ", "), stack.Name, len(stack.Services), gpu, len(plan.Phases))
	}
	return nil
}

// loadPlan loads the compose files named by flags/env/config and plans them.
func loadPlan(ctx context.Context, env *environment, sf *stackFlags) (*compose.Stack, *compose.Plan, error) {
	cfg, err := loadConfig(env.getenv)
	if err != nil {
		return nil, nil, err
	}
	sf.apply(&cfg)
	stack, err := compose.Load(ctx, composeOptions(cfg))
	if err != nil {
		var mv *compose.MissingVariablesError
		if errors.As(err, &mv) {
			return nil, nil, &exitError{code: 1, err: err}
		}
		return nil, nil, err
	}
	plan, err := compose.NewPlan(stack)
	if err != nil {
		return nil, nil, err
	}
	return stack, plan, nil
}

func composeOptions(cfg config) compose.Options {
	return compose.Options{
		Files:            cfg.ComposeFiles,
		ProjectName:      cfg.ProjectName,
		ProjectDirectory: cfg.ProjectDirectory,
		EnvFiles:         cfg.EnvFiles,
		Profiles:         cfg.Profiles,
		Env:              os.Environ(),
		Defaults:         compose.HealthDefaults{Interval: cfg.HealthCheckInterval, Timeout: cfg.HealthCheckTimeout},
	}
}
