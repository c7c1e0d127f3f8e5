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
		{compose.Infrastructure, Policy{10, 2 * time.Second, 60 * time.Second}},
		{compose.AI, Policy{5, 5 * time.Second, 300 * time.Second}},
		{compose.Monitoring, Policy{5, 10 * time.Second, 120 * time.Second}},
		{compose.Application, Policy{10, 2 * time.Second, 60 * time.Second}},
		{compose.Frontend, Policy{10, 2 * time.Second, 60 * time.Second}},
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
