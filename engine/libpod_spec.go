package engine

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"
	"golang.org/x/sys/unix"
)

// libpodCreateSpec translates the spec buildSpec made (the one source of
// truth for both endpoints) into libpod's dialect. Settings libpod has no
// field for are an error naming them, never dropped in silence.
func libpodCreateSpec(sp spec) (*libpodSpec, error) {
	ls := libpodBase(sp)
	if err := libpodProcess(ls, sp.config); err != nil {
		return nil, err
	}
	libpodHost(ls, sp.host)
	if unsupported := libpodUnsupported(ls, sp); len(unsupported) > 0 {
		return nil, fmt.Errorf("not supported for a container with CDI devices on Podman: %s", strings.Join(unsupported, ", "))
	}
	if err := libpodMounts(ls, sp); err != nil {
		return nil, err
	}
	libpodDevices(ls, sp)
	if err := libpodNetworking(ls, sp); err != nil {
		return nil, err
	}
	libpodLimits(ls, sp.host.Resources)
	return ls, nil
}

// libpodBase carries the settings that map one to one.
func libpodBase(sp spec) *libpodSpec {
	cfg, hc := sp.config, sp.host
	return &libpodSpec{
		Name: sp.name, Image: cfg.Image,
		Entrypoint: cfg.Entrypoint, Command: cfg.Cmd,
		Terminal: cfg.Tty, Stdin: cfg.OpenStdin,
		Labels: cfg.Labels, Hostname: cfg.Hostname, WorkDir: cfg.WorkingDir, User: cfg.User,
		// The agent owns restarts (package doc).
		RestartPolicy: "no",
		OCIRuntime:    hc.Runtime, Sysctl: hc.Sysctls, Privileged: hc.Privileged,
		Groups: hc.GroupAdd, CapAdd: hc.CapAdd, CapDrop: hc.CapDrop,
		ReadOnly: hc.ReadonlyRootfs, CgroupParent: hc.CgroupParent,
		HostAdd: hc.ExtraHosts, DNSServers: hc.DNS, DNSSearch: hc.DNSSearch, DNSOptions: hc.DNSOptions,
	}
}

// libpodProcess carries the environment, how the container stops and
// its health check.
func libpodProcess(ls *libpodSpec, cfg *container.Config) error {
	if len(cfg.Env) > 0 {
		ls.Env = make(map[string]string, len(cfg.Env))
		for _, kv := range cfg.Env {
			k, v, _ := strings.Cut(kv, "=")
			ls.Env[k] = v
		}
	}
	if cfg.StopSignal != "" {
		sig, err := signalNumber(cfg.StopSignal)
		if err != nil {
			return err
		}
		ls.StopSignal = &sig
	}
	if cfg.StopTimeout != nil && *cfg.StopTimeout >= 0 {
		t := uint(*cfg.StopTimeout)
		ls.StopTimeout = &t
	}
	if cfg.Healthcheck != nil && len(cfg.Healthcheck.Test) > 0 {
		ls.HealthConfig = &libpodHealth{Test: cfg.Healthcheck.Test}
	}
	return nil
}

// libpodHost carries logging, init, shared memory, the OOM score and the
// namespaces.
func libpodHost(ls *libpodSpec, hc *container.HostConfig) {
	if hc.LogConfig.Type != "" || len(hc.LogConfig.Config) > 0 {
		ls.LogConfig = &libpodLog{Driver: hc.LogConfig.Type, Options: hc.LogConfig.Config}
	}
	if hc.Init != nil {
		ls.Init = *hc.Init
	}
	if hc.ShmSize > 0 {
		ls.ShmSize = &hc.ShmSize
	}
	if hc.OomScoreAdj != 0 {
		ls.OOMScoreAdj = &hc.OomScoreAdj
	}
	ls.PidNS, ls.IpcNS, ls.UtsNS = namespace(string(hc.PidMode)), namespace(string(hc.IpcMode)), namespace(string(hc.UTSMode))
}

