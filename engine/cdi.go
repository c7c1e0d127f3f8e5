package engine

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v4"
)

// cdiSpecDirs are where Podman 4 (and the CDI library) read CDI specs;
// a variable so that tests can point elsewhere.
var cdiSpecDirs = []string{"/etc/cdi", "/var/run/cdi"}

// cdiFix is the one command that makes NVIDIA GPUs known to CDI.
const cdiFix = "nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml"

// gpuUnavailable is the condition for a GPU the host cannot give: it
// names who asked (service X, container Y), the devices and the fix.
func gpuUnavailable(who string, names []string, why string) error {
	return fmt.Errorf("%s asks for %s but %s; on an NVIDIA host run `%s` (NVIDIA Container Toolkit): %w",
		who, strings.Join(names, ", "), why, cdiFix, ErrGPUUnavailable)
}

// checkCDI reports the requested CDI device names that no spec under dirs
// defines, as ErrGPUUnavailable. Specs that do not parse are skipped, as
// the CDI registry skips them.
func checkCDI(service string, names []string, dirs []string) error {
	known := map[string]bool{}
	for _, dir := range dirs {
		for _, pat := range []string{"*.yaml", "*.yml", "*.json"} {
			files, _ := filepath.Glob(filepath.Join(dir, pat))
			for _, f := range files {
				for _, n := range cdiSpecDevices(f) {
					known[n] = true
				}
			}
		}
	}
	var missing []string
	for _, n := range names {
		if !known[n] {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	why := "no CDI spec in " + strings.Join(dirs, " or ") + " defines it"
	if len(known) > 0 {
		why += " (defined: " + strings.Join(slices.Sorted(maps.Keys(known)), ", ") + ")"
	}
	return gpuUnavailable("service "+service, missing, why)
}

// cdiSpecDevices lists the qualified device names (kind=name) one spec
// file defines. JSON specs parse as YAML.
func cdiSpecDevices(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var spec struct {
		Kind    string `yaml:"kind"`
		Devices []struct {
			Name string `yaml:"name"`
		} `yaml:"devices"`
	}
	if yaml.Unmarshal(data, &spec) != nil || spec.Kind == "" {
		return nil
	}
	out := make([]string, 0, len(spec.Devices))
	for _, d := range spec.Devices {
		out = append(out, spec.Kind+"="+d.Name)
	}
	return out
}

// gpuEngineError turns an engine's refusal to attach a GPU into the
// ErrGPUUnavailable condition; other errors pass unchanged. Podman says
// "unresolvable CDI devices" (at start: libpod injects CDI devices when
// it makes the runtime spec); Docker without the NVIDIA runtime says
// `could not select device driver "nvidia"` (or "cdi"). who is "service
// X" or "container Y".
func gpuEngineError(who string, names []string, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "unresolvable CDI devices") && strings.Contains(msg, "::"):
		// nvidia.com/gpu=0::rwm: made through the compat API (by an agent
		// before the libpod path): no host fix helps, a new container does.
		return fmt.Errorf("%s was created with its GPU as a compat device path, which Podman cannot attach; remove it (`podman rm %s`) and the agent creates it again with the CDI device (engine: %s): %w",
			who, strings.TrimPrefix(strings.TrimPrefix(who, "container "), "service "), msg, ErrGPUUnavailable)
	case strings.Contains(msg, "unresolvable CDI devices"),
		strings.Contains(msg, "could not select device driver"):
		if len(names) == 0 {
			names = []string{"a GPU"}
		}
		return fmt.Errorf("%w (engine: %s)", gpuUnavailable(who, names, "the engine cannot attach it"), msg)
	}
	return err
}
