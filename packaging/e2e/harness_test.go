//go:build integration

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// requireTools fails (CI=true) or skips the test when a tool is missing.
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	var missing []string
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if os.Geteuid() != 0 {
		missing = append(missing, "root (podman, dpkg and systemd in a container need it)")
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("e2e needs %s (scripts/install-deps.sh installs the tools)", strings.Join(missing, ", "))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// requireFile returns the path in env var key, skipping when it is unset.
func requireFile(t *testing.T, key string) string {
	t.Helper()
	path := os.Getenv(key)
	if path == "" {
		t.Skipf("%s unset: run `make e2e` (it builds the packages and sets it)", key)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s=%s: %v", key, path, err)
	}
	return path
}

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// run runs a host command with a deadline; out holds stdout and stderr.
func run(ctx context.Context, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String(), err
}

// hostPodman is a private Podman (own config, storage and API socket under
// the work dir) standing in for the host's: the agent inside the systemd
// container talks to it through the bind-mounted socket, so the stack's
// containers are its siblings, not its children.
//
// The bind-mounted socket is a relay owned by the test, not the API
// service's own: the service can then be stopped and started again
// (stopService, startService) while the box keeps the same socket file.
// With the service stopped the relay closes each connection at once, as a
// socket-activated podman.service that cannot start does.
type hostPodman struct {
	env     []string
	socket  string // the relay, mounted as /run/podman/podman.sock
	service string // the API service's own socket
	log     string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func startHostPodman(t *testing.T, dir string) *hostPodman {
	t.Helper()
	pdir := filepath.Join(dir, "podman")
	if err := os.MkdirAll(pdir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The sandbox forbids raising rlimits; crun refuses cgroup v1 hybrid;
	// there is no systemd on the host to own cgroups or the event journal.
	conf := "[containers]\ndefault_ulimits = []\n[engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n"
	storage := fmt.Sprintf("[storage]\ndriver = \"overlay\"\ngraphroot = %q\nrunroot = %q\n",
		filepath.Join(pdir, "root"), filepath.Join(pdir, "runroot"))
	write(t, filepath.Join(pdir, "containers.conf"), conf)
	write(t, filepath.Join(pdir, "storage.conf"), storage)

	// unix socket paths are limited to 108 bytes; the work dir may be deep.
	sockDir, err := os.MkdirTemp("", "hostagent-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	p := &hostPodman{
		env: []string{
			"CONTAINERS_CONF=" + filepath.Join(pdir, "containers.conf"),
			"CONTAINERS_STORAGE_CONF=" + filepath.Join(pdir, "storage.conf"),
		},
		socket:  filepath.Join(sockDir, "podman.sock"),
		service: filepath.Join(sockDir, "service.sock"),
		log:     filepath.Join(pdir, "service.log"),
	}
	_ = os.Remove(p.log)
	ln, err := net.Listen("unix", p.socket)
	if err != nil {
		t.Fatalf("relay socket: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	go p.relay(ln)
	if err := p.startService(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.stopService)
	return p
}

// relay hands each connection to the API service's socket, or closes it
// at once while the service is stopped.
func (p *hostPodman) relay(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			s, err := net.Dial("unix", p.service)
			if err != nil {
				return
			}
			defer s.Close()
			up := make(chan struct{})
			go func() {
				_, _ = io.Copy(s, c)
				if u, ok := s.(*net.UnixConn); ok {
					_ = u.CloseWrite()
				}
				close(up)
			}()
			// The service's side ending (answer sent, or the service
			// stopped) ends the connection.
			_, _ = io.Copy(c, s)
			c.Close()
			s.Close()
			<-up
		}()
	}
}

// startService starts the Podman API service (a no-op while it runs) and
// returns once it answers.
func (p *hostPodman) startService() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return nil
	}
	_ = os.Remove(p.service)
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command("podman", "system", "service", "--time=0", "unix://"+p.service)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start podman system service: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	p.cmd, p.done = cmd, done

	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", p.service)
		},
	}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get("http://podman/_ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			p.stopLocked()
			log, _ := os.ReadFile(p.log)
			return fmt.Errorf("podman API socket %s did not answer /_ping within 20s (last error %w); service log:\n%s", p.service, err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stopService stops the API service; the containers keep running.
func (p *hostPodman) stopService() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopLocked()
}

func (p *hostPodman) stopLocked() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd, p.done = nil, nil
}

func (p *hostPodman) run(ctx context.Context, args ...string) (string, error) {
	return run(ctx, p.env, "podman", args...)
}

