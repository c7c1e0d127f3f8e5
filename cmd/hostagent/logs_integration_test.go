//go:build integration

package main

import (
	"bufio"
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hostagent/hostagent/internal/testsupport/podmantest"
)

const logsStack = `
services:
  talker:
    image: ` + podmantest.BusyboxImage + `
    command: ["sh", "-c", "echo hello-from-talker; echo oops >&2; i=0; while :; do i=$$((i+1)); echo tick $$i; sleep 0.2; done"]
  quiet:
    image: ` + podmantest.BusyboxImage + `
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
`

// logs reads from the engine: prefixed like compose, follows, and works
// with the agent stopped.
func TestLogsFollowAndWithoutAgent(t *testing.T) {
	a := newLiveAgent(t, logsStack)
	a.start()
	a.waitFor("talker and quiet running", 90*time.Second, func(m map[string]cliService) bool {
		return m["talker"].Status == "running" && m["quiet"].Status == "running"
	})

	code, out := a.cli("logs", "--tail", "all", "talker")
	if code != 0 || !strings.Contains(out, "talker | hello-from-talker") || !strings.Contains(out, "talker | oops") {
		t.Fatalf("logs talker: exit %d, want prefixed stdout and stderr lines:\n%s", code, out)
	}
	if code, out := a.cli("logs", "nosuch"); code == 0 || !strings.Contains(out, `no service "nosuch"`) || !strings.Contains(out, "talker") {
		t.Errorf("logs nosuch: exit %d, want an error naming the service and listing the known ones:\n%s", code, out)
	}

	// -f: new lines keep arriving after the command started.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, a.bin, "logs", "-f", "--tail", "1", "talker", "quiet")
	cmd.Env = a.env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var ticks int
	for ticks < 5 && sc.Scan() {
		if strings.HasPrefix(sc.Text(), "talker | tick ") {
			ticks++
		}
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	_ = cmd.Wait()
	if ticks < 5 {
		t.Errorf("logs -f gave %d tick lines, want it to keep following", ticks)
	}

	a.stop(syscall.SIGTERM)
	code, out = a.cli("logs", "--tail", "3", "talker")
	if code != 0 || strings.Count(out, "talker | tick") < 2 {
		t.Errorf("logs with the agent stopped: exit %d:\n%s", code, out)
	}
}
