//go:build integration

package e2e

// Environment (set by `make e2e`; the tests skip without the packages):
//
//	HOSTAGENT_E2E_DEB          the .deb under test
//	HOSTAGENT_E2E_DEB_NEXT     the same tree packaged with a higher VERSION (upgrade step)
//	HOSTAGENT_E2E_RPM          the .rpm built with HOSTAGENT_E2E_DEB
//	HOSTAGENT_E2E_PLACEHOLDER  1: the packages carry packaging/e2e/placeholder,
//	                           so the steps that need the real run loop skip
//	HOSTAGENT_E2E_DIR          work dir and rootfs cache (default .build/e2e)
//	HOSTAGENT_E2E_KEEP         1: leave the box and the stack running afterwards

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	project  = "hostagent-e2e"
	boxName  = "hostagent-e2e-box"
	sentinel = "sentinel" // the placeholder's stand-in for a stack container
)

// The test stack: three phases chained by depends_on, db gated by its health.
const composeFile = `name: hostagent-e2e
volumes:
  appdata: {}
x-idle: &idle
  image: localhost/hostagent-busybox:latest
  command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
services:
  db:
    <<: *idle
    volumes:
      # Missing: the agent creates it under the unit's hardening, as compose would.
      - @BINDS@/db/data:/data
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
      timeout: 2s
      retries: 3
  app:
    <<: *idle
    volumes:
      - appdata:/data
    depends_on:
      db:
        condition: service_healthy
  web:
    <<: *idle
    depends_on:
      app:
        condition: service_started
`

// extraService is appended before `systemctl reload`.
const extraService = `  extra:
    <<: *idle
`

