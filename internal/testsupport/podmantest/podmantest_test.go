package podmantest

import (
	"archive/tar"
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

func TestRootfsTarIsDeterministic(t *testing.T) {
	files := rootfs([]file{{path: "bin/busybox", data: []byte("elf"), mode: 0o755}}, []byte("busybox\nsh\nwget\n/usr/bin/odd\n"))
	a, err := tarOf(files)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := tarOf(files)
	if !bytes.Equal(a, b) {
		t.Fatal("same inputs gave different tarballs: image input hashes would never match")
	}
	entries := map[string]*tar.Header{}
	tr := tar.NewReader(bytes.NewReader(a))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		entries[h.Name] = h
	}
	for name, link := range map[string]string{"bin/sh": "busybox", "bin/wget": "busybox", "usr/bin/env": "/bin/busybox"} {
		if h := entries[name]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != link {
			t.Errorf("%s: %+v, want a link to %s", name, h, link)
		}
	}
	if entries["bin/busybox"] == nil || entries["etc/passwd"] == nil || entries["tmp/"].Mode != 0o1777 {
		t.Errorf("missing busybox, passwd or a sticky /tmp")
	}
	if entries["bin/busybox/busybox"] != nil || entries["bin//usr/bin/odd"] != nil {
		t.Error("applets with paths or busybox itself must not be linked")
	}
}

func TestPathsHonourEnv(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HOSTAGENT_PODMAN_DIR", dir)
	s, err := Paths("")
	if err != nil {
		t.Fatal(err)
	}
	if s.Root != filepath.Join(dir, "root") || s.Conf != filepath.Join(dir, "containers.conf") {
		t.Errorf("paths = %+v", s)
	}
	// The runroot is keyed by the storage dir so that it never changes
	// for one storage (Podman refuses a different runroot).
	again, _ := Paths(dir)
	if again.RunRoot != s.RunRoot || again.Socket == s.Socket {
		t.Errorf("runroot %s vs %s, sockets %s vs %s", again.RunRoot, s.RunRoot, again.Socket, s.Socket)
	}
	if len(s.Socket) > 100 {
		t.Errorf("socket path %d bytes long, unix sockets allow 108", len(s.Socket))
	}
	if !strings.HasPrefix(s.URL(), "unix:///") {
		t.Errorf("URL = %s", s.URL())
	}
}
