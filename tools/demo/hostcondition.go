package main

import (
	"fmt"
	"strings"
	"time"
)

// hostGrace is how long the agent may report a host condition before the
// demo gives up: past the first retry, so a blip does not end it, and
// long before the two-minute wait for the stack.
const hostGrace = 5 * time.Second

// hostWatch decides when a host condition the agent reports (the engine
// cannot start containers: netavark's firewall backend or the OCI runtime
// is missing) ends the demo: nothing will start until the host is fixed,
// so waiting out the bring-up limit would only hide the cause.
type hostWatch struct {
	since time.Time
}

// check takes the condition seen at now ("" none) and returns an error
// naming it once it has lasted hostGrace.
func (w *hostWatch) check(now time.Time, cond string) error {
	if cond == "" {
		w.since = time.Time{}
		return nil
	}
	if w.since.IsZero() {
		w.since = now
	}
	if now.Sub(w.since) < hostGrace {
		return nil
	}
	return fmt.Errorf("no service can run: %s (%s)", cond, hostFix(cond))
}

// hostFix is what to do about a condition, by the words Podman uses.
func hostFix(cond string) string {
	if strings.Contains(cond, "netavark") || strings.Contains(cond, "network backend") {
		return "netavark needs a firewall tool: apt-get install iptables, or make deps-runtime"
	}
	return "check the OCI runtime and conmon: podman info, make deps-runtime"
}
