package compose

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestGoldenPlans(t *testing.T) {
	base := []string{"POSTGRES_PASSWORD=secret"}
	cases := []struct {
		golden   string
		profiles []string
		env      []string
		render   func(*Plan) ([]byte, error)
	}{
		{"nemotron.txt", nil, base, func(p *Plan) ([]byte, error) { return []byte(p.Text()), nil }},
		{"nemotron.json", nil, base, func(p *Plan) ([]byte, error) { return p.JSON() }},
		{"nemotron.mmd", nil, base, func(p *Plan) ([]byte, error) { return []byte(p.Mermaid()), nil }},
		{"nemotron-monitoring.txt", []string{"monitoring"}, append(base, "GF_ADMIN_PASSWORD=x"),
			func(p *Plan) ([]byte, error) { return []byte(p.Text()), nil }},
		{"nemotron-monitoring.json", []string{"monitoring"}, append(base, "GF_ADMIN_PASSWORD=x"),
			func(p *Plan) ([]byte, error) { return p.JSON() }},
	}
	for _, tc := range cases {
		t.Run(tc.golden, func(t *testing.T) {
			p := plan(t, load(t, Options{Files: []string{nemotron}, Profiles: tc.profiles, Env: tc.env}))
			got, err := tc.render(p)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "golden", tc.golden)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./compose -run TestGoldenPlans -update)", err)
			}
			if string(got) != string(want) {
				t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", tc.golden, got, want)
			}
		})
	}
}
