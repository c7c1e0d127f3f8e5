// Command hostagent is a Compose-aware host agent: it brings a compose stack
// up in phases on the host's Podman, staggers GPU services by VRAM, heals
// what fails, and serves status and control over REST.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

var version = "dev"

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, env *environment, args []string) error
}

// environment is what commands read and write, injectable for tests.
type environment struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

var commands = map[string]command{
	"plan":     {"print the phased startup plan of a compose file", cmdPlan},
	"validate": {"check a compose file; exit 0 if the agent can run it, 1 otherwise", cmdValidate},
	"version":  {"print the version", cmdVersion},
}

// exitConfig is the exit status for a configuration the agent cannot use
// (unreadable settings, a compose file that does not load): systemd's
// RestartPreventExitStatus= keeps such a start from looping.
const exitConfig = 78 // EX_CONFIG

// exitError carries a specific exit code (1 is the default for errors).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &environment{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	if err := applyServiceEnv(); err != nil {
		fmt.Fprintf(os.Stderr, "hostagent: %v\n", err)
		os.Exit(exitConfig)
	}
	os.Exit(dispatch(ctx, env, os.Args[1:]))
}

func dispatch(ctx context.Context, env *environment, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "--version" {
		args[0] = "version"
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(env.stderr, "hostagent: unknown command %q\n\n", args[0])
		usage(env.stderr)
		return 2
	}
	err := cmd.run(ctx, env, args[1:])
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.As(err, &ee):
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintf(env.stderr, "hostagent %s: %v\n", args[0], ee.err)
		}
		return ee.code
	default:
		fmt.Fprintf(env.stderr, "hostagent %s: %v\n", args[0], err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `hostagent %s — a Compose-aware host agent for Podman

Usage: hostagent COMMAND [flags]

Commands:
`, version)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprint(w, `
Run 'hostagent COMMAND --help' for the flags of a command.

Settings come from flags, then ORCHESTRATOR_* environment variables, then
/etc/hostagent/config.yaml (or ORCHESTRATOR_CONFIG), then defaults.

Examples:
  hostagent plan -f docker-compose.prod.yml --profile monitoring
  hostagent validate -f docker-compose.prod.yml
`)
}

func cmdVersion(_ context.Context, env *environment, args []string) error {
	fs := newFlagSet("version", "Print the version.", env)
	if err := parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "hostagent %s\n", version)
	return nil
}
