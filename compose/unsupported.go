package compose

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// Warning is a compose key the agent does not carry into the container:
// the service (empty for a top-level key), the key as written in the
// file, and what happens instead.
type Warning struct {
	Service string `json:"service,omitempty"`
	Key     string `json:"key"`
	Instead string `json:"instead"`
}

func (w Warning) String() string {
	if w.Service == "" {
		return fmt.Sprintf("%s: %s", w.Key, w.Instead)
	}
	return fmt.Sprintf("service %s: %s: %s", w.Service, w.Key, w.Instead)
}

// unsupported lists what the agent drops from the project. The list was
// made by going through compose-go's ServiceConfig field by field against
// what the engine adapter (engine/spec*.go) and the supervisor use; keys
// that are carried, or that mean nothing on one host without a Swarm
// (attach, consistency, port names), are not listed. Keep it in step
// with the engine: a key that becomes carried leaves this list.
func unsupported(p *types.Project, svc Service) []Warning {
	sc := svc.Config
	w := &serviceWarnings{service: sc.Name}
	w.scale(sc)
	w.ignoredKeys(sc)
	w.uncarriedKeys(sc)
	w.portsAndNetworks(sc)
	out := w.out
	out = append(out, deployWarnings(sc)...)
	out = append(out, volumeWarnings(sc)...)
	out = append(out, volumeOptionWarnings(sc.Name, svc.VolumeOptions)...)
	out = append(out, fileObjectWarnings(p, sc, "secrets", sc.Secrets)...)
	out = append(out, fileObjectWarnings(p, sc, "configs", configRefs(sc.Configs))...)
	return out
}

// serviceWarnings collects one service's warnings in order.
type serviceWarnings struct {
	service string
	out     []Warning
}

// when adds the warning for key if the service sets it.
func (w *serviceWarnings) when(set bool, key, instead string) {
	if set {
		w.out = append(w.out, Warning{Service: w.service, Key: key, Instead: instead})
	}
}

// scale: the agent runs one container per service, whichever key asked
// for more.
func (w *serviceWarnings) scale(sc types.ServiceConfig) {
	n := sc.GetScale()
	key := "scale"
	if sc.Scale == nil {
		key = "deploy.replicas"
	}
	w.when(n != 1, key, fmt.Sprintf("%d asked for; the agent runs exactly one container per service", n))
}

// ignoredKeys are the keys about other containers, the build platform,
// development and hooks, which the agent does not act on.
func (w *serviceWarnings) ignoredKeys(sc types.ServiceConfig) {
	w.when(len(sc.VolumesFrom) > 0, "volumes_from", "not carried: the container gets none of the other container's volumes; list the volumes on this service")
	w.when(len(sc.Links) > 0, "links", "not carried: no link aliases; services reach each other by service name on the project networks")
	w.when(len(sc.ExternalLinks) > 0, "external_links", "not carried: join the other container's network instead")
	w.when(sc.Platform != "", "platform", "ignored: the engine runs the image for the host's platform")
	w.when(sc.PullRefreshAfter != "", "pull_refresh_after", "ignored")
	w.when(sc.Develop != nil, "develop", "ignored: there is no watch mode in the agent")
	w.when(len(sc.PreStart) > 0, "pre_start", "ignored: the hooks do not run")
	w.when(len(sc.PostStart) > 0, "post_start", "ignored: the hooks do not run")
	w.when(len(sc.PreStop) > 0, "pre_stop", "ignored: the hooks do not run")
	w.when(sc.Provider != nil, "provider", "ignored: the agent runs the service as a container, from its image")
	w.when(len(sc.Models) > 0, "models", "ignored: no model runner is set up")
	w.when(sc.UseAPISocket, "use_api_socket", "ignored: the engine socket is not mounted into the container")
}

