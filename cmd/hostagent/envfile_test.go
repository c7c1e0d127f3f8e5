package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseEnvFile(t *testing.T) {
	got, err := parseEnvFile(strings.NewReader(`# comment
; also a comment

ORCHESTRATOR_COMPOSE_FILE=/srv/stack/docker-compose.prod.yml
export POSTGRES_PASSWORD="s3cret = x"
EMPTY=
QUOTED='a b'
`))
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]string{
		{"ORCHESTRATOR_COMPOSE_FILE", "/srv/stack/docker-compose.prod.yml"},
		{"POSTGRES_PASSWORD", "s3cret = x"},
		{"EMPTY", ""},
		{"QUOTED", "a b"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d: got %q, want %q", i, got[i], want[i])
		}
	}
	if _, err := parseEnvFile(strings.NewReader("not a variable\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("a line without = gave %v, want an error naming line 1", err)
	}
}

// The CLI sees the service's variables, and the caller's own environment
// still wins over the file.
func TestApplyServiceEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hostagent.env")
	if err := os.WriteFile(path, []byte("HOSTAGENT_TEST_FROM_FILE=file\nHOSTAGENT_TEST_BOTH=file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOSTAGENT_ENV_FILE", path)
	t.Setenv("HOSTAGENT_TEST_BOTH", "process")
	t.Setenv("HOSTAGENT_TEST_FROM_FILE", "")
	os.Unsetenv("HOSTAGENT_TEST_FROM_FILE")
	if err := applyServiceEnv(); err != nil {
		t.Fatal(err)
	}
	if got := os.Getenv("HOSTAGENT_TEST_FROM_FILE"); got != "file" {
		t.Errorf("HOSTAGENT_TEST_FROM_FILE=%q, want it read from the service's env file", got)
	}
	if got := os.Getenv("HOSTAGENT_TEST_BOTH"); got != "process" {
		t.Errorf("HOSTAGENT_TEST_BOTH=%q, want the process environment to win", got)
	}
	t.Setenv("HOSTAGENT_ENV_FILE", filepath.Join(t.TempDir(), "missing.env"))
	if err := applyServiceEnv(); err != nil {
		t.Errorf("a missing env file: %v, want no error", err)
	}
}
