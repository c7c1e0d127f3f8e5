package engine

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const mountsService = `
services:
  app:
    image: example/app
    user: "1000:1000"
    volumes:
      - ./data:/data:U
      - ./cache:/cache:z,U
      - ./conf:/conf:ro
      - named:/named:U
      - type: tmpfs
        target: /scratch
        tmpfs: {size: 1048576, mode: 0o1770}
    secrets:
      - db_password
      - source: db_password
        target: password2
      - source: db_password
        target: /etc/app/password
      - token
    configs:
      - app.toml
      - source: app.toml
        target: /etc/app/app.toml
volumes: {named: {}}
secrets:
  db_password: {file: ./secret.txt}
  token: {environment: TOKEN}
configs:
  app.toml: {file: ./app.toml}
`

func TestMountsCarryPodmanOptionsSecretsAndTmpfsMode(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"secret.txt", "app.toml"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	st := load(t, dir, mountsService)
	app, _ := st.Service("app")
	secret, conf := filepath.Join(dir, "secret.txt"), filepath.Join(dir, "app.toml")
	podman := []string{
		filepath.Join(dir, "data") + ":/data:U",
		filepath.Join(dir, "cache") + ":/cache:U,z",
		filepath.Join(dir, "conf") + ":/conf:ro",
		"p_named:/named:U",
		secret + ":/run/secrets/db_password:ro",
		secret + ":/run/secrets/password2:ro",
		secret + ":/etc/app/password:ro",
		conf + ":/app.toml:ro",
		conf + ":/etc/app/app.toml:ro",
	}
	sp, err := buildSpec(st, *app, true)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sp.host.Binds, podman) {
		t.Errorf("Podman binds:\n got %q\nwant %q", sp.host.Binds, podman)
	}
	if got := sp.host.Tmpfs["/scratch"]; got != "size=1048576,mode=1770" {
		t.Errorf("tmpfs options %q, want size and octal mode", got)
	}
	for _, d := range sp.bindDirs {
		if d == secret || d == conf {
			t.Errorf("secret/config file %s would be created as a directory if missing", d)
		}
	}

	// Docker has no U, and docker compose drops it: so do we.
	sp, err = buildSpec(st, *app, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range sp.host.Binds {
		parts := strings.Split(b, ":")
		if len(parts) == 3 && slices.Contains(strings.Split(parts[2], ","), "U") {
			t.Errorf("Docker bind %q carries U", b)
		}
	}
}

func TestMissingSecretFileIsAnErrorNotADirectory(t *testing.T) {
	dir := t.TempDir()
	st := load(t, dir, "services:\n  a: {image: x, secrets: [pw]}\nsecrets:\n  pw: {file: ./nope.txt}\n")
	a, _ := st.Service("a")
	_, err := buildSpec(st, *a, true)
	if err == nil || !strings.Contains(err.Error(), "secret pw") || !strings.Contains(err.Error(), filepath.Join(dir, "nope.txt")) {
		t.Errorf("err = %v, want one naming the secret and its file", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "nope.txt")); err == nil {
		t.Error("the missing secret file was created")
	}
}

func TestConfigHashChangesWithU(t *testing.T) {
	dir := t.TempDir()
	plain := load(t, dir, "services:\n  a: {image: x, volumes: [\"./d:/d\"]}\n")
	withU := load(t, dir, "services:\n  a: {image: x, volumes: [\"./d:/d:U\"]}\n")
	withZ := load(t, dir, "services:\n  a: {image: x, volumes: [\"./d:/d:z\"]}\n")
	a1, _ := plain.Service("a")
	a2, _ := withU.Service("a")
	a3, _ := withZ.Service("a")
	if ConfigHash(*a1) == ConfigHash(*a2) {
		t.Error("adding :U must change the config hash, or the old container is kept")
	}
	if ConfigHash(*a1) == ConfigHash(*a3) {
		t.Error("adding :z must change the config hash")
	}
}
