package engine

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/internal/clock"
)

// fakeImages is the image side of fakeAPI: a local store, and pull and
// build answers the test scripts.
type fakeImages struct {
	mu      sync.Mutex
	present map[string]image.InspectResponse
	// pullErr answers the pull request itself; pullStream is the stream
	// sent otherwise (JSON messages); a ref with neither pulls fine.
	pullErr    map[string]error
	pullStream map[string]string
	// pullHang: the stream sends nothing until the request is cancelled.
	pullHang    bool
	buildStream string
	pulls       []string
	builds      []build.ImageBuildOptions
	buildFiles  [][]string // the context tar's entries, per build
	tags        [][2]string
}

func (f *fakeAPI) img() *fakeImages {
	f.images.mu.Lock()
	if f.images.present == nil {
		f.images.present = map[string]image.InspectResponse{}
	}
	f.images.mu.Unlock()
	return &f.images
}

func (f *fakeAPI) ImageInspect(ctx context.Context, ref string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	im := f.img()
	im.mu.Lock()
	defer im.mu.Unlock()
	info, ok := im.present[ref]
	if !ok {
		return info, notFound{}
	}
	return info, nil
}

func (f *fakeAPI) ImagePull(ctx context.Context, ref string, _ image.PullOptions) (io.ReadCloser, error) {
	im := f.img()
	im.mu.Lock()
	defer im.mu.Unlock()
	im.pulls = append(im.pulls, ref)
	if err := im.pullErr[ref]; err != nil {
		return nil, err
	}
	if im.pullHang {
		pr, pw := io.Pipe()
		go func() {
			<-ctx.Done()
			pw.CloseWithError(ctx.Err())
		}()
		return pr, nil
	}
	stream, scripted := im.pullStream[ref]
	if !scripted {
		stream = `{"status":"Pulling fs layer","id":"l1"}` + "\n" + `{"status":"Download complete","id":"l1"}`
	}
	if !strings.Contains(stream, `"error"`) {
		im.present[ref] = image.InspectResponse{ID: "sha256:" + ref}
	}
	return io.NopCloser(strings.NewReader(stream)), nil
}

func (f *fakeAPI) ImageBuild(ctx context.Context, body io.Reader, opts build.ImageBuildOptions) (build.ImageBuildResponse, error) {
	var names []string
	tr := tar.NewReader(body)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
	}
	im := f.img()
	im.mu.Lock()
	defer im.mu.Unlock()
	im.builds = append(im.builds, opts)
	im.buildFiles = append(im.buildFiles, names)
	stream := im.buildStream
	if stream == "" {
		stream = `{"stream":"STEP 1/2: FROM base\n"}` + "\n" + `{"stream":"STEP 2/2: COPY a.txt /a.txt\n"}`
	}
	if !strings.Contains(stream, `"error"`) {
		for _, t := range opts.Tags {
			im.present[t] = image.InspectResponse{ID: "sha256:built"}
		}
	}
	return build.ImageBuildResponse{Body: io.NopCloser(strings.NewReader(stream))}, nil
}

func (f *fakeAPI) ImageTag(ctx context.Context, source, target string) error {
	im := f.img()
	im.mu.Lock()
	defer im.mu.Unlock()
	info, ok := im.present[source]
	if !ok {
		return notFound{}
	}
	im.present[target] = info
	im.tags = append(im.tags, [2]string{source, target})
	return nil
}

// buildDir makes a build context: a Dockerfile, a file to ship, one to
// leave out (.dockerignore), and a directory left out as a whole.
func buildDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"app/Dockerfile":    "FROM base\nCOPY a.txt /a.txt\n",
		"app/a.txt":         "shipped\n",
		"app/secret.txt":    "left out\n",
		"app/cache/big":     "left out\n",
		"app/.dockerignore": "secret.txt\ncache\nDockerfile\n",
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func imageClient(t *testing.T) (*Client, *fakeAPI, *clock.Fake, *logRecorder) {
	fa := &fakeAPI{}
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	log, rec := newLogRecorder(t)
	return newClient(fa, Options{Clock: fc, Logger: log}), fa, fc, rec
}