// libpodUnsupported applies the security options and names the settings
// libpod has no field for.
func libpodUnsupported(ls *libpodSpec, sp spec) []string {
	var unsupported []string
	if sp.config.Domainname != "" {
		unsupported = append(unsupported, "domainname")
	}
	if sp.host.UsernsMode != "" {
		unsupported = append(unsupported, "userns_mode")
	}
	if len(sp.host.DeviceCgroupRules) > 0 {
		unsupported = append(unsupported, "device_cgroup_rules")
	}
	for _, o := range sp.host.SecurityOpt {
		if !securityOpt(ls, o) {
			unsupported = append(unsupported, "security_opt "+o)
		}
	}
	return unsupported
}

// libpodDevices attaches the CDI devices, then the device paths
// ("host[:container[:permissions]]").
func libpodDevices(ls *libpodSpec, sp spec) {
	for _, name := range sp.cdi {
		ls.Devices = append(ls.Devices, libpodDevice{Path: name})
	}
	for _, d := range sp.host.Devices {
		path := d.PathOnHost
		if d.PathInContainer != "" {
			path += ":" + d.PathInContainer
		}
		if d.CgroupPermissions != "" {
			path += ":" + d.CgroupPermissions
		}
		ls.Devices = append(ls.Devices, libpodDevice{Path: path})
	}
}

// signalNumber: specgen takes the stop signal as a number.
func signalNumber(s string) (int, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return n, nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return int(sig), nil
	}
	return 0, fmt.Errorf("stop_signal %q: unknown signal", s)
}

// namespace maps a Docker namespace mode (host, container:X, private) to
// libpod's; "" leaves Podman's default.
func namespace(mode string) *libpodNS {
	switch {
	case mode == "":
		return nil
	case strings.HasPrefix(mode, "container:"):
		return &libpodNS{Mode: "container", Value: strings.TrimPrefix(mode, "container:")}
	case mode == "shareable":
		return &libpodNS{Mode: "shareable"}
	case mode == "host", mode == "none", mode == "private":
		return &libpodNS{Mode: mode}
	}
	return &libpodNS{Mode: "private"}
}

// securityOpt applies one Docker security option; false when libpod has
// no field for it.
func securityOpt(ls *libpodSpec, o string) bool {
	key, val, _ := strings.Cut(strings.Replace(o, ":", "=", 1), "=")
	switch key {
	case "no-new-privileges":
		ls.NoNewPrivs = val == "" || val == "true"
	case "label":
		ls.SelinuxOpts = append(ls.SelinuxOpts, val)
	case "seccomp":
		ls.Seccomp = val
	case "apparmor":
		ls.Apparmor = val
	default:
		return false
	}
	return true
}

// libpodMounts turns Binds ("src:dst[:opts]"), tmpfs and anonymous
// volumes into libpod mounts and named volumes, options (ro, U, z, Z,
// propagation, nocopy) carried as given.
func libpodMounts(ls *libpodSpec, sp spec) error {
	for _, b := range sp.host.Binds {
		parts := strings.Split(b, ":")
		if len(parts) < 2 || len(parts) > 3 {
			return fmt.Errorf("volume %q: cannot split into source:target[:options]", b)
		}
		var opts []string
		if len(parts) == 3 && parts[2] != "" {
			opts = strings.Split(parts[2], ",")
		}
		src, dst := parts[0], parts[1]
		if strings.HasPrefix(src, "/") {
			ls.Mounts = append(ls.Mounts, libpodMount{Destination: dst, Type: "bind", Source: src, Options: opts})
			continue
		}
		ls.Volumes = append(ls.Volumes, libpodVolume{Name: src, Dest: dst, Options: opts})
	}
	for _, dst := range slices.Sorted(maps.Keys(sp.config.Volumes)) {
		ls.Volumes = append(ls.Volumes, libpodVolume{Dest: dst})
	}
	for _, dst := range slices.Sorted(maps.Keys(sp.host.Tmpfs)) {
		m := libpodMount{Destination: dst, Type: "tmpfs", Source: "tmpfs"}
		if o := sp.host.Tmpfs[dst]; o != "" {
			m.Options = strings.Split(o, ",")
		}
		ls.Mounts = append(ls.Mounts, m)
	}
	return nil
}

// libpodNetworking joins every network at create (libpod takes them all
// at once, with aliases) and maps the ports.
func libpodNetworking(ls *libpodSpec, sp spec) error {
	libpodNetNS(ls, sp)
	return libpodPorts(ls, sp)
}

