package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWarnUnsafeFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file to another user")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	good := write("compose.yml", 0o644)
	token := write("token", 0o600)
	groupW := write("group.env", 0o664)
	worldW := write("world.env", 0o646)
	foreign := write("foreign.yml", 0o644)
	if err := os.Chown(foreign, 1234, 1234); err != nil {
		t.Fatal(err)
	}
	subdir := filepath.Join(dir, "open")
	if err := os.Mkdir(subdir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(subdir, 0o777); err != nil {
		t.Fatal(err)
	}
	inOpenDir := filepath.Join(subdir, "hostagent.env")
	if err := os.WriteFile(inOpenDir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	n := warnUnsafeFiles(log, []trustedFile{
		{good, "compose file"}, {token, "token file"}, {groupW, "env file"}, {worldW, "env file"},
		{foreign, "compose file"}, {inOpenDir, "service env file"}, {filepath.Join(dir, "missing"), "env file"},
		{good, "compose file"},
	})
	out := buf.String()
	if n != 4 || strings.Count(out, "level=WARN") != 4 {
		t.Fatalf("%d warnings, want 4 (group, world, foreign owner, open directory):\n%s", n, out)
	}
	for _, want := range []string{
		"env file " + groupW + " can be changed by users other than root",
		"is group-writable (mode 0664)", `fix="chmod go-w ` + groupW + `"`,
		"is world-writable (mode 0646)", `fix="chmod go-w ` + worldW + `"`,
		"is owned by uid 1234", `fix="chown root ` + foreign + `"`,
		"its directory is group- and world-writable (mode 0777)", `fix="chmod go-w ` + subdir + `"`,
		"run privileged containers",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("warnings lack %q:\n%s", want, out)
		}
	}
	for _, clean := range []string{"file=" + good + " ", "file=" + token + " "} {
		if strings.Contains(out, clean) {
			t.Errorf("a root-owned file without group/world write was warned about (%s):\n%s", clean, out)
		}
	}
}

func TestTrustedFilesIncludeDefaultDotEnvAndToken(t *testing.T) {
	cfg := config{ComposeFiles: []string{"/srv/app/compose.yml"}, TokenFile: "/etc/hostagent/token"}
	got := map[string]string{}
	for _, f := range trustedFiles(cfg, "/etc/hostagent/config.yaml", "/etc/hostagent/hostagent.env") {
		got[f.path] = f.what
	}
	for path, what := range map[string]string{
		"/srv/app/compose.yml": "compose file", "/srv/app/.env": "env file", "/etc/hostagent/token": "token file",
		"/etc/hostagent/hostagent.env": "service env file", "/etc/hostagent/config.yaml": "agent config file",
	} {
		if got[path] != what {
			t.Errorf("%s: %q, want %q (all: %v)", path, got[path], what, got)
		}
	}
}
