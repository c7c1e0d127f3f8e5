package compose

import (
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

// knownVolumeOptions are the short-syntax options compose-go understands
// (ro/rw, SELinux, propagation, nocopy) plus Podman's U, which it drops
// and the engine adapter carries.
var knownVolumeOptions = map[string]bool{
	"ro": true, "rw": true, "z": true, "Z": true, "nocopy": true, "U": true,
	"shared": true, "rshared": true, "slave": true, "rslave": true, "private": true, "rprivate": true,
}

// volumeOptions reads the short-syntax volume strings of each service
// straight from the compose files and returns, per service and container
// path, the options as written. compose-go turns short syntax into its
// long form while loading and silently drops every option it does not
// know, Podman's U among them (format/volume.go), so they can only be
// recovered from the YAML itself. Later files win, as in compose's merge.
// A file that cannot be read here was already read by compose-go, so
// failures only mean fewer options, never a failed load.
func volumeOptions(files []string, env types.Mapping) map[string]map[string][]string {
	out := map[string]map[string][]string{}
	extends := map[string]string{} // service -> the service it extends in its file
	for _, f := range files {
		readVolumeOptions(f, env, out, extends)
	}
	// A service that extends another in the same file inherits its mounts
	// (compose-go has resolved extends, and no longer says from where).
	for name, base := range extends {
		for target, opts := range out[base] {
			if _, own := out[name][target]; !own {
				setVolumeOptions(out, name, target, opts)
			}
		}
	}
	return out
}

// volumesDoc is the part of a compose file volumeOptions reads.
type volumesDoc struct {
	Services map[string]struct {
		Volumes []any `yaml:"volumes"`
		Extends any   `yaml:"extends"`
	} `yaml:"services"`
}

// readVolumeOptions adds one file's short-syntax volume options to out,
// and its same-file extends to extends.
func readVolumeOptions(file string, env types.Mapping, out map[string]map[string][]string, extends map[string]string) {
	data, err := os.ReadFile(file)
	if err != nil {
		return
	}
	var doc volumesDoc
	if yaml.Unmarshal(data, &doc) != nil {
		return
	}
	for name, svc := range doc.Services {
		if base := extendsInFile(svc.Extends); base != "" {
			extends[name] = base
		}
		for _, v := range svc.Volumes {
			if target, opts, ok := shortVolumeOptions(v, env); ok {
				setVolumeOptions(out, name, target, opts)
			}
		}
	}
}

// shortVolumeOptions reads one volumes: entry: a short-syntax string,
// interpolated, with options.
func shortVolumeOptions(v any, env types.Mapping) (target string, opts []string, ok bool) {
	s, ok := v.(string)
	if !ok {
		return "", nil, false
	}
	if sub, err := template.Substitute(s, env.Resolve); err == nil {
		s = sub
	}
	return splitVolumeOptions(s)
}

func setVolumeOptions(out map[string]map[string][]string, service, target string, opts []string) {
	if out[service] == nil {
		out[service] = map[string][]string{}
	}
	out[service][target] = opts
}

// extendsInFile returns the service that `extends:` names in the same
// file ("" for another file or none).
func extendsInFile(v any) string {
	switch e := v.(type) {
	case string:
		return e
	case map[string]any:
		if _, other := e["file"]; other {
			return ""
		}
		s, _ := e["service"].(string)
		return s
	}
	return ""
}

// splitVolumeOptions splits "src:dst:opts" into the cleaned container path
// and the options. Only the three-part form carries options.
func splitVolumeOptions(s string) (target string, opts []string, ok bool) {
	parts := strings.Split(s, ":")
	if len(parts) < 3 {
		return "", nil, false
	}
	target = parts[len(parts)-2]
	if target == "" {
		return "", nil, false
	}
	for _, o := range strings.Split(parts[len(parts)-1], ",") {
		if o = strings.TrimSpace(o); o != "" {
			opts = append(opts, o)
		}
	}
	if len(opts) == 0 {
		return "", nil, false
	}
	return path.Clean(target), opts, true
}

// volumeOptionWarnings names short-syntax options that nobody carries.
func volumeOptionWarnings(svc string, opts map[string][]string) []Warning {
	var out []Warning
	for _, target := range sortedKeys(opts) {
		for _, o := range opts[target] {
			if knownVolumeOptions[o] {
				continue
			}
			out = append(out, Warning{Service: svc, Key: "volumes: " + target,
				Instead: fmt.Sprintf("option %q is not passed to the engine; the mount is made without it", o)})
		}
	}
	return out
}