// libpodNetNS sets the network namespace and the networks to join.
func libpodNetNS(ls *libpodSpec, sp spec) {
	switch mode := string(sp.host.NetworkMode); {
	case len(sp.networks) > 0:
		ls.NetNS = &libpodNS{Mode: "bridge"}
		ls.Networks = map[string]libpodNet{}
		for _, n := range sp.networks {
			ls.Networks[n.name] = libpodEndpoint(n.endpoint)
		}
	case mode == "host", mode == "none":
		ls.NetNS = &libpodNS{Mode: mode}
	case strings.HasPrefix(mode, "container:"):
		ls.NetNS = namespace(mode)
	case mode == "" || mode == "default" || mode == "bridge":
		ls.NetNS = &libpodNS{Mode: "bridge"}
	default:
		ls.NetNS = &libpodNS{Mode: "bridge"}
		ls.Networks = map[string]libpodNet{mode: {}}
	}
}

// libpodEndpoint carries a network's aliases, MAC and static addresses.
func libpodEndpoint(ep *network.EndpointSettings) libpodNet {
	var ln libpodNet
	if ep == nil {
		return ln
	}
	ln.Aliases = ep.Aliases
	ln.StaticMAC = ep.MacAddress
	if ip := ep.IPAMConfig; ip != nil {
		for _, a := range []string{ip.IPv4Address, ip.IPv6Address} {
			if a != "" {
				ln.StaticIPs = append(ln.StaticIPs, a)
			}
		}
	}
	return ln
}

// libpodPorts maps the published ports (a range's first host port) and
// exposes the rest.
func libpodPorts(ls *libpodSpec, sp spec) error {
	bound := map[nat.Port]bool{}
	for _, port := range slices.Sorted(maps.Keys(sp.host.PortBindings)) {
		bound[port] = true
		for _, b := range sp.host.PortBindings[port] {
			pm := libpodPort{HostIP: b.HostIP, ContainerPort: uint16(port.Int()), Protocol: port.Proto()}
			if b.HostPort != "" {
				first, _, _ := strings.Cut(b.HostPort, "-")
				hp, err := strconv.ParseUint(first, 10, 16)
				if err != nil {
					return fmt.Errorf("published port %q: %w", b.HostPort, err)
				}
				pm.HostPort = uint16(hp)
			}
			ls.PortMappings = append(ls.PortMappings, pm)
		}
	}
	for port := range sp.config.ExposedPorts {
		if bound[port] {
			continue
		}
		if ls.Expose == nil {
			ls.Expose = map[uint16]string{}
		}
		ls.Expose[uint16(port.Int())] = port.Proto()
	}
	return nil
}

// libpodLimits carries memory, CPU and pids limits and ulimits.
func libpodLimits(ls *libpodSpec, r container.Resources) {
	var res libpodResources
	if r.Memory > 0 || r.MemoryReservation > 0 || r.MemorySwap != 0 || r.OomKillDisable != nil {
		res.Memory = &libpodMemory{DisableOOMKiller: r.OomKillDisable}
		if r.Memory > 0 {
			res.Memory.Limit = &r.Memory
		}
		if r.MemoryReservation > 0 {
			res.Memory.Reservation = &r.MemoryReservation
		}
		if r.MemorySwap != 0 {
			res.Memory.Swap = &r.MemorySwap
		}
	}
	cpu := libpodCPU{Cpus: r.CpusetCpus}
	if r.CPUShares > 0 {
		s := uint64(r.CPUShares)
		cpu.Shares = &s
	}
	quota, period := r.CPUQuota, uint64(r.CPUPeriod)
	if r.NanoCPUs > 0 {
		// As Docker and Podman turn --cpus into CFS: period 100 ms.
		period = 100000
		quota = r.NanoCPUs * int64(period) / 1e9
	}
	if quota > 0 {
		cpu.Quota = &quota
	}
	if period > 0 {
		cpu.Period = &period
	}
	if cpu != (libpodCPU{}) {
		res.CPU = &cpu
	}
	if r.PidsLimit != nil && *r.PidsLimit != 0 {
		res.Pids = &libpodPids{Limit: *r.PidsLimit}
	}
	if res != (libpodResources{}) {
		ls.Resources = &res
	}
	for _, u := range r.Ulimits {
		ls.Rlimits = append(ls.Rlimits, libpodRlimit{Type: u.Name, Hard: uint64(u.Hard), Soft: uint64(u.Soft)})
	}
}
