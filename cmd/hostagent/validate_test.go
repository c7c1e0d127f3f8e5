package main

import (
	"bytes"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// unsupportedFile uses each compose key the agent does not carry, and a
// few it does (which must not be warned about).
const unsupportedFile = "../../compose/testdata/unsupported/docker-compose.yml"

func TestValidateListsUnsupportedKeys(t *testing.T) {
	t.Setenv("HOSTAGENT_TEST_UNSET_TOKEN", "")
	os.Unsetenv("HOSTAGENT_TEST_UNSET_TOKEN")
	noConfig := map[string]string{"ORCHESTRATOR_CONFIG": ""}
	code, out, stderr := runCLI(t, noConfig, "validate", "-f", unsupportedFile)
	if code != 0 {
		t.Fatalf("exit %d, want 0 (warnings only): %s", code, stderr)
	}
	// Absolute paths (a missing secret file) differ between checkouts.
	dir, err := filepath.Abs(filepath.Dir(unsupportedFile))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.ReplaceAll(stderr+out, dir, "<testdata>")
	path := filepath.Join("testdata", "validate-unsupported.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/hostagent -run TestValidateListsUnsupportedKeys -update)", err)
	}
	if got != string(want) {
		t.Errorf("validate output differs from %s:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
	// Carried keys are not warned about.
	for _, carried := range []string{"service carried:", "gpus", "stop_grace_period", `"U"`, "/scratch"} {
		if strings.Contains(got, carried) {
			t.Errorf("validate warns about %s, which the agent carries", carried)
		}
	}

	code, _, stderr = runCLI(t, noConfig, "validate", "--strict", "-f", unsupportedFile)
	if code != 1 || !strings.Contains(stderr, "--strict") || !strings.Contains(stderr, "warning: service legacy: links:") {
		t.Errorf("--strict: exit %d, stderr %q; want 1 with the warnings listed", code, stderr)
	}
	t.Setenv("POSTGRES_PASSWORD", "x")
	if code, out, stderr := runCLI(t, noConfig, "validate", "--strict", "-f", nemotron); code != 0 || !strings.Contains(out, "ok") {
		t.Errorf("--strict on the nemotron file (only the obsolete version: notice): exit %d %q %q", code, out, stderr)
	}
	good := filepath.Join(t.TempDir(), "good.yml")
	if err := os.WriteFile(good, []byte("services:\n  a: {image: x, stop_grace_period: 5s}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := runCLI(t, noConfig, "validate", "--strict", "-f", good); code != 0 || !strings.Contains(out, "ok") || stderr != "" {
		t.Errorf("--strict on a clean file: exit %d %q %q", code, out, stderr)
	}
}

// The agent's journal gets each unsupported key with its fields, and the
// other warnings as they are.
func TestRunLogsWarningsAtLoad(t *testing.T) {
	t.Setenv("HOSTAGENT_TEST_UNSET_TOKEN", "x")
	cfg, err := loadConfig(func(k string) string { return map[string]string{"ORCHESTRATOR_CONFIG": ""}[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg.ComposeFiles = []string{unsupportedFile}
	stack, plan, err := loadStack(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	plan.Warnings = append(plan.Warnings, "some other warning")
	var buf bytes.Buffer
	logWarnings(slog.New(slog.NewTextHandler(&buf, nil)), stack, plan)
	out := buf.String()
	if n := strings.Count(out, "compose key not carried"); n != len(stack.Unsupported) || n == 0 {
		t.Errorf("%d unsupported-key lines, want %d:\n%s", n, len(stack.Unsupported), out)
	}
	for _, want := range []string{`service=legacy key=links instead="not carried`, `msg="some other warning"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, `msg="service legacy: links`) {
		t.Error("an unsupported key is logged twice")
	}
}
