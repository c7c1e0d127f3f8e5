package compose

import (
	"context"
	"strings"
	"testing"
)

func TestRestartPolicies(t *testing.T) {
	cases := []struct {
		yaml string
		want RestartPolicy
		all  bool // RestartsEveryExit
	}{
		{`{image: x}`, RestartPolicy{}, true},
		{`{image: x, restart: always}`, RestartPolicy{Mode: RestartAlways}, true},
		{`{image: x, restart: unless-stopped}`, RestartPolicy{Mode: RestartUnlessStopped}, true},
		{`{image: x, restart: "no"}`, RestartPolicy{Mode: RestartNo}, false},
		{`{image: x, restart: no}`, RestartPolicy{Mode: RestartNo}, false},
		{`{image: x, restart: on-failure}`, RestartPolicy{Mode: RestartOnFailure}, false},
		{`{image: x, restart: "on-failure:2"}`, RestartPolicy{Mode: RestartOnFailure, MaxRetries: 2}, false},
		{`{image: x, deploy: {restart_policy: {condition: none}}}`, RestartPolicy{Mode: RestartNo}, false},
		{`{image: x, deploy: {restart_policy: {condition: on-failure, max_attempts: 3}}}`, RestartPolicy{Mode: RestartOnFailure, MaxRetries: 3}, false},
		{`{image: x, restart: "no", deploy: {restart_policy: {condition: any}}}`, RestartPolicy{Mode: RestartNo}, false},
	}
	for _, c := range cases {
		st := loadYAML(t, "services:\n  a: "+c.yaml+"\n")
		got := st.Services[0].RestartPolicy
		if got != c.want || got.RestartsEveryExit() != c.all {
			t.Errorf("%s: policy %+v (every exit %v), want %+v (%v)", c.yaml, got, got.RestartsEveryExit(), c.want, c.all)
		}
	}
}

func TestRestartPolicyErrorsNameServiceAndFix(t *testing.T) {
	for _, v := range []string{`"on-failure:x"`, `sometimes`, `"always:3"`} {
		path := writeCompose(t, "proj", "services:\n  job: {image: x, restart: "+v+"}\n")
		_, err := Load(context.Background(), Options{Files: []string{path}, Env: []string{}})
		if err == nil {
			t.Errorf("restart %s: loaded, want an error", v)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, `"job"`) || !strings.Contains(msg, "docker-compose.yml") {
			t.Errorf("restart %s: error %q does not name the service and the file", v, msg)
		}
	}
}
