package podmantest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The test images.
const (
	// BusyboxImage: Debian's static busybox with every applet linked
	// (sh, wget, nc, sleep, test, cat, ...).
	BusyboxImage = "localhost/hostagent-busybox:latest"
	// TestsvcImage: busybox plus /bin/testsvc (tools/testsvc) as CMD,
	// PORT=8080.
	TestsvcImage = "localhost/hostagent-testsvc:latest"
)

// BusyboxPath is where Debian's busybox-static puts the binary.
const BusyboxPath = "/bin/busybox"

// recipe changes whenever the way the images are assembled changes, so
// that stored images are rebuilt.
const recipe = "hostagent-images-v1"

const inputLabel = "io.hostagent.input-hash"

// EnsureImages builds BusyboxImage and TestsvcImage unless images built
// from the same inputs (busybox binary, testsvc binary, recipe) are
// already stored. Rebuilding testsvc is a cached `go build`, so an up to
// date run costs about a second.
func (s *Service) EnsureImages(ctx context.Context) error {
	// Test binaries of several packages may run at once.
	unlock, err := s.lockImages()
	if err != nil {
		return err
	}
	defer unlock()

	busybox, applets, svc, err := s.imageInputs(ctx)
	if err != nil {
		return err
	}
	base := []file{{path: "bin/busybox", data: busybox, mode: 0o755}}
	if err := s.ensureImage(ctx, BusyboxImage, rootfs(base, applets), []string{`CMD ["/bin/sh"]`}); err != nil {
		return err
	}
	withSvc := append(base, file{path: "bin/testsvc", data: svc, mode: 0o755})
	return s.ensureImage(ctx, TestsvcImage, rootfs(withSvc, applets),
		[]string{`CMD ["/bin/testsvc"]`, "ENV PORT=8080", "EXPOSE 8080"})
}

// imageInputs are what every test image is made of: the static busybox,
// its applet list and the testsvc binary.
func (s *Service) imageInputs(ctx context.Context) (busybox, applets, svc []byte, err error) {
	if busybox, err = os.ReadFile(BusyboxPath); err != nil {
		return nil, nil, nil, fmt.Errorf("podmantest: %w (install busybox-static: make deps)", err)
	}
	if applets, err = exec.CommandContext(ctx, BusyboxPath, "--list").Output(); err != nil {
		return nil, nil, nil, fmt.Errorf("podmantest: busybox --list: %w", err)
	}
	svc, err = s.buildTestsvc(ctx)
	return busybox, applets, svc, err
}

// buildTestsvc compiles tools/testsvc statically and returns the binary.
func (s *Service) buildTestsvc(ctx context.Context) ([]byte, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	out := filepath.Join(s.Dir, "images", "testsvc")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./tools/testsvc")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("podmantest: build testsvc: %w: %s", err, b)
	}
	return os.ReadFile(out)
}

type file struct {
	path string
	data []byte
	mode int64
	link string // symlink target when set
}

// rootfs lays out a minimal root: the files, busybox applet links in
// /bin, /usr/bin/env, users root and nobody, and the usual directories.
func rootfs(files []file, applets []byte) []file { return rootfsUsers(files, applets, "", "") }

// rootfsUsers is rootfs with more passwd and group lines.
func rootfsUsers(files []file, applets []byte, passwd, group string) []file {
	out := []file{
		{path: "etc/passwd", data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n" + passwd), mode: 0o644},
		{path: "etc/group", data: []byte("root:x:0:\nnogroup:x:65534:\n" + group), mode: 0o644},
		{path: "usr/bin/env", link: "/bin/busybox"},
	}
	out = append(out, files...)
	for _, a := range strings.Fields(string(applets)) {
		if a != "busybox" && !strings.Contains(a, "/") {
			out = append(out, file{path: "bin/" + a, link: "busybox"})
		}
	}
	return out
}

// ensureImage imports the rootfs as name unless an image with the same
// input hash is stored.
func (s *Service) ensureImage(ctx context.Context, name string, files []file, changes []string) error {
	tarball, err := tarOf(files)
	if err != nil {
		return err
	}
	h := sha256.New()
	h.Write([]byte(recipe))
	h.Write(tarball)
	for _, c := range changes {
		h.Write([]byte(c))
	}
	want := hex.EncodeToString(h.Sum(nil))[:16]
	have, err := s.Podman(ctx, "image", "inspect", "--format", `{{index .Labels "`+inputLabel+`"}}`, name)
	if err == nil && have == want {
		return nil
	}
	args := []string{"import", "--quiet"}
	for _, c := range append(changes, "LABEL "+inputLabel+"="+want) {
		args = append(args, "--change", c)
	}
	args = append(args, "-", name)
	cmd := exec.CommandContext(ctx, "podman", append(s.globalArgs(), args...)...)
	cmd.Env = s.Env()
	cmd.Stdin = bytes.NewReader(tarball)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("podmantest: import %s: %w: %s", name, err, b)
	}
	fmt.Fprintf(os.Stderr, "podmantest: built %s (%s)\n", name, want)
	return nil
}

// tarOf writes a deterministic tar (fixed times, sorted as given).
func tarOf(files []file) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := []struct {
		name string
		mode int64
	}{{"bin", 0o755}, {"dev", 0o755}, {"etc", 0o755}, {"proc", 0o555}, {"root", 0o700}, {"run", 0o755},
		{"sys", 0o555}, {"tmp", 0o1777}, {"usr", 0o755}, {"usr/bin", 0o755}, {"var", 0o755}, {"var/tmp", 0o1777}}
	for _, d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d.name + "/", Mode: d.mode}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		if f.link != "" {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: f.path, Linkname: f.link, Mode: 0o777}); err != nil {
				return nil, err
			}
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.path, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