// ctr is one container as `podman inspect` shows it.
type ctr struct {
	ID    string `json:"Id"`
	Name  string
	State struct {
		Status    string
		StartedAt time.Time
	}
	Config struct {
		Labels map[string]string
	}
}

// project returns the containers labelled with compose project name, keyed
// by compose service.
func (p *hostPodman) project(ctx context.Context, name string) (map[string]ctr, error) {
	ids, err := p.run(ctx, "ps", "-a", "-q", "--no-trunc", "--filter", "label=com.docker.compose.project="+name)
	if err != nil {
		return nil, err
	}
	out := map[string]ctr{}
	if strings.TrimSpace(ids) == "" {
		return out, nil
	}
	js, err := p.run(ctx, append([]string{"inspect"}, strings.Fields(ids)...)...)
	if err != nil {
		return nil, err
	}
	var all []ctr
	if err := json.Unmarshal([]byte(js), &all); err != nil {
		return nil, fmt.Errorf("podman inspect: %w", err)
	}
	for _, c := range all {
		out[c.Config.Labels["com.docker.compose.service"]] = c
	}
	return out, nil
}

func (p *hostPodman) removeProject(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	ids, err := p.run(ctx, "ps", "-a", "-q", "--filter", "label=com.docker.compose.project="+name)
	if err != nil {
		t.Logf("list project %s: %v", name, err)
	}
	if f := strings.Fields(ids); len(f) > 0 {
		if _, err := p.run(ctx, append([]string{"rm", "-f", "-t", "1"}, f...)...); err != nil {
			t.Logf("remove project %s: %v", name, err)
		}
	}
	// The agent may have made the project's networks and volumes too.
	label := "label=com.docker.compose.project=" + name
	_, _ = p.run(ctx, "network", "prune", "-f", "--filter", label)
	_, _ = p.run(ctx, "volume", "prune", "-f", "--filter", label)
}

// box is the Debian container booted with systemd.
type box struct {
	p    *hostPodman
	name string
}

func (b *box) exec(ctx context.Context, args ...string) (string, error) {
	return b.p.run(ctx, append([]string{"exec", b.name}, args...)...)
}

func (b *box) sh(ctx context.Context, script string) (string, error) {
	return b.exec(ctx, "sh", "-c", script)
}

func (b *box) copyIn(ctx context.Context, src, dst string) error {
	_, err := b.p.run(ctx, "cp", src, b.name+":"+dst)
	return err
}

func (b *box) writeFile(ctx context.Context, t *testing.T, dst, content string) {
	t.Helper()
	src := filepath.Join(t.TempDir(), filepath.Base(dst))
	write(t, src, content)
	if err := b.copyIn(ctx, src, dst); err != nil {
		t.Fatalf("copy %s into the box: %v", dst, err)
	}
}

// show reads systemctl show properties of the unit.
func (b *box) show(ctx context.Context, unit string, props ...string) (map[string]string, error) {
	args := []string{"systemctl", "show", unit}
	for _, p := range props {
		args = append(args, "-p", p)
	}
	out, err := b.exec(ctx, args...)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m, nil
}

// dump logs what an operator would look at first.
func (b *box) dump(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	status, _ := b.exec(ctx, "systemctl", "status", "hostagent", "--no-pager", "-l")
	journal, _ := b.sh(ctx, "journalctl -u hostagent --no-pager | tail -50")
	t.Logf("--- systemctl status hostagent:\n%s\n--- journalctl -u hostagent --no-pager | tail -50:\n%s", status, journal)
}

// flow runs named steps in order; a step runs only if the steps it needs
// passed, so one failure gives one clear message instead of a cascade.
type flow struct {
	t      *testing.T
	box    *box
	passed map[string]bool
}

func (f *flow) step(name string, needs []string, fn func(t *testing.T)) {
	f.t.Helper()
	for _, n := range needs {
		if !f.passed[n] {
			f.t.Run(name, func(t *testing.T) { t.Skipf("needs step %q, which did not pass", n) })
			return
		}
	}
	ok := f.t.Run(name, func(t *testing.T) {
		defer func() {
			if t.Failed() && f.box != nil {
				f.box.dump(t)
			}
		}()
		fn(t)
	})
	f.passed[name] = ok
}

// eventually polls cond until it returns nil or the timeout passes, and
// returns the last error.
func eventually(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %w", timeout, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

var errNotYet = errors.New("not yet")
