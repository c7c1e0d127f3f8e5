// Package podmantest runs a private Podman API service for integration
// tests (of every package), the demo and the bench: its own
// containers.conf, its own image and container storage under the repo's
// ignored .build/podman/ (so images are built once and reused across
// packages and runs, and the host's own containers are never touched),
// and a socket of its own. It also builds the test images
// (EnsureImages) and offers the podman CLI with the same configuration
// (Podman), a restart of the API service mid-test (Restart) and removal
// of a project's containers, networks and volumes (Cleanup).
//
// The core functions take a context, not a *testing.T, so programs can
// use them; Require and Shared are the test conveniences.
package podmantest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Service is a running private `podman system service`.
type Service struct {
	// Dir is the state directory (default <repo>/.build/podman).
	Dir string
	// Root and RunRoot are Podman's --root and --runroot.
	Root, RunRoot string
	// Conf is the containers.conf exported as CONTAINERS_CONF.
	Conf string
	// Socket is the API socket path; URL gives it as a host string.
	Socket string
	// Log is the file the API service writes to.
	Log string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

var socketSeq atomic.Int64

// Paths works out the directories without starting anything. dir ""
// means $HOSTAGENT_PODMAN_DIR, else <repo>/.build/podman.
func Paths(dir string) (*Service, error) {
	if dir == "" {
		dir = os.Getenv("HOSTAGENT_PODMAN_DIR")
	}
	if dir == "" {
		root, err := RepoRoot()
		if err != nil {
			return nil, err
		}
		dir = filepath.Join(root, ".build", "podman")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	run := runDir(dir)
	s := &Service{
		Dir:     dir,
		Root:    filepath.Join(dir, "root"),
		RunRoot: filepath.Join(run, "runroot"),
		Conf:    filepath.Join(dir, "containers.conf"),
		Log:     filepath.Join(dir, "api.log"),
	}
	s.Socket = filepath.Join(run, fmt.Sprintf("api-%d-%d.sock", os.Getpid(), socketSeq.Add(1)))
	return s, nil
}

// runDir is where the volatile state lives: on tmpfs (/run) when root, so
// a reboot clears it as Podman expects, keyed by the state directory so
// that one storage always sees the same runroot (Podman insists).
func runDir(dir string) string {
	sum := sha256.Sum256([]byte(dir))
	key := "hostagent-podman-" + hex.EncodeToString(sum[:4])
	if os.Geteuid() == 0 {
		if fi, err := os.Stat("/run"); err == nil && fi.IsDir() {
			return filepath.Join("/run", key)
		}
	}
	return filepath.Join(os.TempDir(), key)
}

// Start writes the private configuration and starts the API service,
// returning once it answers. Stop it with Close.
func Start(ctx context.Context) (*Service, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	s, err := Paths("")
	if err != nil {
		return nil, err
	}
	if err := s.writeConf(); err != nil {
		return nil, err
	}
	if err := s.startAPI(ctx); err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "podmantest: %s\n", s)
	return s, nil
}

// String says where everything is.
func (s *Service) String() string {
	return fmt.Sprintf("API service %s, storage %s, runroot %s, conf %s, log %s", s.URL(), s.Root, s.RunRoot, s.Conf, s.Log)
}

// Available says why podman cannot be used here, or nil.
func Available() error {
	if _, err := exec.LookPath("podman"); err != nil {
		return errors.New("podman is not installed (make deps installs it)")
	}
	if os.Geteuid() != 0 {
		return errors.New("the private Podman service runs rootful: run the tests as root")
	}
	return nil
}

func (s *Service) writeConf() error {
	for _, d := range []string{s.Dir, s.Root, s.RunRoot, filepath.Dir(s.Socket)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	// runc: crun refuses cgroup v1 hybrid here; empty default_ulimits: the
	// sandbox forbids raising rlimits; file events: no journald.
	conf := fmt.Sprintf(`# written by internal/testsupport/podmantest
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = %q
`, filepath.Join(filepath.Dir(s.RunRoot), "tmp"))
	return os.WriteFile(s.Conf, []byte(conf), 0o644)
}

// URL is the socket as an engine host string (unix:///...).
func (s *Service) URL() string { return "unix://" + s.Socket }

// Env is the environment for running podman with this configuration.
func (s *Service) Env() []string {
	return append(os.Environ(), "CONTAINERS_CONF="+s.Conf)
}

func (s *Service) globalArgs() []string {
	return []string{"--root", s.Root, "--runroot", s.RunRoot}
}

// Podman runs the podman CLI against the private storage and returns its
// trimmed combined output.
func (s *Service) Podman(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "podman", append(s.globalArgs(), args...)...)
	cmd.Env = s.Env()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	text := strings.TrimSpace(out.String())
	if err != nil {
		return text, fmt.Errorf("podman %s: %w: %s", strings.Join(args, " "), err, text)
	}
	return text, nil
}

func (s *Service) startAPI(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("podmantest: API service already running")
	}
	_ = os.Remove(s.Socket)
	logf, err := os.OpenFile(s.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	args := append(s.globalArgs(), "system", "service", "--time=0", s.URL())
	cmd := exec.Command("podman", args...)
	cmd.Env = s.Env()
	cmd.Stdout, cmd.Stderr = logf, logf
	// The service dies with the test binary even when that is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("podmantest: start API service: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	if err := waitReady(ctx, s.Socket, done); err != nil {
		s.stopLocked()
		return fmt.Errorf("podmantest: API service on %s: %w (see %s)", s.Socket, err, s.Log)
	}
	return nil
}