func TestInstalledService(t *testing.T) {
	requireTools(t, "podman", "debootstrap", "tar")
	deb := requireFile(t, "HOSTAGENT_E2E_DEB")
	next := requireFile(t, "HOSTAGENT_E2E_DEB_NEXT")
	placeholder := os.Getenv("HOSTAGENT_E2E_PLACEHOLDER") == "1"
	root := repoRoot(t)
	dir := os.Getenv("HOSTAGENT_E2E_DIR")
	if dir == "" {
		dir = filepath.Join(root, ".build", "e2e")
	}
	ctx := t.Context()
	bg := context.Background() // for cleanups, after t.Context is done

	started := time.Now()
	p := startHostPodman(t, dir)
	out, err := run(ctx, nil, filepath.Join(root, "scripts", "e2e-rootfs.sh"), dir)
	if err != nil {
		t.Fatalf("debootstrap the Debian 12 rootfs: %v", err)
	}
	tarball := lastLine(out)
	// Bind sources live at the same path on the host and in the box, as
	// they would on one machine: the agent creates them, Podman mounts them.
	binds := filepath.Join(dir, "binds")
	_ = os.RemoveAll(binds)
	if err := os.MkdirAll(binds, 0o755); err != nil {
		t.Fatal(err)
	}
	stackFile := strings.ReplaceAll(composeFile, "@BINDS@", binds)
	out, err = run(ctx, p.env, filepath.Join(root, "scripts", "e2e-images.sh"), tarball)
	if err != nil {
		t.Fatalf("import the e2e images: %v", err)
	}
	image := lastLine(out)
	t.Logf("rootfs and images ready in %s", time.Since(started).Round(time.Millisecond))

	_, _ = p.run(bg, "rm", "-f", "-t", "1", boxName)
	p.removeProject(bg, t, project)
	t.Cleanup(func() {
		if os.Getenv("HOSTAGENT_E2E_KEEP") == "1" {
			t.Logf("HOSTAGENT_E2E_KEEP=1: leaving %s and the stack running", boxName)
			return
		}
		_, _ = p.run(bg, "rm", "-f", "-t", "1", boxName)
		p.removeProject(bg, t, project)
	})

	b := &box{p: p, name: boxName}
	f := &flow{t: t, passed: map[string]bool{}}
	product := func(t *testing.T) {
		t.Helper()
		if placeholder {
			t.Skip("placeholder binary: this step needs the real `hostagent run`")
		}
	}
	// stackNames are the services the test expects to see on the host.
	stackNames := []string{"db", "app", "web"}
	if placeholder {
		stackNames = []string{sentinel}
	}

	f.step("boot Debian 12 with systemd", nil, func(t *testing.T) {
		// SYS_ADMIN lets systemd set up the unit's mount namespace; without
		// it systemd silently drops ProtectSystem= and friends.
		if _, err := p.run(ctx, "run", "-d", "--name", boxName, "--hostname", "e2e",
			"--systemd=always", "--cap-add", "SYS_ADMIN",
			"-v", p.socket+":/run/podman/podman.sock", "-v", binds+":"+binds, image, "/sbin/init"); err != nil {
			t.Fatalf("podman run --systemd=always: %v", err)
		}
		f.box = b
		// PID 1 needs a moment before its bus answers at all; --wait then
		// blocks until start-up is done.
		var state string
		_ = eventually(60*time.Second, func() error {
			state, _ = b.exec(ctx, "timeout", "60", "systemctl", "is-system-running", "--wait")
			if state = strings.TrimSpace(state); strings.Contains(state, "Failed to connect to bus") {
				return errNotYet
			}
			return nil
		})
		switch state {
		case "running":
		case "degraded":
			failed, _ := b.exec(ctx, "systemctl", "--failed", "--no-pager")
			t.Logf("systemd is degraded (tolerated):\n%s", failed)
		default:
			t.Fatalf("systemctl is-system-running = %q, want running", state)
		}
	})

	f.step("apt install installs without enabling or starting", []string{"boot Debian 12 with systemd"}, func(t *testing.T) {
		if err := b.copyIn(ctx, deb, "/tmp/hostagent.deb"); err != nil {
			t.Fatal(err)
		}
		// apt resolves the Depends (podman, iptables, ...) on a minimal
		// rootfs from Debian's mirror, as a user's apt would; nothing is
		// added by hand.
		out, err := b.sh(ctx, "export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -q --no-install-recommends /tmp/hostagent.deb </dev/null 2>&1")
		if err != nil {
			t.Fatalf("apt-get install ./hostagent.deb: %v\n%s", err, out)
		}
		for _, dep := range []string{"podman", "iptables"} {
			if _, err := b.exec(ctx, "dpkg-query", "-W", dep); err != nil {
				t.Errorf("apt did not install the dependency %s", dep)
			}
		}
		for path, mode := range map[string]string{"/etc/hostagent/hostagent.env": "600", "/etc/hostagent/config.yaml": "640"} {
			if got, _ := b.exec(ctx, "stat", "-c", "%a", path); strings.TrimSpace(got) != mode {
				t.Errorf("%s has mode %s, want %s (it holds the stack's variables)", path, strings.TrimSpace(got), mode)
			}
		}
		if !strings.Contains(out, "not enabled or started") {
			t.Errorf("postinstall printed no enable hint:\n%s", out)
		}
		for _, path := range []string{"/usr/bin/hostagent", "/lib/systemd/system/hostagent.service",
			"/etc/hostagent/hostagent.env", "/etc/hostagent/config.yaml"} {
			if _, err := b.exec(ctx, "test", "-f", path); err != nil {
				t.Errorf("%s not installed", path)
			}
		}
		tok, err := b.sh(ctx, "stat -c %a /etc/hostagent/token && cat /etc/hostagent/token")
		if err != nil {
			t.Fatalf("postinstall made no /etc/hostagent/token: %v", err)
		}
		if !regexp.MustCompile(`^600\n[0-9a-f]{64}\n$`).MatchString(tok) {
			t.Errorf("token: want mode 600 and 64 hex digits, got %q", tok)
		}
		if got, _ := b.exec(ctx, "systemctl", "is-enabled", "hostagent"); strings.TrimSpace(got) != "disabled" {
			t.Errorf("systemctl is-enabled hostagent = %q after install, want disabled", strings.TrimSpace(got))
		}
		if got, _ := b.exec(ctx, "systemctl", "is-active", "hostagent"); strings.TrimSpace(got) != "inactive" {
			t.Errorf("systemctl is-active hostagent = %q after install, want inactive", strings.TrimSpace(got))
		}
		if out, err := b.exec(ctx, "systemd-analyze", "verify", "hostagent.service"); err != nil || strings.TrimSpace(out) != "" {
			t.Errorf("systemd-analyze verify hostagent.service: err %v, output:\n%s", err, out)
		}
	})

	f.step("systemctl start reaches READY", []string{"apt install installs without enabling or starting"}, func(t *testing.T) {
		b.writeFile(ctx, t, "/etc/hostagent/docker-compose.yml", stackFile)
		// A stand-in GPU node: the unit must not hide /dev (PrivateDevices).
		if _, err := b.exec(ctx, "mknod", "-m", "0666", "/dev/nvidia-e2e", "c", "1", "3"); err != nil {
			t.Fatal(err)
		}
		begun := time.Now()
		if _, err := b.exec(ctx, "timeout", "120", "systemctl", "start", "hostagent"); err != nil {
			t.Fatalf("systemctl start hostagent (Type=notify: returns once READY=1 arrives): %v", err)
		}
		ready := time.Since(begun)
		props, err := b.show(ctx, "hostagent", "Type", "ActiveState", "SubState", "MainPID", "StatusText", "WatchdogUSec", "NRestarts")
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"Type": "notify", "ActiveState": "active", "SubState": "running", "WatchdogUSec": "30s", "NRestarts": "0"}
		for k, v := range want {
			if props[k] != v {
				t.Errorf("systemctl show %s = %q, want %q", k, props[k], v)
			}
		}
		if props["StatusText"] == "" {
			t.Errorf("StatusText empty: the agent should send STATUS= with bring-up progress")
		}
		t.Logf("MainPID=%s StatusText=%q", props["MainPID"], props["StatusText"])
		if placeholder {
			return
		}
		// How long an operator waits: the next step checks the stack itself.
		err = eventually(120*time.Second, func() error {
			got, err := p.project(ctx, project)
			if err != nil {
				return err
			}
			return allRunning(got, stackNames)
		})
		if err != nil {
			t.Logf("systemctl start -> READY %s; not every service running within 120s: %v", ready.Round(time.Millisecond), err)
			return
		}
		t.Logf("systemctl start -> READY %s, -> every service running %s", ready.Round(time.Millisecond), time.Since(begun).Round(time.Millisecond))
	})
	const startStep = "systemctl start reaches READY"

	f.step("hardening leaves the socket, devices and state reachable", []string{startStep}, func(t *testing.T) {
		pid := mainPID(ctx, t, b)
		self, _ := b.exec(ctx, "readlink", "/proc/1/ns/mnt")
		svc, _ := b.exec(ctx, "readlink", "/proc/"+pid+"/ns/mnt")
		if self == svc {
			t.Fatalf("the agent shares PID 1's mount namespace (%s): ProtectSystem= & co. were not applied", strings.TrimSpace(svc))
		}
		in := func(script string) error {
			_, err := b.exec(ctx, "nsenter", "-t", pid, "-m", "sh", "-c", script)
			return err
		}
		checks := []struct {
			what   string
			script string
			wantOK bool
		}{
			{"/run/podman/podman.sock is a socket", "test -S /run/podman/podman.sock", true},
			{"/dev/nvidia-e2e is visible", "test -c /dev/nvidia-e2e", true},
			{"/proc/1/cgroup is readable", "cat /proc/1/cgroup >/dev/null", true},
			{"/var/lib/hostagent is writable", "touch /var/lib/hostagent/.e2e && rm /var/lib/hostagent/.e2e", true},
			{"/run/hostagent is writable", "touch /run/hostagent/.e2e && rm /run/hostagent/.e2e", true},
			{"/etc is read-only", "touch /etc/hostagent/.e2e", false},
			{"/usr is read-only", "touch /usr/bin/.e2e", false},
			{"bind sources outside /etc and /usr are creatable", "mkdir -p " + binds + "/.e2e && rmdir " + binds + "/.e2e", true},
		}
		for _, c := range checks {
			if err := in(c.script); (err == nil) != c.wantOK {
				t.Errorf("in the agent's mount namespace, want %s: `%s` gave %v", c.what, c.script, err)
			}
		}
		props, _ := b.show(ctx, "hostagent", "DeviceAllow", "DevicePolicy", "PrivateDevices", "KillMode")
		if props["DevicePolicy"] != "auto" || props["DeviceAllow"] != "" || props["PrivateDevices"] != "no" {
			t.Errorf("device access restricted (%v): /dev/nvidia* would be blocked", props)
		}
	})

	f.step("journal has the start line", []string{startStep}, func(t *testing.T) {
		err := eventually(20*time.Second, func() error {
			out, err := b.exec(ctx, "journalctl", "-u", "hostagent", "--no-pager", "-o", "cat")
			if err != nil {
				return err
			}
			if !strings.Contains(out, "ContainerOrchestrator started") {
				return fmt.Errorf("no line %q in journalctl -u hostagent", "ContainerOrchestrator started")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// The native protocol (internal/logging), not stderr lines: priorities
		// and fields survive.
		out, _ := b.exec(ctx, "journalctl", "-u", "hostagent", "--no-pager", "-o", "verbose", "_TRANSPORT=journal")
		if !strings.Contains(out, "MESSAGE=ContainerOrchestrator started") || !strings.Contains(out, "PRIORITY=6") {
			t.Errorf("no native journal entry (_TRANSPORT=journal, PRIORITY=6) for the start line: the agent should log with internal/logging")
		}
		if placeholder {
			lines, _ := b.exec(ctx, "journalctl", "-u", "hostagent", "--no-pager", "-o", "cat")
			for _, l := range strings.Split(lines, "\n") {
				if strings.HasPrefix(l, "check ") && !strings.Contains(l, "ok=true") {
					t.Errorf("placeholder check failed under the unit's hardening: %s", l)
				}
			}
		}
	})

	f.step("stack comes up on the host in phase order", []string{startStep}, func(t *testing.T) {
		product(t)
		var got map[string]ctr
		err := eventually(120*time.Second, func() error {
			var err error
			if got, err = p.project(ctx, project); err != nil {
				return err
			}
			return allRunning(got, stackNames)
		})
		if err != nil {
			t.Fatalf("want containers labelled com.docker.compose.project=%s and com.docker.compose.service=db|app|web running on the host's Podman: %v", project, err)
		}
		if !placeholder {
			// The missing bind source was created by the agent under the
			// unit (ProtectSystem=, UMask=0027), 0755 as compose makes it.
			fi, err := os.Stat(filepath.Join(binds, "db", "data"))
			if err != nil {
				t.Errorf("bind source %s/db/data: %v; want a directory created by the agent", binds, err)
			} else if fi.Mode().Perm() != 0o755 {
				t.Errorf("bind source %s/db/data has mode %v, want 0755 as compose makes it", binds, fi.Mode().Perm())
			}
		}
		for i := 1; i < len(stackNames); i++ {
			a, c := got[stackNames[i-1]], got[stackNames[i]]
			if !c.State.StartedAt.After(a.State.StartedAt) {
				t.Errorf("%s started at %s, not after %s (%s): phases out of order",
					stackNames[i], c.State.StartedAt.Format(time.RFC3339Nano), stackNames[i-1], a.State.StartedAt.Format(time.RFC3339Nano))
			}
		}
	})

	f.step("hostagent status lists the stack", []string{"stack comes up on the host in phase order"}, func(t *testing.T) {
		product(t)
		err := eventually(60*time.Second, func() error {
			out, err := b.exec(ctx, "hostagent", "status")
			if err != nil {
				return err
			}
			for _, svc := range stackNames {
				if !regexp.MustCompile(`(?im)^.*\b` + svc + `\b.*\brunning\b`).MatchString(out) {
					return fmt.Errorf("`hostagent status` (exit 0) has no line naming %s as running:\n%s", svc, out)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	f.step("systemctl reload picks up an added service", []string{startStep}, func(t *testing.T) {
		pid := mainPID(ctx, t, b)
		before, _ := p.project(ctx, project)
		b.writeFile(ctx, t, "/etc/hostagent/docker-compose.yml", stackFile+extraService)
		if _, err := b.exec(ctx, "timeout", "120", "systemctl", "reload", "hostagent"); err != nil {
			t.Fatalf("systemctl reload hostagent: %v", err)
		}
		if got := mainPID(ctx, t, b); got != pid {
			t.Errorf("MainPID %s -> %s: reload restarted the agent instead of sending SIGHUP", pid, got)
		}
		if placeholder {
			err := eventually(10*time.Second, func() error {
				out, _ := b.exec(ctx, "journalctl", "-u", "hostagent", "--no-pager", "-o", "cat")
				if !strings.Contains(out, "reload requested by SIGHUP") {
					return fmt.Errorf("placeholder logged no SIGHUP")
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			return
		}
		err := eventually(60*time.Second, func() error {
			got, err := p.project(ctx, project)
			if err != nil {
				return err
			}
			return allRunning(got, []string{"extra"})
		})
		if err != nil {
			t.Fatalf("after SIGHUP the agent should create and start the added service: %v", err)
		}
		after, _ := p.project(ctx, project)
		for _, svc := range stackNames {
			if before[svc].ID != "" && after[svc].ID != before[svc].ID {
				t.Errorf("reload recreated %s (%.12s -> %.12s); unchanged services must be left alone", svc, before[svc].ID, after[svc].ID)
			}
		}
	})
	if !placeholder {
		stackNames = append(stackNames, "extra")
	}

	f.step("systemctl reload of a broken file fails and keeps the stack", []string{"systemctl reload picks up an added service"}, func(t *testing.T) {
		product(t)
		pid := mainPID(ctx, t, b)
		before, _ := p.project(ctx, project)
		b.writeFile(ctx, t, "/etc/hostagent/docker-compose.yml", stackFile+extraService+"  broken: [\n")
		out, err := b.sh(ctx, "timeout 120 systemctl reload hostagent 2>&1; echo rc=$?")
		if strings.Contains(out, "rc=0") || err != nil {
			t.Errorf("systemctl reload with a broken compose file: %v %q, want it to fail (ExecReload validates first)", err, out)
		}
		b.writeFile(ctx, t, "/etc/hostagent/docker-compose.yml", stackFile+extraService)
		if got := mainPID(ctx, t, b); got != pid {
			t.Errorf("MainPID %s -> %s: a failed reload must leave the agent running", pid, got)
		}
		after, err := p.project(ctx, project)
		if err != nil {
			t.Fatal(err)
		}
		if err := allRunning(after, stackNames); err != nil {
			t.Errorf("after a failed reload: %v", err)
		}
		for _, svc := range stackNames {
			if after[svc].ID != before[svc].ID {
				t.Errorf("a failed reload recreated %s", svc)
			}
		}
		journal, _ := b.exec(ctx, "journalctl", "-u", "hostagent", "--no-pager", "-o", "cat", "-n", "50")
		if !strings.Contains(journal, "docker-compose.yml") {
			t.Errorf("the journal does not name the broken file:\n%s", journal)
		}
	})

	f.step("systemctl reload rolls out an image rebuilt under the same tag", []string{"systemctl reload picks up an added service"}, func(t *testing.T) {
		product(t)
		before, err := p.project(ctx, project)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.run(ctx, "exec", before["app"].ID, "sh", "-c", "echo kept > /data/marker"); err != nil {
			t.Fatal(err)
		}
		// A new image under the same tag, as a rebuild or a pull makes it.
		if _, err := p.run(ctx, "exec", before["web"].ID, "sh", "-c", "echo v2 > /image-version"); err != nil {
			t.Fatal(err)
		}
		if _, err := p.run(ctx, "commit", "-q", before["web"].ID, "localhost/hostagent-busybox:latest"); err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		if out, err := b.sh(ctx, "timeout 150 systemctl reload hostagent 2>&1"); err != nil {
			t.Fatalf("systemctl reload: %v\n%s", err, out)
		}
		t.Logf("systemctl reload (validate, converge, wait) took %s", time.Since(began).Round(time.Millisecond))
		var after map[string]ctr
		err = eventually(60*time.Second, func() error {
			if after, err = p.project(ctx, project); err != nil {
				return err
			}
			for _, svc := range stackNames {
				if after[svc].ID == before[svc].ID {
					return fmt.Errorf("%s not recreated yet", svc)
				}
			}
			return allRunning(after, stackNames)
		})
		if err != nil {
			t.Fatalf("after the image changed, systemctl reload should recreate every service on it: %v", err)
		}
		for _, pair := range [][2]string{{"db", "app"}, {"app", "web"}} {
			a, c := after[pair[0]], after[pair[1]]
			if !c.State.StartedAt.After(a.State.StartedAt) {
				t.Errorf("%s recreated at %s, not after %s (%s): the rollout is not in phase order",
					pair[1], c.State.StartedAt.Format(time.RFC3339Nano), pair[0], a.State.StartedAt.Format(time.RFC3339Nano))
			}
		}
		if out, err := p.run(ctx, "exec", after["app"].ID, "cat", "/data/marker"); err != nil || strings.TrimSpace(out) != "kept" {
			t.Errorf("app's named volume after the rollout: %q %v, want the data kept", out, err)
		}
	})

	f.step("systemctl stop leaves the stack running", []string{startStep}, func(t *testing.T) {
		before, err := p.project(ctx, project)
		if err != nil {
			t.Fatal(err)
		}
		if err := allRunning(before, stackNames); err != nil {
			t.Fatalf("before stop: %v", err)
		}
		if _, err := b.exec(ctx, "timeout", "60", "systemctl", "stop", "hostagent"); err != nil {
			t.Fatalf("systemctl stop hostagent: %v", err)
		}
		props, _ := b.show(ctx, "hostagent", "ActiveState", "Result", "ExecMainStatus")
		if props["ActiveState"] != "inactive" || props["Result"] != "success" {
			t.Errorf("after stop: %v, want ActiveState=inactive Result=success (exit 0 on SIGTERM)", props)
		}
		assertUntouched(ctx, t, p, before, stackNames)
	})

	f.step("systemctl start again adopts the running stack", []string{"systemctl stop leaves the stack running"}, func(t *testing.T) {
		before, _ := p.project(ctx, project)
		if _, err := b.exec(ctx, "timeout", "120", "systemctl", "start", "hostagent"); err != nil {
			t.Fatalf("systemctl start hostagent: %v", err)
		}
		time.Sleep(3 * time.Second) // let a converge pass run
		assertUntouched(ctx, t, p, before, stackNames)
	})

	f.step("Podman down at start: no watchdog restart in 2 minutes, the stack comes up once it is back", []string{"systemctl start again adopts the running stack"}, func(t *testing.T) {
		product(t)
		// As at a boot where Podman does not come up: the agent stopped,
		// the stack exited, the API service stopped (the podman CLI works
		// on the storage without it).
		if _, err := b.exec(ctx, "timeout", "60", "systemctl", "stop", "hostagent"); err != nil {
			t.Fatalf("systemctl stop hostagent: %v", err)
		}
		ids, err := p.run(ctx, "ps", "-q", "--filter", "label=com.docker.compose.project="+project)
		if err != nil {
			t.Fatal(err)
		}
		if len(strings.Fields(ids)) == 0 {
			t.Fatal("no running stack container to stop")
		}
		if _, err := p.run(ctx, append([]string{"stop", "-t", "2"}, strings.Fields(ids)...)...); err != nil {
			t.Fatalf("podman stop the stack: %v", err)
		}
		p.stopService()
		// Later steps need Podman, whatever happens here.
		defer func() {
			if err := p.startService(); err != nil {
				t.Error(err)
			}
		}()
		if _, err := b.exec(ctx, "timeout", "120", "systemctl", "start", "hostagent"); err != nil {
			t.Fatalf("systemctl start hostagent with Podman down: %v (READY must not wait for the engine)", err)
		}
		pid := mainPID(ctx, t, b)
		// WatchdogSec=30s: two minutes without a restart means the
		// watchdog was fed all along while the engine was awaited.
		const outage = 2 * time.Minute
		for end := time.Now().Add(outage); time.Now().Before(end); {
			time.Sleep(5 * time.Second)
			props, err := b.show(ctx, "hostagent", "ActiveState", "SubState", "MainPID", "NRestarts")
			if err != nil {
				t.Fatal(err)
			}
			if props["ActiveState"] != "active" || props["MainPID"] != pid || props["NRestarts"] != "0" {
				t.Fatalf("%s into the Podman outage: %v, want active with MainPID %s and NRestarts=0", (outage - time.Until(end)).Round(time.Second), props, pid)
			}
		}
		props, _ := b.show(ctx, "hostagent", "StatusText")
		if !strings.Contains(props["StatusText"], "container engine") {
			t.Errorf("StatusText after 2 minutes without Podman = %q, want it to say the engine is awaited", props["StatusText"])
		}
		if err := p.startService(); err != nil {
			t.Fatal(err)
		}
		back := time.Now()
		// Discovery retries every 5 s at most, then bring-up runs.
		err = eventually(60*time.Second, func() error {
			got, err := p.project(ctx, project)
			if err != nil {
				return err
			}
			return allRunning(got, stackNames)
		})
		if err != nil {
			t.Fatalf("the stack did not come up within 60s of Podman's return: %v", err)
		}
		t.Logf("Podman back -> every service running in %s", time.Since(back).Round(time.Millisecond))
		props, _ = b.show(ctx, "hostagent", "ActiveState", "MainPID", "NRestarts")
		if props["ActiveState"] != "active" || props["MainPID"] != pid || props["NRestarts"] != "0" {
			t.Errorf("after the outage: %v, want active with MainPID %s and NRestarts=0", props, pid)
		}
	})

	f.step("upgrade keeps edited config and state", []string{startStep}, func(t *testing.T) {
		if _, err := b.sh(ctx, `echo '# e2e: local edit' >>/etc/hostagent/config.yaml &&
			echo '# e2e: local edit' >>/etc/hostagent/hostagent.env &&
			echo kept >/var/lib/hostagent/e2e-marker`); err != nil {
			t.Fatal(err)
		}
		stateBefore, _ := b.sh(ctx, "ls -A /var/lib/hostagent")
		tokenBefore, _ := b.exec(ctx, "cat", "/etc/hostagent/token")
		pidBefore := mainPID(ctx, t, b)
		ctrsBefore, _ := p.project(ctx, project)

		if err := b.copyIn(ctx, next, "/tmp/hostagent-next.deb"); err != nil {
			t.Fatal(err)
		}
		want, _ := run(ctx, nil, "dpkg-deb", "-f", next, "Version")
		// No stdin: a conffile prompt would fail the upgrade instead of hanging.
		if out, err := b.sh(ctx, "DEBIAN_FRONTEND=noninteractive dpkg -i /tmp/hostagent-next.deb </dev/null"); err != nil {
			t.Fatalf("dpkg -i (upgrade): %v\n%s", err, out)
		}
		if got, _ := b.exec(ctx, "dpkg-query", "-W", "-f", "${Version}", "hostagent"); got != strings.TrimSpace(want) {
			t.Errorf("installed version %q after upgrade, want %q", got, strings.TrimSpace(want))
		}
		upstream, _, _ := strings.Cut(strings.TrimSpace(want), "-")
		if out, err := b.exec(ctx, "hostagent", "version"); err != nil || !strings.Contains(out, upstream) {
			t.Errorf("`hostagent version` = %q (err %v), want it to contain %q", out, err, upstream)
		}
		for _, f := range []string{"/etc/hostagent/config.yaml", "/etc/hostagent/hostagent.env"} {
			if out, _ := b.exec(ctx, "tail", "-n1", f); strings.TrimSpace(out) != "# e2e: local edit" {
				t.Errorf("upgrade replaced the edited conffile %s (last line %q)", f, strings.TrimSpace(out))
			}
		}
		if tok, _ := b.exec(ctx, "cat", "/etc/hostagent/token"); tok != tokenBefore {
			t.Errorf("upgrade changed /etc/hostagent/token")
		}
		if stateAfter, _ := b.sh(ctx, "ls -A /var/lib/hostagent"); !containsAll(stateAfter, stateBefore) {
			t.Errorf("state dir lost files in the upgrade: before %q, after %q", stateBefore, stateAfter)
		}
		props, _ := b.show(ctx, "hostagent", "ActiveState", "MainPID")
		if props["ActiveState"] != "active" || props["MainPID"] == pidBefore {
			t.Errorf("after upgrade %v, want the running agent restarted (try-restart) with a new MainPID (was %s)", props, pidBefore)
		}
		if len(ctrsBefore) > 0 {
			assertUntouched(ctx, t, p, ctrsBefore, stackNames)
		}
	})

	f.step("remove stops the agent, purge clears its files", []string{"apt install installs without enabling or starting"}, func(t *testing.T) {
		before, _ := p.project(ctx, project)
		if out, err := b.exec(ctx, "dpkg", "-r", "hostagent"); err != nil {
			t.Fatalf("dpkg -r: %v\n%s", err, out)
		}
		if got, _ := b.exec(ctx, "systemctl", "is-active", "hostagent"); strings.TrimSpace(got) == "active" {
			t.Errorf("hostagent still active after dpkg -r")
		}
		if len(before) > 0 {
			assertUntouched(ctx, t, p, before, stackNames)
		}
		if _, err := b.exec(ctx, "test", "-f", "/etc/hostagent/config.yaml"); err != nil {
			t.Errorf("dpkg -r removed a conffile (only purge should)")
		}
		out, err := b.exec(ctx, "dpkg", "-P", "hostagent")
		if err != nil {
			t.Fatalf("dpkg -P: %v\n%s", err, out)
		}
		if !strings.Contains(out, "left running") || !strings.Contains(out, "podman rm -f") {
			t.Errorf("purge does not say what it leaves running and how to remove it:\n%s", out)
		}
		// The compose file is the operator's, not the package's: it stays.
		if left, _ := b.sh(ctx, "ls -A /etc/hostagent"); strings.TrimSpace(left) != "docker-compose.yml" {
			t.Errorf("after purge /etc/hostagent holds %q, want only the operator's docker-compose.yml", strings.Fields(left))
		}
		if _, err := b.exec(ctx, "test", "-e", "/var/lib/hostagent"); err == nil {
			t.Errorf("/var/lib/hostagent left after purge")
		}
	})
	t.Logf("e2e total %s", time.Since(started).Round(time.Millisecond))
}

func mainPID(ctx context.Context, t *testing.T, b *box) string {
	t.Helper()
	props, err := b.show(ctx, "hostagent", "MainPID")
	if err != nil || props["MainPID"] == "" || props["MainPID"] == "0" {
		t.Fatalf("hostagent has no MainPID (%v, %v)", props, err)
	}
	return props["MainPID"]
}

func allRunning(got map[string]ctr, names []string) error {
	var bad []string
	for _, svc := range names {
		c, ok := got[svc]
		switch {
		case !ok:
			bad = append(bad, svc+": no container")
		case c.State.Status != "running":
			bad = append(bad, svc+": "+c.State.Status)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s", strings.Join(bad, "; "))
	}
	return nil
}

// assertUntouched checks the named containers run still, not recreated or
// restarted since before.
func assertUntouched(ctx context.Context, t *testing.T, p *hostPodman, before map[string]ctr, names []string) {
	t.Helper()
	after, err := p.project(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range names {
		b, a := before[svc], after[svc]
		switch {
		case a.ID != b.ID:
			t.Errorf("%s: container %.12s replaced by %.12s", svc, b.ID, a.ID)
		case a.State.Status != "running":
			t.Errorf("%s: container %.12s is %s, want running", svc, a.ID, a.State.Status)
		case !a.State.StartedAt.Equal(b.State.StartedAt):
			t.Errorf("%s: container %.12s restarted (%s -> %s)", svc, a.ID, b.State.StartedAt, a.State.StartedAt)
		}
	}
}

func containsAll(haystack, needles string) bool {
	have := strings.Fields(haystack)
	for _, n := range strings.Fields(needles) {
		if !slices.Contains(have, n) {
			return false
		}
	}
	return true
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
