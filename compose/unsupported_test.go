package compose

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestVolumeOptionsRecoverPodmanU(t *testing.T) {
	st := load(t, Options{Files: []string{nemotron}, Env: []string{"POSTGRES_PASSWORD=x"}})
	for _, tc := range []struct{ service, target string }{
		{"ai-detector", "/cache/huggingface"},
		{"backend", "/app/data"},
	} {
		svc, ok := st.Service(tc.service)
		if !ok {
			t.Fatalf("no service %s", tc.service)
		}
		if got := svc.EngineVolumeOptions(tc.target); !slices.Equal(got, []string{"U"}) {
			t.Errorf("%s %s: engine options %v, want [U] (all: %v)", tc.service, tc.target, got, svc.VolumeOptions)
		}
	}
	llm, _ := st.Service("ai-llm")
	if got := llm.EngineVolumeOptions("/models"); len(got) != 0 {
		t.Errorf("ai-llm /models: %v; ro is compose-go's, not extra", got)
	}
	if len(st.Unsupported) != 0 {
		t.Errorf("the nemotron file uses nothing unsupported, got %v", st.Unsupported)
	}
}

func TestVolumeOptionsOverrideAndExtends(t *testing.T) {
	path := writeCompose(t, "p", `
services:
  base:
    image: x
    volumes: ["${DATA:-./data}:/data:U", "./a:/a:z"]
  child:
    extends: {service: base}
`)
	override := filepath.Join(filepath.Dir(path), "override.yml")
	if err := os.WriteFile(override, []byte("services:\n  base:\n    volumes: [\"./a:/a:U,Z\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	st := load(t, Options{Files: []string{path, override}, Env: []string{"DATA=/srv/data"}})
	base, _ := st.Service("base")
	if got := base.VolumeOptions["/a"]; !slices.Equal(got, []string{"U", "Z"}) {
		t.Errorf("base /a: %v, want the override's [U Z]", got)
	}
	if got := base.EngineVolumeOptions("/data"); !slices.Equal(got, []string{"U"}) {
		t.Errorf("base /data (interpolated source): %v", got)
	}
	child, _ := st.Service("child")
	if got := child.EngineVolumeOptions("/data"); !slices.Equal(got, []string{"U"}) {
		t.Errorf("child inherits /data:U through extends, got %v", got)
	}
}

func TestStopTimeout(t *testing.T) {
	st := load(t, Options{Files: []string{writeCompose(t, "p", "services:\n  a: {image: x, stop_grace_period: 1m30s}\n  b: {image: x}\n")}})
	a, _ := st.Service("a")
	b, _ := st.Service("b")
	if got := a.StopTimeout(10 * time.Second); got != 90*time.Second {
		t.Errorf("a: %v, want 1m30s", got)
	}
	if got := b.StopTimeout(10 * time.Second); got != 10*time.Second {
		t.Errorf("b: %v, want the default", got)
	}
}

func TestUnsupportedAreWarnings(t *testing.T) {
	st := load(t, Options{Files: []string{writeCompose(t, "p", `
services:
  a:
    image: x
    links: [b]
    volumes: ["./x:/x:O"]
  b: {image: x, scale: 3}
`)}})
	want := []Warning{
		{Service: "a", Key: "links"},
		{Service: "a", Key: "volumes: /x"},
		{Service: "b", Key: "scale"},
	}
	if len(st.Unsupported) != len(want) {
		t.Fatalf("got %v, want %d warnings", st.Unsupported, len(want))
	}
	for i, w := range want {
		got := st.Unsupported[i]
		if got.Service != w.Service || got.Key != w.Key || got.Instead == "" {
			t.Errorf("warning %d = %+v, want service %s key %s", i, got, w.Service, w.Key)
		}
		if !slices.Contains(st.Warnings, got.String()) || !strings.Contains(got.String(), "service "+w.Service) {
			t.Errorf("%q is not among the stack's warnings", got.String())
		}
	}
}