func TestEnsureImagePolicies(t *testing.T) {
	day := 24 * time.Hour
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	old := image.InspectResponse{ID: "old", Metadata: image.Metadata{LastTagTime: now.Add(-2 * day)}}
	fresh := image.InspectResponse{ID: "fresh", Metadata: image.Metadata{LastTagTime: now.Add(-time.Hour)}}
	cases := []struct {
		name    string
		service string // YAML under the service key
		present map[string]image.InspectResponse
		pullErr bool
		pulls   []string
		builds  int
		tags    [][2]string
		err     error
	}{
		{name: "missing and present", service: "image: x/web:1", present: map[string]image.InspectResponse{"x/web:1": {}}},
		{name: "missing and absent: pulled", service: "image: x/web:1", pulls: []string{"x/web:1"}},
		{name: "if_not_present is missing", service: "image: x/web:1\n    pull_policy: if_not_present", present: map[string]image.InspectResponse{"x/web:1": {}}},
		{name: "always pulls", service: "image: x/web:1\n    pull_policy: always", present: map[string]image.InspectResponse{"x/web:1": {}}, pulls: []string{"x/web:1"}},
		{name: "always, pull fails, local kept", service: "image: x/web:1\n    pull_policy: always", present: map[string]image.InspectResponse{"x/web:1": {}}, pullErr: true, pulls: []string{"x/web:1"}},
		{name: "always, pull fails, absent", service: "image: x/web:1\n    pull_policy: always", pullErr: true, pulls: []string{"x/web:1"}, err: ErrImageUnavailable},
		{name: "never and absent", service: "image: x/web:1\n    pull_policy: never", err: ErrImageUnavailable},
		{name: "never and present", service: "image: x/web:1\n    pull_policy: never", present: map[string]image.InspectResponse{"x/web:1": {}}},
		{name: "daily, stale: pulled", service: "image: x/web:1\n    pull_policy: daily", present: map[string]image.InspectResponse{"x/web:1": old}, pulls: []string{"x/web:1"}},
		{name: "daily, fresh: kept", service: "image: x/web:1\n    pull_policy: daily", present: map[string]image.InspectResponse{"x/web:1": fresh}},
		{name: "build-only, absent: built", service: "build: ./app", builds: 1},
		{name: "build-only, present", service: "build: ./app", present: map[string]image.InspectResponse{"p-web": {}}},
		{name: "build with image, absent: built", service: "image: x/web:2\n    build: ./app", builds: 1},
		{name: "pull_policy build rebuilds", service: "build: ./app\n    pull_policy: build", present: map[string]image.InspectResponse{"p-web": {}}, builds: 1},
		{name: "podman-compose image adopted", service: "build: ./app", present: map[string]image.InspectResponse{"p_web": {}}, tags: [][2]string{{"p_web", "p-web"}}},
		{name: "always, build-only and present: not pulled", service: "build: ./app\n    pull_policy: always", present: map[string]image.InspectResponse{"p-web": {}}},
		{name: "always with build, pull fails: built", service: "image: x/web:2\n    build: ./app\n    pull_policy: always", pullErr: true, pulls: []string{"x/web:2"}, builds: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := buildDir(t)
			st := load(t, dir, "services:\n  web:\n    "+tc.service+"\n")
			c, fa, _, _ := imageClient(t)
			im := fa.img()
			for k, v := range tc.present {
				im.present[k] = v
			}
			if tc.pullErr {
				im.pullStream = map[string]string{"x/web:1": `{"error":"no registry"}`, "x/web:2": `{"error":"no registry"}`}
			}
			err := c.EnsureImage(t.Context(), st, "web", nil)
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if !slices.Equal(im.pulls, tc.pulls) {
				t.Errorf("pulls = %v, want %v", im.pulls, tc.pulls)
			}
			if len(im.builds) != tc.builds {
				t.Errorf("builds = %d, want %d", len(im.builds), tc.builds)
			}
			if !slices.Equal(im.tags, tc.tags) {
				t.Errorf("tags = %v, want %v", im.tags, tc.tags)
			}
			if err == nil {
				if _, ok := im.present[ImageName("p", *mustService(t, st, "web"))]; !ok {
					t.Errorf("image %s absent after EnsureImage", ImageName("p", *mustService(t, st, "web")))
				}
			}
		})
	}
}

func TestEnsureImageUnavailableNamesImageAndAnswer(t *testing.T) {
	st := load(t, t.TempDir(), "services:\n  web:\n    image: registry.invalid/nope:1\n")
	c, fa, _, _ := imageClient(t)
	answerText := `pinging container registry registry.invalid: dial tcp: lookup registry.invalid: no such host`
	fa.img().pullStream = map[string]string{"registry.invalid/nope:1": `{"status":"Trying to pull"}` + "\n" + `{"errorDetail":{"message":"` + answerText + `"},"error":"` + answerText + `"}`}
	err := c.EnsureImage(t.Context(), st, "web", nil)
	if !errors.Is(err, ErrImageUnavailable) || !IsCondition(err) {
		t.Fatalf("err = %v, want ErrImageUnavailable", err)
	}
	want := "image unavailable: registry.invalid/nope:1: " + answerText
	if err.Error() != want {
		t.Errorf("err = %q\nwant  %q", err, want)
	}

	// Refused at the request (Docker answers 404 for an unknown repository).
	fa.img().pullErr = map[string]error{"registry.invalid/nope:1": notFound{}}
	if err := c.EnsureImage(t.Context(), st, "web", nil); !errors.Is(err, ErrImageUnavailable) || !strings.Contains(err.Error(), "registry.invalid/nope:1") {
		t.Errorf("404 at pull: err = %v, want ErrImageUnavailable naming the image", err)
	}

	// The engine itself gone is not the image's fault.
	fa.img().pullErr = map[string]error{"registry.invalid/nope:1": unreachable()}
	if err := c.EnsureImage(t.Context(), st, "web", nil); !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrImageUnavailable) {
		t.Errorf("engine unreachable at pull: err = %v, want ErrUnavailable only", err)
	}
}

