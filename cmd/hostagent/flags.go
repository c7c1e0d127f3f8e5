package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
)

var (
	errHelp  = errors.New("help shown")
	errUsage = errors.New("usage error")
)

// listFlag is a repeatable string flag (-f a.yml -f b.yml).
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func newFlagSet(name, about string, env *environment) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: hostagent %s [flags]\n\n%s\n\nFlags:\n", name, about)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags anywhere among the arguments ("restart NAME --reset-failures"
// as well as "restart --reset-failures NAME") and returns the positionals.
func parse(fs *flag.FlagSet, args []string) error {
	_, err := parseArgs(fs, args)
	return err
}

func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(fs.Output())
				return nil, errHelp
			}
			return nil, errUsage
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// stackFlags are the compose flags shared by plan, validate, run and down.
type stackFlags struct {
	files, profiles, envFiles listFlag
	project, projectDir       string
}

func (s *stackFlags) register(fs *flag.FlagSet) {
	fs.Var(&s.files, "f", "compose `FILE` (repeatable; later files override earlier ones)")
	s.registerLong(fs)
}

// registerLong leaves -f free for the command (logs -f follows, as in
// compose); the file is then given with --file.
func (s *stackFlags) registerLong(fs *flag.FlagSet) {
	fs.Var(&s.files, "file", "compose `FILE` (repeatable; later files override earlier ones)")
	fs.StringVar(&s.project, "p", "", "project `NAME` (default: the file's name: key, else its directory)")
	fs.StringVar(&s.project, "project-name", "", "same as -p")
	fs.StringVar(&s.projectDir, "project-directory", "", "`DIR` where relative paths, .env and the default project name resolve (default: the first file's directory)")
	fs.Var(&s.profiles, "profile", "enable a compose `PROFILE` (repeatable; default COMPOSE_PROFILES)")
	fs.Var(&s.envFiles, "env-file", "read variables from `FILE` instead of .env beside the compose file (repeatable)")
}

// apply lets flags override the config.
func (s *stackFlags) apply(c *config) {
	if len(s.files) > 0 {
		c.ComposeFiles = s.files
	}
	if s.project != "" {
		c.ProjectName = s.project
	}
	if s.projectDir != "" {
		c.ProjectDirectory = s.projectDir
	}
	if len(s.profiles) > 0 {
		c.Profiles = s.profiles
	}
	if len(s.envFiles) > 0 {
		c.EnvFiles = s.envFiles
	}
}
