package compose

import (
	"os"
	"path/filepath"
	"testing"
)

// The file is kept where the user keeps it and read from elsewhere (as
// the service does); or read from a copy with --project-directory
// pointing back at the stack: either way relative paths, .env and the
// project name resolve in the project directory, not beside the copy.
func TestProjectDirectory(t *testing.T) {
	const content = `services:
  app:
    image: ${APP_IMAGE:?}
    volumes:
      - ./data:/data
`
	file := writeCompose(t, "nemotron", content)
	stackDir := filepath.Dir(file)
	if err := os.WriteFile(filepath.Join(stackDir, ".env"), []byte("APP_IMAGE=localhost/app:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A copy under another directory, as a user following old advice would make.
	copyDir := filepath.Join(t.TempDir(), "hostagent")
	if err := os.MkdirAll(copyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	copied := filepath.Join(copyDir, "docker-compose.yml")
	if err := os.WriteFile(copied, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}

	for name, opts := range map[string]Options{
		"file in place":               {Files: []string{file}},
		"copy with project directory": {Files: []string{copied}, ProjectDirectory: stackDir},
	} {
		t.Run(name, func(t *testing.T) {
			st := load(t, opts)
			if st.Name != "nemotron" {
				t.Errorf("project name %q, want nemotron (the project directory's name)", st.Name)
			}
			if st.WorkingDir != stackDir {
				t.Errorf("working dir %q, want %q", st.WorkingDir, stackDir)
			}
			svc, _ := st.Service("app")
			if got := svc.Config.Image; got != "localhost/app:1" {
				t.Errorf("image %q, want localhost/app:1 from the project directory's .env", got)
			}
			if got, want := svc.Config.Volumes[0].Source, filepath.Join(stackDir, "data"); got != want {
				t.Errorf("bind source %q, want %q", got, want)
			}
		})
	}
}
