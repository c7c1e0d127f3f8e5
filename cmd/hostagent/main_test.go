package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const nemotron = "../../compose/testdata/nemotron/docker-compose.prod.yml"

func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &environment{stdout: &out, stderr: &errOut, getenv: func(k string) string { return env[k] }}
	code := dispatch(context.Background(), e, args)
	return code, out.String(), errOut.String()
}

func TestPlanCommand(t *testing.T) {
	t.Setenv("POSTGRES_PASSWORD", "secret")
	noConfig := map[string]string{"ORCHESTRATOR_CONFIG": ""}
	code, out, stderr := runCLI(t, noConfig, "plan", "-f", nemotron)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"Phase 1: Data Infrastructure", "Phase 4: Frontend", "Critical path: postgres -> ai-llm -> backend -> frontend"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan output lacks %q:\n%s", want, out)
		}
	}

	code, out, _ = runCLI(t, noConfig, "plan", "--format", "json", "-f", nemotron)
	if code != 0 {
		t.Fatalf("json exit %d", code)
	}
	var doc struct {
		Services []struct {
			Name      string `json:"name"`
			Phase     int    `json:"phase"`
			GPU       bool   `json:"gpu"`
			DependsOn []struct {
				Service   string `json:"service"`
				Condition string `json:"condition"`
				Required  bool   `json:"required"`
			} `json:"depends_on"`
			Health struct {
				Method string `json:"method"`
			} `json:"health"`
		} `json:"services"`
		CriticalPath []string `json:"critical_path"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("plan json: %v\n%s", err, out)
	}
	if len(doc.Services) != 9 || len(doc.CriticalPath) != 4 {
		t.Errorf("json: %d services, critical path %v", len(doc.Services), doc.CriticalPath)
	}
	for _, s := range doc.Services {
		if s.Name == "backend" && (s.Phase != 3 || len(s.DependsOn) != 4 || s.Health.Method != "http") {
			t.Errorf("backend in json = %+v", s)
		}
	}

	code, out, _ = runCLI(t, noConfig, "plan", "-f", nemotron, "--format", "mermaid")
	if code != 0 || !strings.HasPrefix(out, "graph TD") || !strings.Contains(out, "s_backend --> s_postgres") {
		t.Errorf("mermaid exit %d:\n%s", code, out)
	}

	if code, _, stderr = runCLI(t, noConfig, "plan", "-f", nemotron, "--format", "yaml"); code != 2 || !strings.Contains(stderr, "--format") {
		t.Errorf("bad format: exit %d, %q", code, stderr)
	}
}

func TestPlanMissingVariableExitsOne(t *testing.T) {
	t.Setenv("POSTGRES_PASSWORD", "")
	os.Unsetenv("POSTGRES_PASSWORD")
	code, _, stderr := runCLI(t, nil, "plan", "-f", nemotron)
	if code != 1 || !strings.Contains(stderr, "POSTGRES_PASSWORD") {
		t.Fatalf("exit %d, stderr %q; want 1 naming POSTGRES_PASSWORD", code, stderr)
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yml")
	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(good, []byte("services:\n  a: {image: x}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := runCLI(t, nil, "validate", "-f", good); code != 0 || !strings.Contains(out, "ok") {
		t.Errorf("good: exit %d %q %q", code, out, stderr)
	}
	if code, _, stderr := runCLI(t, nil, "validate", "-f", bad); code != 1 || !strings.Contains(stderr, "a -> b -> a") {
		t.Errorf("cycle: exit %d %q", code, stderr)
	}
}

func TestHelpAndUnknownCommand(t *testing.T) {
	if code, out, _ := runCLI(t, nil, "--help"); code != 0 || !strings.Contains(out, "plan") || !strings.Contains(out, "ORCHESTRATOR_") {
		t.Errorf("--help: exit %d\n%s", code, out)
	}
	if code, _, stderr := runCLI(t, nil, "plan", "--help"); code != 0 || !strings.Contains(stderr, "-profile") {
		t.Errorf("plan --help: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := runCLI(t, nil, "frobnicate"); code != 2 || !strings.Contains(stderr, "unknown command") {
		t.Errorf("unknown: exit %d %q", code, stderr)
	}
	if code, out, _ := runCLI(t, nil, "version"); code != 0 || !strings.HasPrefix(out, "hostagent ") {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(file, []byte("api_addr: 127.0.0.1:1111\nstate_dir: /from/file\nhealth_check_interval: 12\nprofiles: [a]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"ORCHESTRATOR_CONFIG": file, "ORCHESTRATOR_STATE_DIR": "/from/env", "ORCHESTRATOR_HEALTH_CHECK_TIMEOUT": "2", "ORCHESTRATOR_STABLE_WINDOW": "90s"}
	c, err := loadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.APIAddr != "127.0.0.1:1111" || c.StateDir != "/from/env" || c.HealthCheckInterval != 12*time.Second ||
		c.HealthCheckTimeout != 2*time.Second || c.StableWindow != 90*time.Second || c.DockerHost != "unix:///run/podman/podman.sock" || len(c.Profiles) != 1 {
		t.Errorf("config = %+v", c)
	}
	sf := stackFlags{files: listFlag{"x.yml"}, profiles: listFlag{"b", "c"}}
	sf.apply(&c)
	if c.ComposeFiles[0] != "x.yml" || len(c.Profiles) != 2 {
		t.Errorf("flags did not win: %+v", c)
	}

	if err := os.WriteFile(file, []byte("api_adress: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadConfig(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("unknown key: err = %v, want an error naming the file", err)
	}
	env["ORCHESTRATOR_CONFIG"] = filepath.Join(dir, "missing.yaml")
	if _, err := loadConfig(func(k string) string { return env[k] }); err == nil {
		t.Error("an explicitly named missing config file must be an error")
	}
}

func TestConfigFileErrorsNameTheLineAndTheKey(t *testing.T) {
	dir := t.TempDir()
	for content, want := range map[string]string{
		"log_level: info\ncompose_file: /x\n": `config.yaml:2: unknown setting "compose_file" (did you mean "compose_files"?)`,
		"health_check_interval: [1]\n":        `config.yaml:1: want a string here, got a list`,
	} {
		path := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := loadConfig(func(k string) string {
			if k == "ORCHESTRATOR_CONFIG" {
				return path
			}
			return ""
		})
		if err == nil || !strings.HasSuffix(err.Error(), want) || strings.Contains(err.Error(), "main.") {
			t.Errorf("config %q: error %v, want one ending in %q", content, err, want)
		}
	}
}

func TestRecreateOutdatedSetting(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.yaml")
	cases := []struct {
		file, env string
		want      bool
	}{
		{"", "", true},
		{"recreate_outdated: false\n", "", false},
		{"recreate_outdated: false\n", "true", true},
		{"", "false", false},
	}
	for _, c := range cases {
		if err := os.WriteFile(file, []byte(c.file), 0o644); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{"ORCHESTRATOR_CONFIG": file, "ORCHESTRATOR_RECREATE_OUTDATED": c.env}
		cfg, err := loadConfig(func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		if cfg.RecreateOutdated != c.want {
			t.Errorf("file %q env %q: recreate_outdated %v, want %v", c.file, c.env, cfg.RecreateOutdated, c.want)
		}
	}
}