// waitReady polls the socket until /_ping answers.
func waitReady(ctx context.Context, socket string, exited <-chan struct{}) error {
	hc := unixHTTP(socket)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("exited during start")
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := hc.Get("http://d/_ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("did not answer within 30s")
}

func unixHTTP(socket string) *http.Client {
	return &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}},
	}
}

// Restart stops the API service and starts it again on the same socket,
// as a host's `systemctl restart podman.socket` would: containers keep
// running, open connections (event streams) break.
func (s *Service) Restart(ctx context.Context) error {
	s.StopAPI()
	return s.startAPI(ctx)
}

// StopAPI stops the API service only (containers keep running); StartAPI
// or Restart brings it back.
func (s *Service) StopAPI() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

// StartAPI starts the API service after StopAPI.
func (s *Service) StartAPI(ctx context.Context) error { return s.startAPI(ctx) }

func (s *Service) stopLocked() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd, s.done = nil, nil
	_ = os.Remove(s.Socket)
}

// Close stops the API service. Containers are left to Cleanup.
func (s *Service) Close() error {
	s.StopAPI()
	return nil
}

// Cleanup removes the project's containers (by compose label, or named
// `<project>-...`/`<project>_...` as podman-compose names them), then its
// networks and volumes.
func (s *Service) Cleanup(ctx context.Context, project string) error {
	var errs []error
	label := "label=com.docker.compose.project=" + project
	ids := s.lines(ctx, "ps", "-a", "-q", "--filter", label)
	for _, name := range s.lines(ctx, "ps", "-a", "--format", "{{.Names}}") {
		if strings.HasPrefix(name, project+"-") || strings.HasPrefix(name, project+"_") {
			ids = append(ids, name)
		}
	}
	if len(ids) > 0 {
		if _, err := s.Podman(ctx, append([]string{"rm", "-f", "-t", "0"}, ids...)...); err != nil {
			errs = append(errs, err)
		}
	}
	nets := s.lines(ctx, "network", "ls", "-q", "--filter", label)
	for _, n := range s.lines(ctx, "network", "ls", "--format", "{{.Name}}") {
		if strings.HasPrefix(n, project+"_") {
			nets = append(nets, n)
		}
	}
	if len(nets) > 0 {
		if _, err := s.Podman(ctx, append([]string{"network", "rm", "-f"}, dedupe(nets)...)...); err != nil {
			errs = append(errs, err)
		}
	}
	vols := s.lines(ctx, "volume", "ls", "-q", "--filter", label)
	for _, v := range s.lines(ctx, "volume", "ls", "--format", "{{.Name}}") {
		if strings.HasPrefix(v, project+"_") {
			vols = append(vols, v)
		}
	}
	if len(vols) > 0 {
		if _, err := s.Podman(ctx, append([]string{"volume", "rm", "-f"}, dedupe(vols)...)...); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Service) lines(ctx context.Context, args ...string) []string {
	out, err := s.Podman(ctx, args...)
	if err != nil || out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range in {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// RepoRoot finds the module root (the directory with hostagent's go.mod)
// from the working directory upwards.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/hostagent/hostagent\n")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("podmantest: no hostagent go.mod above %s", dir)
		}
	}
}
