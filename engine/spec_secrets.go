package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"

	"github.com/hostagent/hostagent/compose"
)

// fileMounts mounts the service's secrets and configs read-only where
// docker compose puts them (pkg/compose/create.go and secrets.go in
// docker/compose): a secret at /run/secrets/<name>, a config at /<name>,
// or at target (relative to those directories unless absolute).
//
// A file source is bind-mounted as it is, as compose does, so edits on the
// host show through. A missing one is an error naming it, never created
// (Docker would make a directory in its place). Where compose copies the
// value into the container instead (environment:, content:), and where
// uid, gid or mode ask for an owner or mode (which compose ignores for
// files), the agent writes the value to a private file with that owner
// and mode (default root, 0444, as compose) and bind-mounts that; see
// privateFilesDir. External, driver and template_driver sources are not
// mounted; compose.Load warns about each.
func (sp *spec) fileMounts(st *compose.Stack, svc compose.Service, hc *container.HostConfig) error {
	refs := make([]fileRef, 0, len(svc.Config.Secrets)+len(svc.Config.Configs))
	for _, r := range svc.Config.Secrets {
		refs = append(refs, fileRef{kind: "secret", ref: types.FileReferenceConfig(r), target: objectTarget("/run/secrets", r.Source, r.Target)})
	}
	for _, r := range svc.Config.Configs {
		refs = append(refs, fileRef{kind: "config", ref: types.FileReferenceConfig(r), target: objectTarget("/", r.Source, r.Target)})
	}
	for i, r := range refs {
		def, ok := objectDef(st, r.kind, r.ref.Source)
		if !ok {
			continue
		}
		what := fmt.Sprintf("service %s: %s %s", svc.Name, r.kind, r.ref.Source)
		var pf privateFile
		switch {
		case def.Content != "":
			pf.data = []byte(def.Content)
		case def.Environment != "":
			v, ok := st.Project.Environment[def.Environment]
			if !ok {
				return fmt.Errorf("%s: environment variable %s is not set (set it where the compose file's variables come from)", what, def.Environment)
			}
			pf.data = []byte(v)
		default:
			file := hostPath(st.WorkingDir, def.File)
			if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%s: file %s does not exist (create it, or correct %ss.%s.file)", what, file, r.kind, r.ref.Source)
			}
			if r.ref.UID == "" && r.ref.GID == "" && r.ref.Mode == nil {
				hc.Binds = append(hc.Binds, bind(file, r.target, []string{"ro"}))
				continue
			}
			pf.src = file
		}
		var err error
		if pf.uid, pf.gid, pf.mode, err = ownerMode(r.ref); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		pf.path = filepath.Join(privateFilesDir(), st.Name, svc.Name, fmt.Sprintf("%ss", r.kind), fmt.Sprintf("%d-%s", i, safeName(r.ref.Source)))
		sp.files = append(sp.files, pf)
		hc.Binds = append(hc.Binds, bind(pf.path, r.target, []string{"ro"}))
	}
	return nil
}

type fileRef struct {
	kind   string // secret or config
	ref    types.FileReferenceConfig
	target string
}

// privateFile is a secret or config value the agent writes for a bind
// mount: data, or a copy of the host file src.
type privateFile struct {
	path     string
	data     []byte
	src      string
	uid, gid int
	mode     fs.FileMode
}

// privateFilesDir holds the files the agent writes for secrets and
// configs: under the unit's state directory (systemd sets
// $STATE_DIRECTORY), else /var/lib/hostagent. It must outlive a reboot: an
// existing container is started again with the same bind source.
func privateFilesDir() string {
	dir := "/var/lib/hostagent"
	if d, _, _ := strings.Cut(os.Getenv("STATE_DIRECTORY"), ":"); d != "" {
		dir = d
	}
	return filepath.Join(dir, "files")
}

// ownerMode reads uid, gid and mode as compose does: numbers, and 0444 by
// default. An unset uid or gid is -1: the agent's own (root under the
// unit, as compose's root), never a chown an unprivileged agent cannot do.
func ownerMode(r types.FileReferenceConfig) (uid, gid int, mode fs.FileMode, err error) {
	uid, gid, mode = -1, -1, 0o444
	if r.Mode != nil {
		mode = fs.FileMode(*r.Mode) & fs.ModePerm
	}
	if r.UID != "" {
		if uid, err = strconv.Atoi(r.UID); err != nil {
			return 0, 0, 0, fmt.Errorf("uid %q is not a number", r.UID)
		}
	}
	if r.GID != "" {
		if gid, err = strconv.Atoi(r.GID); err != nil {
			return 0, 0, 0, fmt.Errorf("gid %q is not a number", r.GID)
		}
	}
	return uid, gid, mode, nil
}

// writePrivateFiles writes the files before the container is created, in
// directories only root can enter, replacing each atomically. The engine
// must see this host's files.
func (c *Client) writePrivateFiles(files []privateFile) error {
	if len(files) == 0 {
		return nil
	}
	if !c.local {
		return fmt.Errorf("secrets and configs from environment:, content: or with uid/gid/mode need the engine on this host (a unix socket)")
	}
	for _, f := range files {
		if err := writePrivateFile(f); err != nil {
			return fmt.Errorf("writing %s: %w", f.path, err)
		}
	}
	return nil
}

func writePrivateFile(f privateFile) error {
	data := f.data
	if f.src != "" {
		var err error
		if data, err = os.ReadFile(f.src); err != nil {
			return err
		}
	}
	dir := filepath.Dir(f.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), f.mode)
	}
	if err == nil && (f.uid != -1 || f.gid != -1) {
		err = os.Chown(tmp.Name(), f.uid, f.gid)
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), f.path)
}

// objectDef is the top-level secret or config, unless it is one the
// agent does not mount (external, driver, template_driver, no source).
func objectDef(st *compose.Stack, kind, name string) (types.FileObjectConfig, bool) {
	if st.Project == nil {
		return types.FileObjectConfig{}, false
	}
	var def types.FileObjectConfig
	var ok bool
	if kind == "secret" {
		var d types.SecretConfig
		d, ok = st.Project.Secrets[name]
		def = types.FileObjectConfig(d)
	} else {
		var d types.ConfigObjConfig
		d, ok = st.Project.Configs[name]
		def = types.FileObjectConfig(d)
	}
	if !ok || bool(def.External) || def.Driver != "" || def.TemplateDriver != "" {
		return def, false
	}
	return def, def.File != "" || def.Content != "" || def.Environment != ""
}

func objectTarget(dir, source, target string) string {
	switch {
	case target == "":
		return path.Join(dir, source)
	case path.IsAbs(target):
		return target
	}
	return path.Join(dir, target)
}

// safeName keeps a compose name usable as a file name.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == 0 {
			return '_'
		}
		return r
	}, s)
}