// uncarriedKeys are the container settings the engine adapter does not
// pass on.
func (w *serviceWarnings) uncarriedKeys(sc types.ServiceConfig) {
	w.when(len(sc.Annotations) > 0, "annotations", "not carried: the container gets no annotations")
	w.when(sc.BlkioConfig != nil, "blkio_config", "not carried: no block-IO limits")
	w.when(sc.Cgroup != "", "cgroup", "not carried: the engine's default cgroup namespace is used")
	w.when(sc.CPUCount != 0 || sc.CPUPercent != 0, "cpu_count/cpu_percent", "not carried (Windows only); use cpus")
	w.when(sc.CPURTPeriod != 0 || sc.CPURTRuntime != 0, "cpu_rt_period/cpu_rt_runtime", "not carried: no real-time CPU limits")
	w.when(sc.MemSwappiness != 0, "mem_swappiness", "not carried: the kernel default applies")
	w.when(len(sc.StorageOpt) > 0, "storage_opt", "not carried: the storage driver's defaults apply")
	w.when(sc.Isolation != "", "isolation", "not carried (Windows only)")
	w.when(sc.CredentialSpec != nil, "credential_spec", "not carried (Windows only)")
	w.when(sc.MacAddress != "", "mac_address", "not carried: the engine assigns one (set mac_address under the service's networks: entry instead)")
	w.when(sc.Umask != nil, "umask", "not carried: the image's umask applies")
}

// portsAndNetworks: exposed port ranges, and the per-network settings
// the engine decides itself.
func (w *serviceWarnings) portsAndNetworks(sc types.ServiceConfig) {
	for _, e := range sc.Expose {
		w.when(strings.Contains(e, "-"), "expose: "+e, "port ranges are not carried; list the ports one by one")
	}
	for _, key := range sortedKeys(sc.Networks) {
		n := sc.Networks[key]
		if n == nil {
			continue
		}
		w.when(n.GatewayPriority != 0, "networks: "+key+": gw_priority", "not carried: the engine picks the default gateway")
		w.when(n.InterfaceName != "", "networks: "+key+": interface_name", "not carried: the engine names the interface")
	}
}

func deployWarnings(sc types.ServiceConfig) []Warning {
	d := sc.Deploy
	if d == nil {
		return nil
	}
	var out []Warning
	add := func(key, instead string) {
		out = append(out, Warning{Service: sc.Name, Key: "deploy." + key, Instead: instead})
	}
	if strings.HasSuffix(d.Mode, "-job") {
		add("mode", d.Mode+" is ignored: the service runs as a long-lived container under the agent's restart policy (use restart: \"no\" for a one-shot job)")
	}
	if d.RestartPolicy != nil {
		add("restart_policy", "ignored: the agent restarts by `restart:` and its own backoff (x-hostagent restart settings)")
	}
	if d.UpdateConfig != nil {
		add("update_config", "ignored: a changed service is recreated in phase order")
	}
	if d.RollbackConfig != nil {
		add("rollback_config", "ignored: there is no rollback")
	}
	if len(d.Placement.Constraints) > 0 || len(d.Placement.Preferences) > 0 || d.Placement.MaxReplicas > 0 {
		add("placement", "ignored: everything runs on this host")
	}
	if d.EndpointMode != "" {
		add("endpoint_mode", "ignored (Swarm only)")
	}
	if len(d.Labels) > 0 {
		add("labels", "ignored (Swarm service labels); use the service's labels: for container labels")
	}
	if r := d.Resources.Reservations; r != nil {
		if r.NanoCPUs > 0 {
			add("resources.reservations.cpus", "not carried: no CPU is reserved")
		}
		if r.Pids > 0 {
			add("resources.reservations.pids", "not carried")
		}
		if len(r.GenericResources) > 0 {
			add("resources.reservations.generic_resources", "not carried")
		}
		for _, dev := range r.Devices {
			if !IsGPURequest(dev) {
				add("resources.reservations.devices", fmt.Sprintf("capabilities %v: only GPU reservations are carried", dev.Capabilities))
			}
		}
	}
	if l := d.Resources.Limits; l != nil {
		if len(l.Devices) > 0 {
			add("resources.limits.devices", "not carried: reserve devices under reservations")
		}
		if len(l.GenericResources) > 0 {
			add("resources.limits.generic_resources", "not carried")
		}
	}
	return out
}

