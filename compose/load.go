package compose

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	interp "github.com/compose-spec/compose-go/v2/interpolation"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/sirupsen/logrus"
)

// Options say which compose files to load and how.
type Options struct {
	// Files are the compose files, merged in order (like repeated -f).
	Files []string
	// ProjectName overrides the name (default: the name: key, else the
	// first file's directory).
	ProjectName string
	// ProjectDirectory is compose's --project-directory: where relative
	// paths, `.env` and the default project name resolve. Empty means the
	// first file's directory.
	ProjectDirectory string
	// EnvFiles replace the default .env in the project directory.
	EnvFiles []string
	// Profiles to enable; empty means COMPOSE_PROFILES from the environment.
	Profiles []string
	// Env is the process environment (KEY=VALUE); nil means os.Environ().
	Env []string
	// Defaults for health checks that the compose file leaves unset.
	Defaults HealthDefaults
	Logger   *slog.Logger
}

// HealthDefaults are the check interval and timeout for services whose
// compose file sets none (the ORCHESTRATOR_HEALTH_CHECK_* variables).
type HealthDefaults struct {
	Interval time.Duration
	Timeout  time.Duration
}

// DefaultHealth checks every 30 s with a 5 s timeout.
var DefaultHealth = HealthDefaults{Interval: 30 * time.Second, Timeout: 5 * time.Second}

// MissingVariable is one required variable (${X:?msg}) without a value.
type MissingVariable struct {
	Name     string
	Reason   string
	Services []string
}

// MissingVariablesError lists every required variable that has no value,
// with the services that need it, so one run tells the user all of them.
type MissingVariablesError struct {
	File    string
	Missing []MissingVariable
}

func (e *MissingVariablesError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d required variable(s) not set:", e.File, len(e.Missing))
	for _, m := range e.Missing {
		fmt.Fprintf(&b, "\n  %s (needed by %s)", m.Name, strings.Join(m.Services, ", "))
		if m.Reason != "" {
			fmt.Fprintf(&b, ": %s", m.Reason)
		}
	}
	b.WriteString("\nset them in the environment, in .env beside the compose file, or in a file given with --env-file")
	return b.String()
}

// placeholder stands in for required variables that only services of
// inactive profiles use; compose-go interpolates those services too, but
// they are never run, so their values never matter.
const placeholder = "hostagent-unset-inactive-profile"

var quietLogrus sync.Once

// Load reads the compose files, applies .env, interpolation and profiles
// with compose-go, and derives the stack model.
func Load(ctx context.Context, opts Options) (stack *Stack, err error) {
	if len(opts.Files) == 0 {
		return nil, errors.New("no compose file given (use -f FILE)")
	}
	// compose-go reports through logrus on stderr; its one warning we care
	// about (obsolete version:) is reported in Stack.Warnings instead.
	quietLogrus.Do(func() { logrus.SetOutput(io.Discard) })
	defer func() {
		// compose-go must not take the agent down on odd input.
		if r := recover(); r != nil {
			stack, err = nil, fmt.Errorf("%s: cannot load compose file: internal error: %v", opts.Files[0], r)
		}
	}()
	if opts.Defaults.Interval <= 0 {
		opts.Defaults.Interval = DefaultHealth.Interval
	}
	if opts.Defaults.Timeout <= 0 {
		opts.Defaults.Timeout = DefaultHealth.Timeout
	}
	for _, f := range opts.Files {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("compose file %s: %w", f, err)
		}
	}

	raw, env, err := loadRaw(ctx, opts)
	if err != nil {
		return nil, describe(opts.Files[0], err)
	}
	extra, err := checkRequired(opts, raw, env)
	if err != nil {
		return nil, err
	}
	project, err := loadProject(ctx, opts, extra)
	if err != nil {
		return nil, describe(opts.Files[0], err)
	}
	stack, err = newStack(project, opts)
	if err != nil {
		return nil, err
	}
	if len(stack.Services) == 0 {
		return nil, fmt.Errorf("%s: no services to run (none defined, or none enabled by the active profiles %v)", opts.Files[0], activeProfiles(opts, project.Environment))
	}
	if _, ok := raw["version"]; ok {
		stack.Warnings = append(stack.Warnings,
			fmt.Sprintf("%s: the top-level `version:` key is obsolete and ignored", opts.Files[0]))
	}
	return stack, nil
}

