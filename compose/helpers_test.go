package compose

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

const nemotron = "testdata/nemotron/docker-compose.prod.yml"

// writeCompose writes content as docker-compose.yml in a fresh directory
// named dir (the default project name) and returns its path.
func writeCompose(t *testing.T, dir, content string) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), dir)
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "docker-compose.yml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func load(t *testing.T, opts Options) *Stack {
	t.Helper()
	if opts.Env == nil {
		opts.Env = []string{}
	}
	st, err := Load(context.Background(), opts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return st
}

func plan(t *testing.T, st *Stack) *Plan {
	t.Helper()
	p, err := NewPlan(st)
	if err != nil {
		t.Fatalf("NewPlan: %v", err)
	}
	return p
}

func loadYAML(t *testing.T, content string) *Stack {
	t.Helper()
	return load(t, Options{Files: []string{writeCompose(t, "proj", content)}})
}

// phaseOf returns name -> phase.
func phaseOf(p *Plan) map[string]int {
	out := map[string]int{}
	for _, s := range p.Services {
		out[s.Name] = s.Phase
	}
	return out
}

func loadErr(path string) (*Plan, error) {
	st, err := Load(context.Background(), Options{Files: []string{path}, Env: []string{}})
	if err != nil {
		return nil, err
	}
	return NewPlan(st)
}