func TestEnsureImageBuildOptionsAndContext(t *testing.T) {
	dir := buildDir(t)
	st := load(t, dir, `
services:
  web:
    build:
      context: ./app
      target: prod
      args: {VERSION: "1.2"}
      labels: {team: core}
      tags: ["x/web:extra"]
`)
	c, fa, _, _ := imageClient(t)
	var lines []string
	if err := c.EnsureImage(t.Context(), st, "web", func(l string) { lines = append(lines, l) }); err != nil {
		t.Fatal(err)
	}
	im := fa.img()
	if len(im.builds) != 1 {
		t.Fatalf("builds = %d", len(im.builds))
	}
	b := im.builds[0]
	if !slices.Equal(b.Tags, []string{"p-web", "x/web:extra"}) || b.Target != "prod" || b.Dockerfile != "Dockerfile" {
		t.Errorf("tags %v target %q dockerfile %q", b.Tags, b.Target, b.Dockerfile)
	}
	if v := b.BuildArgs["VERSION"]; v == nil || *v != "1.2" {
		t.Errorf("arg VERSION = %v", v)
	}
	if b.Labels["team"] != "core" || b.Labels[LabelProject] != "p" || b.Labels[LabelService] != "web" {
		t.Errorf("labels = %v", b.Labels)
	}
	files := im.buildFiles[0]
	for _, f := range []string{"Dockerfile", "a.txt", ".dockerignore"} {
		if !slices.Contains(files, f) {
			t.Errorf("context lacks %s: %v", f, files)
		}
	}
	for _, f := range files {
		if strings.Contains(f, "secret") || strings.HasPrefix(f, "cache") {
			t.Errorf("context has %s, excluded by .dockerignore: %v", f, files)
		}
	}
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "building image p-web") || lines[len(lines)-1] != "built image p-web" {
		t.Errorf("progress = %q", lines)
	}
}

func TestEnsureImageBuildFailure(t *testing.T) {
	st := load(t, buildDir(t), "services:\n  web:\n    build: ./app\n")
	c, fa, _, _ := imageClient(t)
	fa.img().buildStream = `{"stream":"STEP 1/2: FROM localhost/none\n"}` + "\n" + `{"errorDetail":{"message":"creating build container: no such image\n"},"error":"creating build container: no such image\n"}`
	err := c.EnsureImage(t.Context(), st, "web", nil)
	if !errors.Is(err, ErrImageUnavailable) || err.Error() != "image unavailable: p-web: build failed: creating build container: no such image" {
		t.Errorf("err = %v", err)
	}
}

func TestEnsureImageProgressThrottled(t *testing.T) {
	st := load(t, t.TempDir(), "services:\n  web:\n    image: x/web:1\n")
	c, fa, _, rec := imageClient(t)
	var stream strings.Builder
	for i := range 50 {
		stream.WriteString(`{"status":"Downloading","id":"l1","progressDetail":{"current":` + string(rune('0'+i%10)) + `,"total":10}}` + "\n")
	}
	fa.img().pullStream = map[string]string{"x/web:1": stream.String()}
	var lines []string
	if err := c.EnsureImage(t.Context(), st, "web", func(l string) { lines = append(lines, l) }); err != nil {
		t.Fatal(err)
	}
	// 50 messages within one instant: the first line and the end only.
	if want := []string{"pulling image x/web:1", "pulled image x/web:1"}; !slices.Equal(lines, want) {
		t.Errorf("progress = %q, want %q", lines, want)
	}
	if n := rec.count("image x/web:1"); n != 2 {
		t.Errorf("%d log lines about the pull, want 2", n)
	}
}

func TestEnsureImagePullStall(t *testing.T) {
	st := load(t, t.TempDir(), "services:\n  web:\n    image: x/web:1\n")
	c, fa, fc, _ := imageClient(t)
	fa.img().pullHang = true
	errc := make(chan error, 1)
	go func() { errc <- c.EnsureImage(t.Context(), st, "web", nil) }()
	fc.BlockUntil(1)
	fc.Advance(imageStall)
	select {
	case err := <-errc:
		if !errors.Is(err, ErrImageUnavailable) || !strings.Contains(err.Error(), "stalled") {
			t.Errorf("err = %v, want a stalled pull as ErrImageUnavailable", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a silent pull was not given up")
	}
}

func mustService(t *testing.T, st *compose.Stack, name string) *compose.Service {
	t.Helper()
	s, ok := st.Service(name)
	if !ok {
		t.Fatalf("no service %s", name)
	}
	return s
}

func TestEnsureImageMissingContextIsUnavailable(t *testing.T) {
	st := load(t, t.TempDir(), "services:\n  web:\n    build: ./ai/rtdetr\n")
	c, _, _, _ := imageClient(t)
	err := c.EnsureImage(t.Context(), st, "web", nil)
	if !errors.Is(err, ErrImageUnavailable) || !strings.Contains(err.Error(), "image unavailable: p-web: cannot build it: build context ") || !strings.Contains(err.Error(), "ai/rtdetr is not a directory") {
		t.Errorf("err = %v, want ErrImageUnavailable naming the image and the missing context", err)
	}
}
