package main

import (
	"strings"
	"testing"
	"time"
)

func TestHostConditionEndsTheDemoAfterItsGrace(t *testing.T) {
	const why = "engine cannot start containers: netavark: No such file or directory (os error 2)"
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var w hostWatch
	if err := w.check(t0, ""); err != nil {
		t.Fatalf("no condition: %v", err)
	}
	if err := w.check(t0.Add(time.Second), why); err != nil {
		t.Fatalf("condition just seen: %v, want a grace", err)
	}
	// Cleared within the grace: the clock starts again.
	if err := w.check(t0.Add(2*time.Second), ""); err != nil {
		t.Fatal(err)
	}
	if err := w.check(t0.Add(6*time.Second), why); err != nil {
		t.Fatalf("seen again: %v, want a fresh grace", err)
	}
	err := w.check(t0.Add(6*time.Second+hostGrace), why)
	if err == nil || !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), "iptables") {
		t.Fatalf("after the grace: %v; want the condition and the fix", err)
	}
	err = w.check(t0.Add(time.Hour), "engine cannot start containers: no valid executable found for OCI runtime runc: invalid argument")
	if err == nil || strings.Contains(err.Error(), "iptables") || !strings.Contains(err.Error(), "OCI runtime") {
		t.Errorf("runtime missing: %v; want the runtime named, not iptables", err)
	}
	if hostGrace > 20*time.Second {
		t.Errorf("grace %s: the demo must fail within about 20 s", hostGrace)
	}
}