func projectOptions(opts Options, extraEnv map[string]string, fns ...cli.ProjectOptionsFn) (*cli.ProjectOptions, error) {
	env := opts.Env
	if env == nil {
		env = os.Environ()
	}
	dir := opts.ProjectDirectory
	if dir == "" {
		dir = filepath.Dir(opts.Files[0])
	}
	all := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(dir),
		cli.WithEnv(env),
		cli.WithEnvFiles(opts.EnvFiles...),
		cli.WithDotEnv,
		cli.WithDefaultProfiles(opts.Profiles...),
	}
	if opts.ProjectName != "" {
		all = append(all, cli.WithName(opts.ProjectName))
	}
	all = append(all, fns...)
	po, err := cli.NewProjectOptions(opts.Files, all...)
	if err != nil {
		return nil, err
	}
	for k, v := range extraEnv {
		po.Environment[k] = v
	}
	return po, nil
}

// loadRaw merges the files without interpolation, so that required
// variables can be checked per service and per profile.
func loadRaw(ctx context.Context, opts Options) (map[string]any, types.Mapping, error) {
	po, err := projectOptions(opts, nil,
		cli.WithInterpolation(false),
		cli.WithNormalization(false),
		cli.WithResolvedPaths(false),
		cli.WithConsistency(false),
		cli.WithLoadOptions(loader.WithSkipValidation))
	if err != nil {
		return nil, nil, err
	}
	raw, err := po.LoadModel(ctx)
	if err != nil {
		return nil, nil, err
	}
	return raw, po.Environment, nil
}

// checkRequired finds every ${X:?} without a value. Those needed by active
// services are an error; those needed only by inactive-profile services get
// a placeholder (returned) so that compose-go can load the rest.
func checkRequired(opts Options, raw map[string]any, env types.Mapping) (map[string]string, error) {
	services, _ := raw["services"].(map[string]any)
	active := activeProfiles(opts, env)
	missing := map[string]*MissingVariable{}
	neededByActive := map[string]bool{}
	usedByActive := map[string]bool{}
	var inactiveOnly []string
	names := sortedKeys(services)
	for _, name := range names {
		def, _ := services[name].(map[string]any)
		isActive := serviceActive(def, active)
		lookup := func(k string) (string, bool) {
			if isActive {
				usedByActive[k] = true
			}
			v, ok := env[k]
			return v, ok
		}
		_, err := interp.Interpolate(def, interp.Options{LookupValue: lookup, Substitute: template.Substitute})
		for _, m := range missingRequired(err) {
			mv := missing[m.Variable]
			if mv == nil {
				mv = &MissingVariable{Name: m.Variable, Reason: m.Reason}
				missing[m.Variable] = mv
			}
			if isActive {
				neededByActive[m.Variable] = true
				if !slices.Contains(mv.Services, name) {
					mv.Services = append(mv.Services, name)
				}
			} else if !slices.Contains(inactiveOnly, m.Variable) {
				inactiveOnly = append(inactiveOnly, m.Variable)
			}
		}
	}
	if len(neededByActive) > 0 {
		e := &MissingVariablesError{File: opts.Files[0]}
		for _, k := range sortedKeys(neededByActive) {
			e.Missing = append(e.Missing, *missing[k])
		}
		return nil, e
	}
	extra := map[string]string{}
	for _, k := range inactiveOnly {
		// A variable that an active service also reads (say with a
		// default) must not get the placeholder; compose-go then reports it.
		if !usedByActive[k] {
			extra[k] = placeholder
		}
	}
	return extra, nil
}

func missingRequired(err error) []template.MissingRequiredError {
	if err == nil {
		return nil
	}
	var out []template.MissingRequiredError
	if multi, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range multi.Unwrap() {
			out = append(out, missingRequired(e)...)
		}
		return out
	}
	var m *template.MissingRequiredError
	if errors.As(err, &m) {
		return []template.MissingRequiredError{*m}
	}
	var mv template.MissingRequiredError
	if errors.As(err, &mv) {
		return []template.MissingRequiredError{mv}
	}
	return nil
}

func activeProfiles(opts Options, env types.Mapping) []string {
	if len(opts.Profiles) > 0 {
		return opts.Profiles
	}
	var out []string
	for _, p := range strings.Split(env["COMPOSE_PROFILES"], ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func serviceActive(def map[string]any, active []string) bool {
	profiles, _ := def["profiles"].([]any)
	if len(profiles) == 0 || slices.Contains(active, "*") {
		return true
	}
	for _, p := range profiles {
		if s, ok := p.(string); ok && slices.Contains(active, s) {
			return true
		}
	}
	return false
}

func loadProject(ctx context.Context, opts Options, extra map[string]string) (*types.Project, error) {
	po, err := projectOptions(opts, extra)
	if err != nil {
		return nil, err
	}
	return po.LoadProject(ctx)
}

// describe prefixes compose-go errors with the file unless they name it.

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
