//go:build integration

package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hostagent/hostagent/internal/testsupport/podmantest"
)

// A non-root service with Podman's U and z bind options, secrets and
// configs from a file, the environment and inline content (one owned by
// the service's user, mode 0400), and a tmpfs with a mode: the U is what
// the nemotron file's ai-detector and backend need
// (`./backend/data:/app/data:U`).
const mountsStack = `
services:
  app:
    image: ` + podmantest.BusyboxImage + `
    command: ["sleep", "3600"]
    user: "1234:1234"
    stop_grace_period: 45s
    volumes:
      - ./owned:/owned:U
      - ./labelled:/labelled:z
      - type: tmpfs
        target: /scratch
        tmpfs: {mode: 0o1770}
    secrets:
      - token
      - source: token
        target: /etc/app/token
      - source: api_key
        uid: "1234"
        mode: 0o400
    configs:
      - app.conf
      - source: inline
        target: /etc/app/inline.conf
secrets:
  token: {file: ./token.txt}
  api_key: {environment: API_KEY}
configs:
  app.conf: {file: ./app.conf}
  inline: {content: "debug = true"}
`

func TestIntegrationPodmanBindOptionsAndSecrets(t *testing.T) {
	pm := podmantest.Shared(t)
	p := project(t, pm)
	c, _ := connect(t, pm)
	ctx := t.Context()
	dir := t.TempDir()
	owned := filepath.Join(dir, "owned")
	if err := os.MkdirAll(filepath.Join(owned, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "token.txt"), []byte("s3cret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "app.conf"), []byte("level=info\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("API_KEY=k3y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("STATE_DIRECTORY", t.TempDir())
	st, err := podmantest.LoadStack(ctx, dir, p, mountsStack)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Unsupported) != 0 {
		t.Errorf("warnings for carried keys: %v", st.Unsupported)
	}
	id, err := c.Create(ctx, st, "app")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx, id); err != nil {
		t.Fatalf("start: %v", err)
	}
	sh := func(script string) (int, string) {
		t.Helper()
		ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		r, err := c.Exec(ectx, id, []string{"sh", "-c", script}, ExecOptions{})
		if err != nil {
			t.Fatalf("exec %q: %v", script, err)
		}
		return r.ExitCode, strings.TrimSpace(string(r.Output))
	}

	// U: the bind (recursively) belongs to the container's user, who can write.
	if code, out := sh("id -u; stat -c '%u:%g' /owned /owned/sub"); code != 0 || out != "1234\n1234:1234\n1234:1234" {
		t.Errorf("uid and owner of the :U bind = %d %q, want 1234 owning /owned and /owned/sub", code, out)
	}
	if code, out := sh("echo ok > /owned/written && cat /owned/written"); code != 0 || out != "ok" {
		t.Errorf("non-root write to the :U bind = %d %q", code, out)
	}
	if fi, err := os.Stat(owned); err != nil {
		t.Fatal(err)
	} else if uid := statUID(fi); uid != 1234 {
		t.Errorf("host owner of %s = %d, want 1234 (Podman chowned it)", owned, uid)
	}
	// z: accepted (a no-op without SELinux); the missing source was made.
	if _, err := os.Stat(filepath.Join(dir, "labelled")); err != nil {
		t.Errorf("the :z bind source was not created: %v", err)
	}
	if code, _ := sh("test -d /labelled"); code != 0 {
		t.Errorf("the :z bind is not mounted")
	}

	// The secret and the config: readable, read-only, where compose puts them.
	for _, f := range []struct{ path, want string }{
		{"/run/secrets/token", "s3cret"}, {"/etc/app/token", "s3cret"}, {"/app.conf", "level=info"},
		{"/run/secrets/api_key", "k3y"}, {"/etc/app/inline.conf", "debug = true"},
	} {
		if code, out := sh("cat " + f.path); code != 0 || out != f.want {
			t.Errorf("cat %s = %d %q, want %q", f.path, code, out, f.want)
		}
		if code, _ := sh("echo x > " + f.path); code == 0 {
			t.Errorf("%s is writable; secrets and configs are mounted read-only", f.path)
		}
	}
	if code, out := sh("stat -c '%u %a' /run/secrets/api_key /etc/app/inline.conf"); code != 0 || out != "1234 400\n0 444" {
		t.Errorf("owner and mode of the environment secret and content config = %d %q, want 1234 400 and compose's 0 444", code, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "token.txt")); string(b) != "s3cret\n" {
		t.Errorf("the secret file on the host changed: %q", b)
	}

	// tmpfs mode, and stop_grace_period as the container's stop timeout.
	if code, out := sh("stat -c %a /scratch"); code != 0 || out != "1770" {
		t.Errorf("tmpfs /scratch mode = %d %q, want 1770", code, out)
	}
	if got := podman(t, pm, "inspect", ContainerName(p, *mustService(t, st, "app")), "--format", "{{.Config.StopTimeout}}"); got != "45" {
		t.Errorf("container stop timeout = %q, want 45 (stop_grace_period)", got)
	}
}

func statUID(fi os.FileInfo) int {
	if s, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(s.Uid)
	}
	return -1
}
