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
		var opts []string
		if v.ReadOnly {
			opts = append(opts, "ro")
		}
		if sp.podman && (v.Type == types.VolumeTypeBind || v.Type == types.VolumeTypeVolume) {
			opts = append(opts, svc.EngineVolumeOptions(v.Target)...)
		}
		switch v.Type {
		case types.VolumeTypeBind:
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
		case types.VolumeTypeVolume:
			if v.Source == "" {
				// Anonymous volume: the engine makes one per container.
				if sp.config.Volumes == nil {
					sp.config.Volumes = map[string]struct{}{}
				}
				sp.config.Volumes[v.Target] = struct{}{}
				continue
			}
			if v.Volume != nil && v.Volume.Subpath != "" {
				return fmt.Errorf("service %s: volume %s: subpath is not supported", svc.Name, v.Source)
			}
			if v.Volume != nil && v.Volume.NoCopy {
				opts = append(opts, "nocopy")
			}
			sp.volumes = append(sp.volumes, v.Source)
			hc.Binds = append(hc.Binds, bind(volumeName(st, v.Source), v.Target, opts))
		case types.VolumeTypeTmpfs:
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
		default:
			return fmt.Errorf("service %s: volume type %q is not supported", svc.Name, v.Type)
		}
	}
	return sp.fileMounts(st, svc, hc)
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
