package engine

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"

	"github.com/hostagent/hostagent/compose"
)

// spec is everything needed to create one service's container, built
// from the compose model without touching the engine.
type spec struct {
	name   string
	config *container.Config
	host   *container.HostConfig
	// cdi are CDI device names to attach (Podman only; Docker gets device
	// requests in host.DeviceRequests). Set, they make Create use the
	// libpod endpoint: Podman's compat API cannot attach them.
	cdi []string
	// networks in attach order; the first is given at create time, the
	// rest are connected afterwards (API 1.41 takes one at create).
	networks []netAttach
	// volumes are the compose volume keys to ensure.
	volumes []string
	// bindDirs are host paths of bind mounts that compose would create.
	bindDirs []string
	// podman: the engine takes Podman's bind options (U).
	podman bool
	// files are secret and config values to write before the create.
	files []privateFile
}

type netAttach struct {
	key      string // compose network key
	name     string // engine network name, `<project>_<key>` by default
	endpoint *network.EndpointSettings
}

// ContainerName is the name compose gives a service's container:
// container_name when set, else `<project>-<service>-1`.
func ContainerName(project string, svc compose.Service) string {
	if svc.Config.ContainerName != "" {
		return svc.Config.ContainerName
	}
	return fmt.Sprintf("%s-%s-1", project, svc.Name)
}

// buildSpec translates a compose service into container create options,
// the way docker compose does. gpuCDI: ask for GPUs as CDI devices
// (Podman) instead of Docker's nvidia device requests.
func buildSpec(st *compose.Stack, svc compose.Service, gpuCDI bool) (spec, error) {
	image := serviceImage(svc)
	if image == "" {
		return spec{}, fmt.Errorf("service %s: no image", svc.Name)
	}
	exposed, bindings, err := ports(svc.Config)
	if err != nil {
		return spec{}, fmt.Errorf("service %s: %w", svc.Name, err)
	}
	sp := spec{name: ContainerName(st.Name, svc), podman: gpuCDI}
	sp.config = containerConfig(svc.Config, image, containerLabels(st, svc), exposed)
	hc := hostConfig(svc.Config, bindings)
	resources(svc.Config, &hc.Resources)
	sp.gpus(svc, &hc.Resources, gpuCDI)
	if err := sp.mounts(st, svc, hc); err != nil {
		return spec{}, err
	}
	if err := sp.networking(st, svc, hc); err != nil {
		return spec{}, err
	}
	sp.host = hc
	return sp, nil
}

// serviceImage is the image the service runs: the one compose names for
// it, else its image: key.
func serviceImage(svc compose.Service) string {
	if svc.Image != "" {
		return svc.Image
	}
	return svc.Config.Image
}

// containerLabels are the service's own labels plus the ones docker
// compose writes, by which containers are found again.
func containerLabels(st *compose.Stack, svc compose.Service) map[string]string {
	labels := map[string]string{}
	maps.Copy(labels, svc.Config.Labels)
	maps.Copy(labels, svc.Config.CustomLabels)
	labels[LabelProject] = st.Name
	labels[LabelService] = svc.Name
	labels[LabelNumber] = "1"
	labels[LabelOneoff] = "False"
	labels[LabelConfigHash] = ConfigHash(svc)
	labels[LabelManaged] = "true"
	if st.WorkingDir != "" {
		labels[LabelWorkingDir] = st.WorkingDir
	}
	if len(st.Files) > 0 {
		labels[LabelConfigFiles] = strings.Join(st.Files, ",")
	}
	if len(st.EnvFiles) > 0 {
		labels[LabelEnvFiles] = strings.Join(st.EnvFiles, ",")
	}
	labels[LabelDependsOn] = dependsOnLabel(svc)
	return labels
}