func volumeWarnings(sc types.ServiceConfig) []Warning {
	var out []Warning
	add := func(v types.ServiceVolumeConfig, instead string) {
		out = append(out, Warning{Service: sc.Name, Key: "volumes: " + v.Target, Instead: instead})
	}
	for _, v := range sc.Volumes {
		switch v.Type {
		case types.VolumeTypeBind:
			if v.Bind != nil && v.Bind.Recursive != "" {
				add(v, fmt.Sprintf("bind.recursive %q is not carried: the engine's default recursion applies", v.Bind.Recursive))
			}
		case types.VolumeTypeVolume:
			if v.Source == "" {
				add(v, "anonymous volume: the agent makes a new, empty one each time it recreates the container (compose keeps it); give it a name under the top-level volumes: to keep its data")
			}
			if v.Volume != nil && len(v.Volume.Labels) > 0 {
				add(v, "volume.labels are not carried: label the volume under the top-level volumes:")
			}
			if v.Volume != nil && v.Volume.Subpath != "" {
				add(v, "volume.subpath is not supported: the container will fail to create; mount the whole volume")
			}
		case types.VolumeTypeTmpfs:
			// size and mode are carried.
		default:
			add(v, fmt.Sprintf("type %s is not supported: the container will fail to create", v.Type))
		}
	}
	return out
}

func configRefs(cs []types.ServiceConfigObjConfig) []types.ServiceSecretConfig {
	out := make([]types.ServiceSecretConfig, 0, len(cs))
	for _, c := range cs {
		out = append(out, types.ServiceSecretConfig(c))
	}
	return out
}

// fileObjectWarnings covers secrets and configs. The engine adapter mounts
// those from a file, content: or environment: read-only, with uid, gid and
// mode (engine/spec_secrets.go); what it cannot mount is listed here.
func fileObjectWarnings(p *types.Project, sc types.ServiceConfig, kind string, refs []types.ServiceSecretConfig) []Warning {
	var out []Warning
	for _, ref := range refs {
		var def types.FileObjectConfig
		var ok bool
		if kind == "secrets" {
			var d types.SecretConfig
			d, ok = p.Secrets[ref.Source]
			def = types.FileObjectConfig(d)
		} else {
			var d types.ConfigObjConfig
			d, ok = p.Configs[ref.Source]
			def = types.FileObjectConfig(d)
		}
		add := func(instead string) {
			out = append(out, Warning{Service: sc.Name, Key: kind + ": " + ref.Source, Instead: instead})
		}
		switch {
		case !ok:
			add("not defined at the top level: not mounted")
			continue
		case bool(def.External):
			add("external (Swarm) " + kind + " are not mounted")
			continue
		case def.Driver != "" || def.TemplateDriver != "":
			add("driver and template_driver are not supported: not mounted")
			continue
		case def.Content != "":
		case def.Environment != "":
			if _, set := p.Environment[def.Environment]; !set {
				add(fmt.Sprintf("environment variable %s is not set: the container will fail to create", def.Environment))
			}
		case def.File != "":
			if _, err := os.Stat(def.File); err != nil {
				add(fmt.Sprintf("file %s does not exist: the container will fail to create", def.File))
			}
		default:
			add("no file:, environment: or content: source: not mounted")
		}
		for _, id := range []struct{ name, v string }{{"uid", ref.UID}, {"gid", ref.GID}} {
			if _, err := strconv.Atoi(id.v); id.v != "" && err != nil {
				add(fmt.Sprintf("%s %q is not a number: the container will fail to create", id.name, id.v))
			}
		}
	}
	return out
}
