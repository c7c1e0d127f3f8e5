package supervisor

import (
	"testing"
	"time"

	"github.com/hostagent/hostagent/compose"
)

func TestBackoffTableThenDisabled(t *testing.T) {
	p := Policy{MaxFailures: 7, Base: 5 * time.Second, Max: 300 * time.Second}
	want := []time.Duration{5, 10, 20, 40, 80, 160, 300}
	for i, w := range want {
		d := p.Decide(i + 1)
		if d.Action != ActionRestart || d.Delay != w*time.Second {
			t.Errorf("failure %d: %v after %s, want restart after %ds", i+1, d.Action, d.Delay, w)
		}
	}
	if d := p.Decide(8); d.Action != ActionDisable {
		t.Errorf("failure 8: %v, want disable", d.Action)
	}
	if d := p.Delay(40); d != 300*time.Second {
		t.Errorf("delay(40) = %s, want the 300s cap without overflow", d)
	}
}

func TestCategoryDefaults(t *testing.T) {
	cases := []struct {
		cat  compose.Category
		want Policy
	}{
		{compose.Infrastructure, Policy{MaxFailures: 10, Base: 2 * time.Second, Max: 60 * time.Second}},
		{compose.AI, Policy{MaxFailures: 5, Base: 5 * time.Second, Max: 300 * time.Second}},
		{compose.Monitoring, Policy{MaxFailures: 5, Base: 10 * time.Second, Max: 120 * time.Second}},
		{compose.Application, Policy{MaxFailures: 10, Base: 2 * time.Second, Max: 60 * time.Second}},
		{compose.Frontend, Policy{MaxFailures: 10, Base: 2 * time.Second, Max: 60 * time.Second}},
	}
	for _, tc := range cases {
		if got := DefaultPolicy(tc.cat); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.cat, got, tc.want)
		}
	}
	ai := DefaultPolicy(compose.AI)
	if ai.Decide(5).Action != ActionRestart || ai.Decide(6).Action != ActionDisable {
		t.Error("ai: 5 failures are restarted, the 6th disables")
	}
}

func TestPolicyOverrides(t *testing.T) {
	s := &compose.Service{Category: compose.AI, Restart: compose.RestartOverride{MaxFailures: 2, BackoffBase: time.Millisecond}}
	p := PolicyFor(s)
	if p.MaxFailures != 2 || p.Base != time.Millisecond || p.Max != 300*time.Second {
		t.Errorf("policy = %+v", p)
	}
}

func TestComposeRestartPolicyDecisions(t *testing.T) {
	agent := Policy{MaxFailures: 3, Base: 5 * time.Second, Max: 300 * time.Second}
	with := func(mode compose.RestartMode, n int) Policy {
		p := agent
		p.Restart = compose.RestartPolicy{Mode: mode, MaxRetries: n}
		return p
	}
	cases := []struct {
		name      string
		p         Policy
		failures  int
		unhealthy bool
		want      Action
		delay     time.Duration
	}{
		{"unset: exit restarted with backoff", agent, 2, false, ActionRestart, 10 * time.Second},
		{"unset: unhealthy restarted", agent, 1, true, ActionRestart, 5 * time.Second},
		{"unset: past max failures", agent, 4, false, ActionDisable, 0},
		{"always: as unset", with(compose.RestartAlways, 0), 1, false, ActionRestart, 5 * time.Second},
		{"unless-stopped: as unset", with(compose.RestartUnlessStopped, 0), 4, true, ActionDisable, 0},
		{"no: crash held", with(compose.RestartNo, 0), 1, false, ActionHold, 0},
		{"no: unhealthy held", with(compose.RestartNo, 0), 1, true, ActionHold, 0},
		{"on-failure:2: first failure restarted", with(compose.RestartOnFailure, 2), 1, false, ActionRestart, 5 * time.Second},
		{"on-failure:2: second failure restarted", with(compose.RestartOnFailure, 2), 2, false, ActionRestart, 10 * time.Second},
		{"on-failure:2: third failure held", with(compose.RestartOnFailure, 2), 3, false, ActionHold, 0},
		{"on-failure:2: unhealthy held", with(compose.RestartOnFailure, 2), 1, true, ActionHold, 0},
		{"on-failure: agent max failures still disable", with(compose.RestartOnFailure, 0), 4, false, ActionDisable, 0},
		{"on-failure:9: agent max failures first", with(compose.RestartOnFailure, 9), 4, false, ActionDisable, 0},
	}
	for _, c := range cases {
		d := c.p.DecideFailure(c.failures, c.unhealthy)
		if d.Action != c.want || d.Delay != c.delay {
			t.Errorf("%s: %v after %s, want %v after %s", c.name, d.Action, d.Delay, c.want, c.delay)
		}
		if d.Action == ActionHold && d.Reason == "" {
			t.Errorf("%s: held without a reason", c.name)
		}
	}
}

func TestCompletesOnlyCleanExitsOfNoAndOnFailure(t *testing.T) {
	cases := []struct {
		mode compose.RestartMode
		code int
		want bool
	}{
		{compose.RestartAgent, 0, false},
		{compose.RestartAlways, 0, false},
		{compose.RestartUnlessStopped, 0, false},
		{compose.RestartNo, 0, true},
		{compose.RestartNo, 1, false},
		{compose.RestartOnFailure, 0, true},
		{compose.RestartOnFailure, 137, false},
	}
	for _, c := range cases {
		p := Policy{Restart: compose.RestartPolicy{Mode: c.mode}}
		if got := p.Completes(c.code); got != c.want {
			t.Errorf("restart %q, exit %d: completes = %v, want %v", c.mode, c.code, got, c.want)
		}
	}
}

func TestAwaitedJobWithoutRestartIsOneShot(t *testing.T) {
	st, plan := loadStack(t, `
services:
  migrate: {image: x}
  worker: {image: x, restart: always}
  app:
    image: x
    depends_on: {migrate: {condition: service_completed_successfully}, worker: {condition: service_completed_successfully}}
`)
	_ = st
	for name, want := range map[string]compose.RestartMode{"migrate": compose.RestartNo, "worker": compose.RestartAlways, "app": compose.RestartAgent} {
		ps, _ := plan.Lookup(name)
		if got := policyFor(plan, ps).Restart.Mode; got != want {
			t.Errorf("%s: restart %q, want %q", name, got, want)
		}
	}
}
