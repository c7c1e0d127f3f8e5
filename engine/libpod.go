package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"
	"golang.org/x/sys/unix"
)

// libpodSpec is the part of Podman's SpecGenerator (pkg/specgen/specgen.go,
// v4.3) that the agent fills: the JSON body of POST
// /v4.0.0/libpod/containers/create. Only fields that exist in Podman 4.x.
type libpodSpec struct {
	Name          string            `json:"name"`
	Image         string            `json:"image"`
	Entrypoint    []string          `json:"entrypoint,omitempty"`
	Command       []string          `json:"command,omitempty"`
	Env           map[string]string `json:"env,omitempty"`
	Terminal      bool              `json:"terminal,omitempty"`
	Stdin         bool              `json:"stdin,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	StopSignal    *int              `json:"stop_signal,omitempty"`
	StopTimeout   *uint             `json:"stop_timeout,omitempty"`
	LogConfig     *libpodLog        `json:"log_configuration,omitempty"`
	RestartPolicy string            `json:"restart_policy,omitempty"`
	OCIRuntime    string            `json:"oci_runtime,omitempty"`
	PidNS         *libpodNS         `json:"pidns,omitempty"`
	UtsNS         *libpodNS         `json:"utsns,omitempty"`
	IpcNS         *libpodNS         `json:"ipcns,omitempty"`
	Hostname      string            `json:"hostname,omitempty"`
	Sysctl        map[string]string `json:"sysctl,omitempty"`
	Init          bool              `json:"init,omitempty"`
	Mounts        []libpodMount     `json:"mounts,omitempty"`
	Volumes       []libpodVolume    `json:"volumes,omitempty"`
	Devices       []libpodDevice    `json:"devices,omitempty"`
	ShmSize       *int64            `json:"shm_size,omitempty"`
	WorkDir       string            `json:"work_dir,omitempty"`
	Privileged    bool              `json:"privileged,omitempty"`
	User          string            `json:"user,omitempty"`
	Groups        []string          `json:"groups,omitempty"`
	CapAdd        []string          `json:"cap_add,omitempty"`
	CapDrop       []string          `json:"cap_drop,omitempty"`
	SelinuxOpts   []string          `json:"selinux_opts,omitempty"`
	Apparmor      string            `json:"apparmor_profile,omitempty"`
	Seccomp       string            `json:"seccomp_profile_path,omitempty"`
	NoNewPrivs    bool              `json:"no_new_privileges,omitempty"`
	ReadOnly      bool              `json:"read_only_filesystem,omitempty"`
	CgroupParent  string            `json:"cgroup_parent,omitempty"`
	NetNS         *libpodNS         `json:"netns,omitempty"`
	PortMappings  []libpodPort      `json:"portmappings,omitempty"`
	Expose        map[uint16]string `json:"expose,omitempty"`
	// Networks has no json tag in SpecGenerator: the key is "Networks".
	Networks     map[string]libpodNet `json:"Networks,omitempty"`
	DNSServers   []string             `json:"dns_server,omitempty"`
	DNSSearch    []string             `json:"dns_search,omitempty"`
	DNSOptions   []string             `json:"dns_option,omitempty"`
	HostAdd      []string             `json:"hostadd,omitempty"`
	Resources    *libpodResources     `json:"resource_limits,omitempty"`
	Rlimits      []libpodRlimit       `json:"r_limits,omitempty"`
	OOMScoreAdj  *int                 `json:"oom_score_adj,omitempty"`
	HealthConfig *libpodHealth        `json:"healthconfig,omitempty"`
}

type libpodLog struct {
	Driver  string            `json:"driver,omitempty"`
	Options map[string]string `json:"options,omitempty"`
}

type libpodNS struct {
	Mode  string `json:"nsmode,omitempty"`
	Value string `json:"value,omitempty"`
}

// libpodMount is an OCI runtime-spec mount.
type libpodMount struct {
	Destination string   `json:"destination"`
	Type        string   `json:"type,omitempty"`
	Source      string   `json:"source,omitempty"`
	Options     []string `json:"options,omitempty"`
}

// libpodVolume is specgen.NamedVolume, which has no json tags; an empty
// Name makes an anonymous volume.
type libpodVolume struct {
	Name    string
	Dest    string
	Options []string `json:",omitempty"`
}

// libpodDevice: Path is a CDI name (vendor.com/class=name) or a host
// device "src[:dst[:perms]]", as `podman run --device` takes it.
type libpodDevice struct {
	Path string `json:"path"`
}

type libpodPort struct {
	HostIP        string `json:"host_ip,omitempty"`
	ContainerPort uint16 `json:"container_port"`
	HostPort      uint16 `json:"host_port,omitempty"`
	Protocol      string `json:"protocol,omitempty"`
}

type libpodNet struct {
	Aliases   []string `json:"aliases,omitempty"`
	StaticIPs []string `json:"static_ips,omitempty"`
	StaticMAC string   `json:"static_mac,omitempty"`
}

// libpodResources is an OCI runtime-spec LinuxResources.
type libpodResources struct {
	Memory *libpodMemory `json:"memory,omitempty"`
	CPU    *libpodCPU    `json:"cpu,omitempty"`
	Pids   *libpodPids   `json:"pids,omitempty"`
}

type libpodMemory struct {
	Limit            *int64 `json:"limit,omitempty"`
	Reservation      *int64 `json:"reservation,omitempty"`
	Swap             *int64 `json:"swap,omitempty"`
	DisableOOMKiller *bool  `json:"disableOOMKiller,omitempty"`
}

type libpodCPU struct {
	Shares *uint64 `json:"shares,omitempty"`
	Quota  *int64  `json:"quota,omitempty"`
	Period *uint64 `json:"period,omitempty"`
	Cpus   string  `json:"cpus,omitempty"`
}

type libpodPids struct {
	Limit int64 `json:"limit"`
}

type libpodRlimit struct {
	Type string `json:"type"`
	Hard uint64 `json:"hard"`
	Soft uint64 `json:"soft"`
}

type libpodHealth struct {
	Test []string `json:"Test"`
}

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

// libpodCreator posts a create to Podman's native API.
type libpodCreator interface {
	createLibpod(ctx context.Context, s *libpodSpec) (string, error)
}

// libpodHTTP speaks the libpod API over the Docker client's own transport
// (the same socket and dialer).
type libpodHTTP struct {
	hc   *http.Client
	base string // http://host, where host is ignored for a unix socket
}

func newLibpodHTTP(hc *http.Client, host string) *libpodHTTP {
	base := "http://d"
	if addr, ok := strings.CutPrefix(host, "tcp://"); ok {
		if h, p, err := net.SplitHostPort(strings.TrimSuffix(addr, "/")); err == nil {
			base = "http://" + net.JoinHostPort(h, p)
		}
	}
	return &libpodHTTP{hc: hc, base: base}
}

func (l *libpodHTTP) createLibpod(ctx context.Context, s *libpodSpec) (string, error) {
	body, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.base+"/v4.0.0/libpod/containers/create", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return "", libpodStatusError(resp.StatusCode, data)
	}
	var out struct {
		ID string `json:"Id"`
	}
	if err := json.Unmarshal(data, &out); err != nil || out.ID == "" {
		return "", fmt.Errorf("libpod create: unexpected answer %q", data)
	}
	return out.ID, nil
}

// libpodStatusError maps libpod's {"cause","message","response"} error to
// the sentinels classify understands.
func libpodStatusError(status int, body []byte) error {
	var e struct {
		Message string `json:"message"`
	}
	msg := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		msg = e.Message
	}
	msg = fmt.Sprintf("libpod create: %s (HTTP %d)", msg, status)
	switch status {
	case http.StatusNotFound:
		return fmt.Errorf("%w: %s", cerrdefs.ErrNotFound, msg)
	case http.StatusConflict:
		return fmt.Errorf("%w: %s", cerrdefs.ErrConflict, msg)
	}
	return fmt.Errorf("%s", msg)
}
