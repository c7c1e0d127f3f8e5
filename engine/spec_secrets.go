package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"

	"github.com/hostagent/hostagent/compose"
)

// fileMounts bind-mounts the service's secrets and configs that come from
// a file, read-only, where docker compose puts them
// (buildContainerSecretMounts, buildContainerConfigMounts in its
// pkg/compose/create.go): a secret at /run/secrets/<name>, a config at
// /<name>, or at target (relative to those directories unless absolute).
// Like compose, the file keeps its host owner and mode (uid, gid and mode
// are not applied), and a missing file is an error naming it, never
// created (Docker would make a directory in its place; compose avoids
// that with a mount that forbids it). Sources compose copies into the container instead
// (environment:, content:) and external ones are not mounted; compose.Load
// warns about each.
func (sp *spec) fileMounts(st *compose.Stack, svc compose.Service, hc *container.HostConfig) error {
	add := func(kind, name, file, target string) error {
		if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("service %s: %s %s: file %s does not exist (create it, or correct %s.%s.file)", svc.Name, kind[:len(kind)-1], name, file, kind, name)
		}
		hc.Binds = append(hc.Binds, bind(file, target, []string{"ro"}))
		return nil
	}
	for _, ref := range svc.Config.Secrets {
		if file := objectFile(st, "secrets", ref.Source); file != "" {
			if err := add("secrets", ref.Source, file, objectTarget("/run/secrets", ref.Source, ref.Target)); err != nil {
				return err
			}
		}
	}
	for _, ref := range svc.Config.Configs {
		if file := objectFile(st, "configs", ref.Source); file != "" {
			if err := add("configs", ref.Source, file, objectTarget("/", ref.Source, ref.Target)); err != nil {
				return err
			}
		}
	}
	return nil
}

// objectFile is the host file of a top-level secret or config, "" when it
// is not a plain file source.
func objectFile(st *compose.Stack, kind, name string) string {
	if st.Project == nil {
		return ""
	}
	var def types.FileObjectConfig
	if kind == "secrets" {
		def = types.FileObjectConfig(st.Project.Secrets[name])
	} else {
		def = types.FileObjectConfig(st.Project.Configs[name])
	}
	if def.File == "" || bool(def.External) || def.Driver != "" || def.TemplateDriver != "" {
		return ""
	}
	return hostPath(st.WorkingDir, def.File)
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