func containerConfig(cfg types.ServiceConfig, image string, labels map[string]string, exposed nat.PortSet) *container.Config {
	cc := &container.Config{
		Image:        image,
		Cmd:          []string(cfg.Command),
		Entrypoint:   []string(cfg.Entrypoint),
		Env:          environment(cfg.Environment),
		Labels:       labels,
		User:         cfg.User,
		WorkingDir:   cfg.WorkingDir,
		Hostname:     cfg.Hostname,
		Domainname:   cfg.DomainName,
		Tty:          cfg.Tty,
		OpenStdin:    cfg.StdinOpen,
		StopSignal:   cfg.StopSignal,
		ExposedPorts: exposed,
		// The agent probes health itself. Podman runs engine health checks
		// only from systemd timers; without them a container would sit in
		// "starting" for ever, so the image's own HEALTHCHECK is switched off.
		Healthcheck: &container.HealthConfig{Test: []string{"NONE"}},
	}
	if cfg.StopGracePeriod != nil {
		secs := int(time.Duration(*cfg.StopGracePeriod).Seconds())
		cc.StopTimeout = &secs
	}
	return cc
}

func hostConfig(cfg types.ServiceConfig, bindings nat.PortMap) *container.HostConfig {
	hc := &container.HostConfig{
		// The agent owns restarts (package doc): the engine must never
		// restart behind its back.
		RestartPolicy:  container.RestartPolicy{Name: container.RestartPolicyDisabled},
		PortBindings:   bindings,
		CapAdd:         cfg.CapAdd,
		CapDrop:        cfg.CapDrop,
		Privileged:     cfg.Privileged,
		ReadonlyRootfs: cfg.ReadOnly,
		SecurityOpt:    cfg.SecurityOpt,
		ShmSize:        int64(cfg.ShmSize),
		ExtraHosts:     cfg.ExtraHosts.AsList(":"),
		DNS:            cfg.DNS,
		DNSOptions:     cfg.DNSOpts,
		DNSSearch:      cfg.DNSSearch,
		Init:           cfg.Init,
		IpcMode:        container.IpcMode(cfg.Ipc),
		PidMode:        container.PidMode(cfg.Pid),
		UTSMode:        container.UTSMode(cfg.Uts),
		UsernsMode:     container.UsernsMode(cfg.UserNSMode),
		Sysctls:        map[string]string(cfg.Sysctls),
		GroupAdd:       cfg.GroupAdd,
		OomScoreAdj:    int(cfg.OomScoreAdj),
		Runtime:        cfg.Runtime,
		Tmpfs:          tmpfsList(cfg.Tmpfs),
	}
	if cfg.Logging != nil {
		hc.LogConfig = container.LogConfig{Type: cfg.Logging.Driver, Config: cfg.Logging.Options}
	}
	return hc
}

// environment renders the resolved environment as sorted KEY=VALUE; a
// variable without a value (unset when the file was loaded) is left out,
// as compose does.
func environment(env types.MappingWithEquals) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		if v != nil {
			out = append(out, k+"="+*v)
		}
	}
	slices.Sort(out)
	return out
}

func ports(cfg types.ServiceConfig) (nat.PortSet, nat.PortMap, error) {
	exposed := nat.PortSet{}
	bindings := nat.PortMap{}
	for _, p := range cfg.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		port, err := nat.NewPort(proto, strconv.FormatUint(uint64(p.Target), 10))
		if err != nil {
			return nil, nil, fmt.Errorf("port %d/%s: %w", p.Target, proto, err)
		}
		exposed[port] = struct{}{}
		bindings[port] = append(bindings[port], nat.PortBinding{HostIP: p.HostIP, HostPort: p.Published})
	}
	for _, e := range cfg.Expose {
		proto, port := nat.SplitProtoPort(e)
		p, err := nat.NewPort(proto, port)
		if err != nil {
			return nil, nil, fmt.Errorf("expose %s: %w", e, err)
		}
		exposed[p] = struct{}{}
	}
	return exposed, bindings, nil
}

