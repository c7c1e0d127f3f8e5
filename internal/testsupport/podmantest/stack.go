package podmantest

import (
	"context"
	"os"
	"path/filepath"

	"github.com/hostagent/hostagent/compose"
)

// LoadStack writes compose YAML to dir/compose.yaml and loads it with
// compose.Load under the given project name and active profiles, with a
// minimal environment (HOME only) so the host's variables cannot leak in.
func LoadStack(ctx context.Context, dir, project, yaml string, profiles ...string) (*compose.Stack, error) {
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		return nil, err
	}
	home, _ := os.UserHomeDir()
	return compose.Load(ctx, compose.Options{
		Files:       []string{file},
		ProjectName: project,
		Profiles:    profiles,
		Env:         []string{"HOME=" + home},
	})
}
