//go:build integration

package e2e

import (
	"archive/tar"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRPMMatchesDeb checks that the .rpm carries what the .deb carries: the
// same files (the unit under /usr/lib instead of /lib) with the same modes and
// contents, the same conffiles (noreplace), scripts and dependencies.
func TestRPMMatchesDeb(t *testing.T) {
	requireTools(t, "dpkg-deb", "rpm")
	deb := requireFile(t, "HOSTAGENT_E2E_DEB")
	rpm := requireFile(t, "HOSTAGENT_E2E_RPM")
	ctx := t.Context()
	root := repoRoot(t)

	debFiles := debContents(t, deb)
	rpmOut, err := run(ctx, nil, "rpm", "-qp", "--qf", `[%{FILEMODES:perms} %{FILEDIGESTS} %{FILEFLAGS:fflags} %{FILENAMES}\n]`, rpm)
	if err != nil {
		t.Fatal(err)
	}
	rpmFiles := map[string]string{}
	var rpmConf []string
	for _, line := range strings.Split(strings.TrimSpace(rpmOut), "\n") {
		f := strings.Fields(line)
		if strings.HasPrefix(line, "d") {
			continue // directories carry no digest or flags
		}
		if len(f) == 3 { // no flags
			f = []string{f[0], f[1], "", f[2]}
		}
		if len(f) != 4 {
			t.Fatalf("unexpected rpm -qp line %q", line)
		}
		mode, digest, flags, name := f[0], f[1], f[2], f[3]
		rpmFiles[name] = mode + " " + digest
		if strings.Contains(flags, "c") {
			if !strings.Contains(flags, "n") {
				t.Errorf("rpm: %s is %%config without noreplace (flags %q)", name, flags)
			}
			rpmConf = append(rpmConf, name)
		}
	}

	want := map[string]string{}
	for name, v := range debFiles {
		want[strings.Replace(name, "/lib/systemd/system/", "/usr/lib/systemd/system/", 1)] = v
	}
	for name, v := range want {
		if rpmFiles[name] != v {
			t.Errorf("%s: deb has %q, rpm %q", name, v, rpmFiles[name])
		}
	}
	for name := range rpmFiles {
		if _, ok := want[name]; !ok {
			t.Errorf("rpm has %s, the deb does not", name)
		}
	}
	for _, f := range []string{"/usr/bin/hostagent", "/usr/lib/systemd/system/hostagent.service", "/etc/hostagent/config.yaml", "/etc/hostagent/hostagent.env"} {
		if _, ok := rpmFiles[f]; !ok {
			t.Errorf("rpm lacks %s", f)
		}
	}
	// The packaged files are the repo's, byte for byte.
	for dst, src := range map[string]string{
		"/usr/lib/systemd/system/hostagent.service": "packaging/systemd/hostagent.service",
		"/etc/hostagent/config.yaml":                "packaging/etc/config.yaml",
		"/etc/hostagent/hostagent.env":              "packaging/etc/hostagent.env",
	} {
		if got, want := digestOf(rpmFiles[dst]), fileDigest(t, filepath.Join(root, src)); got != want {
			t.Errorf("%s in the packages differs from %s", dst, src)
		}
	}

	ctl := t.TempDir()
	if _, err := run(ctx, nil, "dpkg-deb", "-e", deb, ctl); err != nil {
		t.Fatal(err)
	}
	debConf := strings.Fields(readFile(t, filepath.Join(ctl, "conffiles")))
	slices.Sort(debConf)
	slices.Sort(rpmConf)
	wantConf := []string{"/etc/hostagent/config.yaml", "/etc/hostagent/hostagent.env"}
	if !slices.Equal(debConf, wantConf) || !slices.Equal(rpmConf, wantConf) {
		t.Errorf("conffiles: deb %v, rpm %v, want %v", debConf, rpmConf, wantConf)
	}

	scriptsOut, err := run(ctx, nil, "rpm", "-qp", "--scripts", rpm)
	if err != nil {
		t.Fatal(err)
	}
	rpmScripts := parseRPMScripts(scriptsOut)
	for rpmName, debName := range map[string]string{"postinstall": "postinst", "preuninstall": "prerm", "postuninstall": "postrm"} {
		src := readFile(t, filepath.Join(root, "packaging", "scripts", map[string]string{
			"postinst": "postinstall.sh", "prerm": "preremove.sh", "postrm": "postremove.sh"}[debName]))
		if got := strings.TrimSpace(readFile(t, filepath.Join(ctl, debName))); got != strings.TrimSpace(src) {
			t.Errorf("deb %s differs from the repo's script", debName)
		}
		if got := strings.TrimSpace(rpmScripts[rpmName]); got != strings.TrimSpace(src) {
			t.Errorf("rpm %s scriptlet differs from the deb's %s:\n%s", rpmName, debName, got)
		}
		delete(rpmScripts, rpmName)
	}
	for name := range rpmScripts {
		t.Errorf("rpm has an extra %s scriptlet", name)
	}
	for _, name := range []string{"preinst", "config"} {
		if _, err := os.Stat(filepath.Join(ctl, name)); err == nil {
			t.Errorf("deb has an unexpected %s script", name)
		}
	}

	debDeps, _ := run(ctx, nil, "dpkg-deb", "-f", deb, "Depends", "Version")
	rpmDeps, _ := run(ctx, nil, "rpm", "-qp", "--qf", `Depends: [%{REQUIRENAME} %{REQUIREFLAGS:depflags} %{REQUIREVERSION},]\nVersion: %{VERSION}-%{RELEASE}\n`, rpm)
	// fields splits "Depends: a (>= 1), b" (deb) or "a >= 1,b ," (rpm) into
	// sorted entries without spaces or parentheses: "a>=1 b".
	fields := func(s string) map[string]string {
		m := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
			k, v, _ := strings.Cut(l, ": ")
			var keep []string
			for _, d := range strings.Split(v, ",") {
				d = strings.NewReplacer(" ", "", "(", "", ")", "").Replace(d)
				if d != "" && !strings.HasPrefix(d, "rpmlib") && !strings.HasPrefix(d, "/bin/sh") {
					keep = append(keep, d)
				}
			}
			slices.Sort(keep)
			m[k] = strings.Join(keep, " ")
		}
		return m
	}
	d, r := fields(debDeps), fields(rpmDeps)
	// The binary links glibc 2.34+; netavark needs iptables, which Podman
	// only suggests.
	wantDeb, wantRPM := "iptables libc6>=2.34 podman>=4.3 systemd", "glibc>=2.34 iptables podman>=4.3 systemd"
	if d["Depends"] != wantDeb || r["Depends"] != wantRPM || d["Version"] != r["Version"] {
		t.Errorf("control fields wrong (want deb Depends %q, rpm Requires %q, one version):\n deb %v\n rpm %v", wantDeb, wantRPM, d, r)
	}
}

