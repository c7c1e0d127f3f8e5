package compose

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadAndPlan feeds arbitrary YAML through loading, planning and every
// renderer: bad input must come back as an error, never a panic or a hang.
func FuzzLoadAndPlan(f *testing.F) {
	seeds := []string{
		"services:\n  a: {image: x}\n",
		"services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n",
		"services:\n  a:\n    image: x\n    healthcheck: {test: ['CMD-SHELL', 'true']}\n    x-hostagent: {vram: 4GiB, phase: 2}\n",
		"services:\n  a:\n    image: ${IMG:?need IMG}\n",
		"version: '3'\nservices:\n  web: {image: nginx, ports: ['8080:80'], healthcheck: {test: curl -f http://localhost:80/}}\n",
		"services:\n  g:\n    image: x\n    deploy: {resources: {reservations: {devices: [{driver: nvidia, count: all, capabilities: [gpu]}]}}}\n",
		"- a\n",
		"",
		"services: [",
	}
	if data, err := os.ReadFile(nemotron); err == nil {
		seeds = append(seeds, string(data))
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "docker-compose.yml")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		st, err := Load(context.Background(), Options{Files: []string{path}, Env: []string{"POSTGRES_PASSWORD=x"}})
		if err != nil {
			return
		}
		p, err := NewPlan(st)
		if err != nil {
			return
		}
		_ = p.Text()
		_ = p.Mermaid()
		if _, err := p.JSON(); err != nil {
			t.Fatalf("JSON of a valid plan: %v", err)
		}
		for _, s := range p.Services {
			if s.Phase < 1 {
				t.Fatalf("service %s has phase %d", s.Name, s.Phase)
			}
			for _, w := range s.Waits {
				d, ok := p.Lookup(w.Service)
				if !ok || d.Phase >= s.Phase {
					t.Fatalf("%s (phase %d) waits for %s (phase %d, found %v)", s.Name, s.Phase, w.Service, d.Phase, ok)
				}
			}
		}
	})
}
