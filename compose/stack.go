package compose

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

func newStack(p *types.Project, opts Options) (*Stack, error) {
	st := &Stack{
		Name:       p.Name,
		WorkingDir: p.WorkingDir,
		Files:      append([]string(nil), opts.Files...),
		Project:    p,
	}
	st.EnvFiles = envFiles(p.WorkingDir, opts.EnvFiles)
	volOpts := volumeOptions(opts.Files, p.Environment)
	for _, name := range p.ServiceNames() {
		svc, err := newService(p, p.Services[name], opts.Defaults)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", opts.Files[0], err)
		}
		svc.VolumeOptions = volOpts[name]
		st.Services = append(st.Services, svc)
	}
	sort.Slice(st.Services, func(i, j int) bool { return st.Services[i].Name < st.Services[j].Name })
	for _, svc := range st.Services {
		st.Unsupported = append(st.Unsupported, unsupported(p, svc)...)
	}
	if len(p.Models) > 0 {
		st.Unsupported = append(st.Unsupported, Warning{Key: "models", Instead: "ignored: no model runner is set up"})
	}
	for _, w := range st.Unsupported {
		st.Warnings = append(st.Warnings, w.String())
	}
	st.redactor = newRedactor(st)
	return st, nil
}

func newService(p *types.Project, sc types.ServiceConfig, d HealthDefaults) (Service, error) {
	ext, err := parseExtension(sc.Name, sc.Extensions[extensionKey], sc.Labels)
	if err != nil {
		return Service{}, err
	}
	s := Service{
		Name:          sc.Name,
		DisplayName:   sc.Name,
		Image:         sc.Image,
		Profiles:      sc.Profiles,
		PhaseOverride: ext.Phase,
		Config:        sc,
	}
	if ext.DisplayName != "" {
		s.DisplayName = ext.DisplayName
	}
	if s.Image == "" {
		// compose names images of build-only services <project>-<service>.
		s.Image = p.Name + "-" + sc.Name
	}
	if s.PhaseOverride < 0 {
		return s, fmt.Errorf("service %q: phase %d must be positive", sc.Name, s.PhaseOverride)
	}
	if s.Ports, err = ports(sc); err != nil {
		return s, err
	}
	s.GPU = s.gpuNeed()
	if ext.GPU != nil {
		s.GPU.Required = *ext.GPU
	}
	if s.GPU.VRAMBytes, err = ext.vramBytes(); err != nil {
		return s, fmt.Errorf("service %q: %w", sc.Name, err)
	}
	s.Category = guessCategory(sc.Name, s.Image, sc.Profiles, s.GPU.Required)
	if ext.Category != "" {
		if s.Category, err = ParseCategory(ext.Category); err != nil {
			return s, fmt.Errorf("service %q: %w", sc.Name, err)
		}
	}
	s.DependsOn = dependencies(sc)
	if s.Health, err = healthSpec(sc.Name, sc.HealthCheck, ext, s.Category, s.Ports, d); err != nil {
		return s, err
	}
	s.StartupEstimate = s.Health.StartPeriod
	if ext.StartupTime != "" {
		if s.StartupEstimate, err = parseDuration("startup_time", ext.StartupTime); err != nil {
			return s, fmt.Errorf("service %q: %w", sc.Name, err)
		}
	}
	if s.Restart, err = restartOverride(sc.Name, ext); err != nil {
		return s, err
	}
	if s.RestartPolicy, err = parseRestartPolicy(sc); err != nil {
		return s, err
	}
	return s, nil
}

// dependencies are the service's depends_on entries, sorted by service;
// a condition left out means service_started.
func dependencies(sc types.ServiceConfig) []Dependency {
	var out []Dependency
	for _, dep := range sortedKeys(sc.DependsOn) {
		cfg := sc.DependsOn[dep]
		cond := Condition(cfg.Condition)
		if cond == "" {
			cond = ConditionStarted
		}
		out = append(out, Dependency{Service: dep, Condition: cond, Required: cfg.Required, Restart: cfg.Restart})
	}
	return out
}

func restartOverride(name string, ext extension) (RestartOverride, error) {
	r := RestartOverride{MaxFailures: ext.Restart.MaxFailures}
	var err error
	if r.BackoffBase, err = parseDuration("backoff_base", ext.Restart.BackoffBase); err != nil {
		return r, fmt.Errorf("service %q: %w", name, err)
	}
	if r.BackoffMax, err = parseDuration("backoff_max", ext.Restart.BackoffMax); err != nil {
		return r, fmt.Errorf("service %q: %w", name, err)
	}
	if r.MaxFailures < 0 {
		return r, fmt.Errorf("service %q: max_failures %d must not be negative", name, r.MaxFailures)
	}
	return r, nil
}

func ports(sc types.ServiceConfig) ([]Port, error) {
	var out []Port
	for _, p := range sc.Ports {
		port := Port{HostIP: p.HostIP, ContainerPort: int(p.Target), Protocol: p.Protocol}
		if port.Protocol == "" {
			port.Protocol = "tcp"
		}
		if pub := p.Published; pub != "" {
			// A range such as 8000-8001 maps its first port to Target.
			first, _, _ := strings.Cut(pub, "-")
			n, err := strconv.Atoi(first)
			if err != nil {
				return nil, fmt.Errorf("service %q: published port %q is not a number", sc.Name, pub)
			}
			port.HostPort = n
		}
		out = append(out, port)
	}
	return out, nil
}

// Durations are printed in whole seconds in plans.
func seconds(d time.Duration) float64 { return d.Seconds() }