// debContents maps each regular file in the .deb to "mode sha256".
func debContents(t *testing.T, deb string) map[string]string {
	t.Helper()
	cmd := exec.Command("dpkg-deb", "--fsys-tarfile", deb)
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	tr := tar.NewReader(pipe)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		sum := sha256.New()
		if _, err := io.Copy(sum, tr); err != nil {
			t.Fatal(err)
		}
		name := "/" + strings.TrimPrefix(h.Name, "./")
		out[name] = h.FileInfo().Mode().String() + " " + hex.EncodeToString(sum.Sum(nil))
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	return out
}

// parseRPMScripts splits `rpm -qp --scripts` output ("postinstall scriptlet
// (using /bin/sh):" headers) into bodies by scriptlet name.
func parseRPMScripts(out string) map[string]string {
	scripts := map[string]string{}
	var name string
	var body strings.Builder
	flush := func() {
		if name != "" {
			scripts[name] = body.String()
		}
		body.Reset()
	}
	for _, line := range strings.SplitAfter(out, "\n") {
		if head, _, ok := strings.Cut(line, " scriptlet (using "); ok && !strings.Contains(head, " ") {
			flush()
			name = head
			continue
		}
		body.WriteString(line)
	}
	flush()
	return scripts
}

func digestOf(modeDigest string) string {
	_, d, _ := strings.Cut(modeDigest, " ")
	return d
}

func fileDigest(t *testing.T, path string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(readFile(t, path)))
	return hex.EncodeToString(sum[:])
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The shipped binary is position-independent and stripped.
func TestDebBinaryIsStrippedPIE(t *testing.T) {
	requireTools(t, "dpkg-deb")
	deb := requireFile(t, "HOSTAGENT_E2E_DEB")
	dir := t.TempDir()
	if _, err := run(t.Context(), nil, "dpkg-deb", "-x", deb, dir); err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(filepath.Join(dir, "usr", "bin", "hostagent"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Type != elf.ET_DYN {
		t.Errorf("/usr/bin/hostagent is ELF type %v, want ET_DYN (a PIE)", f.Type)
	}
	if f.Section(".symtab") != nil {
		t.Errorf("/usr/bin/hostagent has a .symtab: not stripped")
	}
}
