package engine

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
)

const hashBase = `
services:
  web:
    image: example/web:1
    environment: {A: "1", B: "2", C: "3", D: "4", E: "5", F: "6"}
    labels: {x: "1", y: "2", z: "3"}
    ports: ["8080:8080"]
    deploy: {replicas: 1, resources: {limits: {memory: 64M}}}
    depends_on: [db]
    profiles: [app]
  db: {image: example/db}
`

func hashOf(t *testing.T, yaml string) string {
	t.Helper()
	st := load(t, t.TempDir(), yaml, "app")
	s, ok := st.Service("web")
	if !ok {
		t.Fatal("no web service")
	}
	return ConfigHash(*s)
}

func TestConfigHashStable(t *testing.T) {
	h := hashOf(t, hashBase)
	for range 20 {
		if got := hashOf(t, hashBase); got != h {
			t.Fatalf("hash changed between loads of the same file: %s vs %s", got, h)
		}
	}
	if len(h) != 64 {
		t.Errorf("hash %q is not a hex SHA-256", h)
	}
}

func TestConfigHashSeesWhatChangesTheContainer(t *testing.T) {
	base := hashOf(t, hashBase)
	changes := map[string][2]string{
		"environment": {`B: "2"`, `B: "20"`},
		"image":       {"example/web:1", "example/web:2"},
		"port":        {`"8080:8080"`, `"8081:8080"`},
		"limit":       {"memory: 64M", "memory: 128M"},
	}
	for name, c := range changes {
		if hashOf(t, replace(t, hashBase, c[0], c[1])) == base {
			t.Errorf("%s change not reflected in the hash", name)
		}
	}
	same := map[string][2]string{
		"replicas":   {"replicas: 1", "replicas: 3"},
		"depends_on": {"depends_on: [db]", "depends_on: []"},
		"profiles":   {"profiles: [app]", "profiles: [app, more]"},
		"build":      {"image: example/web:1", "image: example/web:1\n    build: ./web"},
	}
	for name, c := range same {
		if hashOf(t, replace(t, hashBase, c[0], c[1])) != base {
			t.Errorf("%s change altered the hash; compose leaves it out", name)
		}
	}
}

func TestConfigHashLeavesServiceAlone(t *testing.T) {
	st := load(t, t.TempDir(), hashBase, "app")
	s, _ := st.Service("web")
	ConfigHash(*s)
	if s.Config.Deploy.Replicas == nil || *s.Config.Deploy.Replicas != 1 || len(s.Config.DependsOn) != 1 {
		t.Errorf("ConfigHash modified the caller's service: %+v", s.Config.Deploy)
	}
}

func replace(t *testing.T, s, old, with string) string {
	t.Helper()
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return s[:i] + with + s[i+len(old):]
		}
	}
	t.Fatalf("%q not in the base file", old)
	return ""
}

func TestClassify(t *testing.T) {
	live := context.Background()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name   string
		parent context.Context
		err    error
		want   error
		not    error
	}{
		{"404", live, cerrdefs.ErrNotFound, ErrNotFound, ErrUnavailable},
		{"409", live, cerrdefs.ErrConflict, ErrConflict, nil},
		{"podman name in use (500)", live, errors.New(`the container name "p-web-1" is already in use by 1234`), ErrConflict, nil},
		{"dial refused", live, fmt.Errorf("dial: %w", syscall.ECONNREFUSED), ErrUnavailable, nil},
		{"socket gone", live, fmt.Errorf("dial: %w", syscall.ENOENT), ErrUnavailable, nil},
		{"our call timeout", live, context.DeadlineExceeded, ErrUnavailable, nil},
		{"caller cancelled", cancelled, context.Canceled, context.Canceled, ErrUnavailable},
		{"server error", live, errors.New("500 internal"), nil, ErrUnavailable},
	}
	for _, tc := range cases {
		got := classify(tc.parent, "op", tc.err)
		if tc.want != nil && !errors.Is(got, tc.want) {
			t.Errorf("%s: %v is not %v", tc.name, got, tc.want)
		}
		if tc.not != nil && errors.Is(got, tc.not) {
			t.Errorf("%s: %v must not be %v", tc.name, got, tc.not)
		}
	}
	if classify(live, "op", nil) != nil {
		t.Error("nil error classified as an error")
	}
}

func TestParseStatus(t *testing.T) {
	cases := map[string]Status{
		"running": StatusRunning, "exited": StatusExited, "created": StatusCreated, "paused": StatusPaused,
		"restarting": StatusRestarting, "dead": StatusDead, "removing": StatusRemoving,
		// Podman's own words.
		"configured": StatusCreated, "stopped": StatusExited, "stopping": StatusRunning, "Initialized": StatusCreated,
		"???": StatusUnknown,
	}
	for in, want := range cases {
		if got := ParseStatus(in); got != want {
			t.Errorf("ParseStatus(%q) = %s, want %s", in, got, want)
		}
	}
	if StatusExited.String() != "exited" || Status(99).String() != "status(99)" {
		t.Error("Status.String")
	}
}

func TestEngineRestarts(t *testing.T) {
	for policy, want := range map[string]bool{"": false, "no": false, "always": true, "unless-stopped": true, "on-failure": true} {
		if got := (Container{RestartPolicy: policy}).EngineRestarts(); got != want {
			t.Errorf("policy %q: EngineRestarts = %v", policy, got)
		}
	}
}

func TestCapWriter(t *testing.T) {
	w := &capWriter{max: 10}
	for _, chunk := range []string{"12345", "678", "90abc", "def"} {
		if n, err := w.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write(%q) = %d, %v: the writer must swallow everything", chunk, n, err)
		}
	}
	if string(w.buf) != "1234567890" || !w.truncated {
		t.Errorf("kept %q truncated %v", w.buf, w.truncated)
	}
	w = &capWriter{max: 10}
	_, _ = w.Write([]byte("0123456789"))
	if w.truncated {
		t.Error("exactly max bytes reported as truncated")
	}
}