// resources applies limits: deploy.resources wins over the legacy
// service-level keys, as in compose.
func resources(cfg types.ServiceConfig, r *container.Resources) {
	r.NanoCPUs = int64(float64(cfg.CPUS) * 1e9)
	r.Memory = int64(cfg.MemLimit)
	r.MemoryReservation = int64(cfg.MemReservation)
	r.MemorySwap = int64(cfg.MemSwapLimit)
	r.CPUShares = cfg.CPUShares
	r.CPUQuota = cfg.CPUQuota
	r.CPUPeriod = cfg.CPUPeriod
	r.CpusetCpus = cfg.CPUSet
	r.CgroupParent = cfg.CgroupParent
	r.DeviceCgroupRules = cfg.DeviceCgroupRules
	if cfg.OomKillDisable {
		r.OomKillDisable = &cfg.OomKillDisable
	}
	if cfg.PidsLimit != 0 {
		r.PidsLimit = &cfg.PidsLimit
	}
	if d := cfg.Deploy; d != nil {
		if l := d.Resources.Limits; l != nil {
			if l.NanoCPUs > 0 {
				r.NanoCPUs = int64(float64(l.NanoCPUs) * 1e9)
			}
			if l.MemoryBytes > 0 {
				r.Memory = int64(l.MemoryBytes)
			}
			if l.Pids > 0 {
				r.PidsLimit = &l.Pids
			}
		}
		if res := d.Resources.Reservations; res != nil && res.MemoryBytes > 0 {
			r.MemoryReservation = int64(res.MemoryBytes)
		}
	}
	for name, u := range cfg.Ulimits {
		soft, hard := int64(u.Soft), int64(u.Hard)
		if u.Single != 0 {
			soft, hard = int64(u.Single), int64(u.Single)
		}
		r.Ulimits = append(r.Ulimits, &container.Ulimit{Name: name, Soft: soft, Hard: hard})
	}
	slices.SortFunc(r.Ulimits, func(a, b *container.Ulimit) int { return strings.Compare(a.Name, b.Name) })
	for _, d := range cfg.Devices {
		if compose.IsCDIName(d.Source) {
			continue // a CDI device, not a path: see gpus
		}
		perm := d.Permissions
		if perm == "" {
			perm = "rwm"
		}
		r.Devices = append(r.Devices, container.DeviceMapping{PathOnHost: d.Source, PathInContainer: d.Target, CgroupPermissions: perm})
	}
}

func tmpfsList(list types.StringList) map[string]string {
	if len(list) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, t := range list {
		path, opts, _ := strings.Cut(t, ":")
		out[path] = opts
	}
	return out
}

func networkName(st *compose.Stack, key string) string {
	if st.Project != nil {
		if n, ok := st.Project.Networks[key]; ok && n.Name != "" {
			return n.Name
		}
	}
	return st.Name + "_" + key
}

// networking sets the network mode and the networks to join, each with
// the service name as a DNS alias.
func (sp *spec) networking(st *compose.Stack, svc compose.Service, hc *container.HostConfig) error {
	mode := svc.Config.NetworkMode
	switch {
	case strings.HasPrefix(mode, "service:"):
		other, ok := st.Service(strings.TrimPrefix(mode, "service:"))
		if !ok {
			return fmt.Errorf("service %s: network_mode %s: no such service", svc.Name, mode)
		}
		hc.NetworkMode = container.NetworkMode("container:" + ContainerName(st.Name, *other))
		return nil
	case mode != "":
		hc.NetworkMode = container.NetworkMode(mode)
		return nil
	}
	nets := svc.Config.Networks
	if len(nets) == 0 {
		nets = map[string]*types.ServiceNetworkConfig{"default": nil}
	}
	keys := slices.Sorted(maps.Keys(nets))
	// Higher priority first, as compose attaches them.
	slices.SortStableFunc(keys, func(a, b string) int { return priority(nets[b]) - priority(nets[a]) })
	for _, key := range keys {
		n := nets[key]
		ep := &network.EndpointSettings{}
		if n == nil || n.UseServiceNameAlias == nil || *n.UseServiceNameAlias {
			ep.Aliases = []string{svc.Name}
		}
		if n != nil {
			ep.Aliases = append(ep.Aliases, n.Aliases...)
			ep.DriverOpts = n.DriverOpts
			ep.MacAddress = n.MacAddress
			if n.Ipv4Address != "" || n.Ipv6Address != "" || len(n.LinkLocalIPs) > 0 {
				ep.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: n.Ipv4Address, IPv6Address: n.Ipv6Address, LinkLocalIPs: n.LinkLocalIPs}
			}
		}
		sp.networks = append(sp.networks, netAttach{key: key, name: networkName(st, key), endpoint: ep})
	}
	hc.NetworkMode = container.NetworkMode(sp.networks[0].name)
	return nil
}

func priority(n *types.ServiceNetworkConfig) int {
	if n == nil {
		return 0
	}
	return n.Priority
}
