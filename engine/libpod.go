package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
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
