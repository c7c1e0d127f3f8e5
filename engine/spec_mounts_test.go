package engine

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
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
      - source: db_password
        target: owned
        uid: "1234"
        mode: 0o400
    configs:
      - app.toml
      - source: app.toml
        target: /etc/app/app.toml
      - source: inline
        target: /etc/app/inline.conf
volumes: {named: {}}
secrets:
  db_password: {file: ./secret.txt}
  token: {environment: TOKEN}
configs:
  app.toml: {file: ./app.toml}
  inline: {content: "debug = true"}
`

func TestMountsCarryPodmanOptionsSecretsAndTmpfsMode(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	t.Setenv("STATE_DIRECTORY", state)
	for f, content := range map[string]string{"secret.txt": "x", "app.toml": "x", ".env": "TOKEN=tok\n"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	st := load(t, dir, mountsService)
	app, _ := st.Service("app")
	secret, conf := filepath.Join(dir, "secret.txt"), filepath.Join(dir, "app.toml")
	private := filepath.Join(state, "files", "p", "app")
	podman := []string{
		filepath.Join(dir, "data") + ":/data:U",
		filepath.Join(dir, "cache") + ":/cache:U,z",
		filepath.Join(dir, "conf") + ":/conf:ro",
		"p_named:/named:U",
		secret + ":/run/secrets/db_password:ro",
		secret + ":/run/secrets/password2:ro",
		secret + ":/etc/app/password:ro",
		filepath.Join(private, "secrets", "3-token") + ":/run/secrets/token:ro",
		filepath.Join(private, "secrets", "4-db_password") + ":/run/secrets/owned:ro",
		conf + ":/app.toml:ro",
		conf + ":/etc/app/app.toml:ro",
		filepath.Join(private, "configs", "7-inline") + ":/etc/app/inline.conf:ro",
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
	wantFiles := []privateFile{
		{path: filepath.Join(private, "secrets", "3-token"), data: []byte("tok"), uid: -1, gid: -1, mode: 0o444},
		{path: filepath.Join(private, "secrets", "4-db_password"), src: secret, uid: 1234, gid: -1, mode: 0o400},
		{path: filepath.Join(private, "configs", "7-inline"), data: []byte("debug = true"), uid: -1, gid: -1, mode: 0o444},
	}
	if len(sp.files) != len(wantFiles) {
		t.Fatalf("private files %+v, want %+v", sp.files, wantFiles)
	}
	for i, w := range wantFiles {
		if g := sp.files[i]; g.path != w.path || string(g.data) != string(w.data) || g.src != w.src || g.uid != w.uid || g.gid != w.gid || g.mode != w.mode {
			t.Errorf("private file %d = %+v, want %+v", i, g, w)
		}
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

func TestWritePrivateFileOwnerAndMode(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("chown needs root")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, []byte("from file"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &Client{local: true}
	files := []privateFile{
		{path: filepath.Join(dir, "p", "a", "secrets", "0-x"), data: []byte("v1"), uid: 1234, gid: 4321, mode: 0o400},
		{path: filepath.Join(dir, "p", "a", "configs", "1-y"), src: src, uid: -1, gid: -1, mode: 0o444},
	}
	for range 2 { // rewriting replaces
		if err := c.writePrivateFiles(files); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []struct {
		path, data string
		uid, gid   uint32
		mode       os.FileMode
	}{{files[0].path, "v1", 1234, 4321, 0o400}, {files[1].path, "from file", 0, 0, 0o444}} {
		fi, err := os.Stat(f.path)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		b, _ := os.ReadFile(f.path)
		if string(b) != f.data || st.Uid != f.uid || st.Gid != f.gid || fi.Mode().Perm() != f.mode {
			t.Errorf("%s: %q uid %d gid %d mode %v; want %q %d %d %v", f.path, b, st.Uid, st.Gid, fi.Mode().Perm(), f.data, f.uid, f.gid, f.mode)
		}
	}
	if fi, err := os.Stat(filepath.Dir(files[0].path)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("private dir mode %v, %v; want 0700", fi.Mode().Perm(), err)
	}
	if err := (&Client{}).writePrivateFiles(files); err == nil {
		t.Error("a remote engine cannot see this host's files: want an error")
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
