package podmantest

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hostagent/hostagent/compose"
)

// LoadStack loads compose YAML (as the file dir/compose.yaml) into a
// compose.Stack with compose-go, filling only what the engine and probe
// tests need: names, resolved images, ports, the compose config, and a
// command health spec from `healthcheck.test`. Tests that need the full
// model (categories, phases) use compose.Load. profiles are the active
// compose profiles.
func LoadStack(ctx context.Context, dir, project, yaml string, profiles ...string) (*compose.Stack, error) {
	file := filepath.Join(dir, "compose.yaml")
	p, err := loader.LoadWithContext(ctx, types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: file, Content: []byte(yaml)}},
		Environment: types.NewMapping(nil),
	}, func(o *loader.Options) {
		o.SetProjectName(project, true)
		o.Profiles = profiles
	})
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", file, err)
	}
	st := &compose.Stack{Name: project, WorkingDir: dir, Files: []string{file}, Project: p}
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		cfg := p.Services[name]
		svc := compose.Service{Name: name, DisplayName: name, Image: cfg.Image, Config: cfg}
		if svc.Image == "" {
			svc.Image = project + "-" + name
		}
		for _, port := range cfg.Ports {
			hp, _ := strconv.Atoi(port.Published)
			svc.Ports = append(svc.Ports, compose.Port{HostIP: port.HostIP, HostPort: hp, ContainerPort: int(port.Target), Protocol: port.Protocol})
		}
		svc.Health = healthOf(cfg.HealthCheck)
		st.Services = append(st.Services, svc)
	}
	return st, nil
}

func healthOf(hc *types.HealthCheckConfig) compose.HealthSpec {
	spec := compose.HealthSpec{Method: compose.HealthRunning}
	if hc == nil || len(hc.Test) == 0 {
		return spec
	}
	switch hc.Test[0] {
	case "NONE":
		spec.Method = compose.HealthNone
	case "CMD":
		spec.Method, spec.Command = compose.HealthCommand, hc.Test[1:]
	case "CMD-SHELL":
		spec.Method, spec.Shell = compose.HealthCommand, hc.Test[1]
		spec.Command = []string{"/bin/sh", "-c", hc.Test[1]}
	}
	return spec
}
