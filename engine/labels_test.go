package engine

import (
	"os"
	"path/filepath"
	"testing"
)

// The labels Docker Compose writes beyond project/service/number/hash:
// depends_on as "service:condition:restart" and the env files read.
func TestComposeLabelsDependsOnAndEnvFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("TAG=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	st := load(t, dir, `
services:
  db: {image: postgres}
  cache: {image: redis}
  migrate: {image: x, depends_on: [db]}
  app:
    image: x:${TAG}
    depends_on:
      migrate: {condition: service_completed_successfully}
      db: {condition: service_healthy, restart: true}
      cache: {condition: service_started, required: false}
`)
	cases := map[string]string{
		"app":     "cache:service_started:false,db:service_healthy:true,migrate:service_completed_successfully:false",
		"migrate": "db:service_started:false",
		"db":      "",
	}
	for name, want := range cases {
		svc, _ := st.Service(name)
		sp, err := buildSpec(st, *svc, true)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := sp.config.Labels[LabelDependsOn]
		if !ok || got != want {
			t.Errorf("%s: %s = %q (set %v), want %q", name, LabelDependsOn, got, ok, want)
		}
		if env := sp.config.Labels[LabelEnvFiles]; env != filepath.Join(dir, ".env") {
			t.Errorf("%s: %s = %q, want the project's .env", name, LabelEnvFiles, env)
		}
	}
}
