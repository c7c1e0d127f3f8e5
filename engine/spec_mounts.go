package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"

	"github.com/hostagent/hostagent/compose"
)

// mounts renders volumes as Binds strings ("src:dst[:opts]"), which both
// engines accept with SELinux and propagation options, and Podman also
// with U (chown the mount to the container's user; compose-go drops it,
// compose.Service.VolumeOptions has it back). Docker knows no U, and
// docker compose drops it too. Secrets and configs follow the volumes.
func (sp *spec) mounts(st *compose.Stack, svc compose.Service, hc *container.HostConfig) error {
	for _, v := range svc.Config.Volumes {
		var err error
		switch v.Type {
		case types.VolumeTypeBind:
			sp.bindMount(st, v, sp.volumeOptions(svc, v), hc)
		case types.VolumeTypeVolume:
			err = sp.volumeMount(st, svc.Name, v, sp.volumeOptions(svc, v), hc)
		case types.VolumeTypeTmpfs:
			tmpfsMount(v, hc)
		default:
			err = fmt.Errorf("service %s: volume type %q is not supported", svc.Name, v.Type)
		}
		if err != nil {
			return err
		}
	}
	return sp.fileMounts(st, svc, hc)
}

// volumeOptions are the options every bind and volume mount takes: ro,
// and on Podman the ones compose-go drops (U).
func (sp *spec) volumeOptions(svc compose.Service, v types.ServiceVolumeConfig) []string {
	var opts []string
	if v.ReadOnly {
		opts = append(opts, "ro")
	}
	if sp.podman {
		opts = append(opts, svc.EngineVolumeOptions(v.Target)...)
	}
	return opts
}

// bindMount binds a host path, with its SELinux and propagation options;
// a source compose would create is remembered in bindDirs.
func (sp *spec) bindMount(st *compose.Stack, v types.ServiceVolumeConfig, opts []string, hc *container.HostConfig) {
	src := hostPath(st.WorkingDir, v.Source)
	if v.Bind != nil {
		if v.Bind.SELinux != "" {
			opts = append(opts, v.Bind.SELinux)
		}
		if v.Bind.Propagation != "" {
			opts = append(opts, v.Bind.Propagation)
		}
		if v.Bind.CreateHostPath {
			sp.bindDirs = append(sp.bindDirs, src)
		}
	}
	hc.Binds = append(hc.Binds, bind(src, v.Target, opts))
}

// volumeMount mounts a named volume, remembered in volumes so it is
// made first, or declares an anonymous one, which the engine makes per
// container.
func (sp *spec) volumeMount(st *compose.Stack, service string, v types.ServiceVolumeConfig, opts []string, hc *container.HostConfig) error {
	if v.Source == "" {
		if sp.config.Volumes == nil {
			sp.config.Volumes = map[string]struct{}{}
		}
		sp.config.Volumes[v.Target] = struct{}{}
		return nil
	}
	if v.Volume != nil && v.Volume.Subpath != "" {
		return fmt.Errorf("service %s: volume %s: subpath is not supported", service, v.Source)
	}
	if v.Volume != nil && v.Volume.NoCopy {
		opts = append(opts, "nocopy")
	}
	sp.volumes = append(sp.volumes, v.Source)
	hc.Binds = append(hc.Binds, bind(volumeName(st, v.Source), v.Target, opts))
	return nil
}

// tmpfsMount mounts a tmpfs with its size and mode.
func tmpfsMount(v types.ServiceVolumeConfig, hc *container.HostConfig) {
	var o []string
	if v.Tmpfs != nil && v.Tmpfs.Size > 0 {
		o = append(o, "size="+strconv.FormatInt(int64(v.Tmpfs.Size), 10))
	}
	if v.Tmpfs != nil && v.Tmpfs.Mode != 0 {
		o = append(o, "mode="+strconv.FormatUint(uint64(v.Tmpfs.Mode), 8))
	}
	if hc.Tmpfs == nil {
		hc.Tmpfs = map[string]string{}
	}
	hc.Tmpfs[v.Target] = strings.Join(o, ",")
}

func bind(src, dst string, opts []string) string {
	if len(opts) == 0 {
		return src + ":" + dst
	}
	return src + ":" + dst + ":" + strings.Join(opts, ",")
}

// hostPath resolves a bind source as compose does: `~` is the home
// directory, a relative path is relative to the project directory.
// compose-go has usually done this already; a hand-built Stack may not.
func hostPath(dir, p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, strings.TrimPrefix(p, "~"))
		}
	}
	if !filepath.IsAbs(p) && dir != "" {
		p = filepath.Join(dir, p)
	}
	return p
}

func volumeName(st *compose.Stack, key string) string {
	if st.Project != nil {
		if v, ok := st.Project.Volumes[key]; ok && v.Name != "" {
			return v.Name
		}
	}
	return st.Name + "_" + key
}
