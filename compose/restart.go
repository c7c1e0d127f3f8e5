package compose

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// RestartMode is a service's compose `restart:` policy as the agent applies
// it on top of its own backoff.
type RestartMode string

const (
	// RestartAgent: `restart:` unset; the agent's policy (every exit and
	// every failed health check is a failure, restarted with backoff until
	// max failures disable the service).
	RestartAgent RestartMode = ""
	// RestartAlways and RestartUnlessStopped behave as RestartAgent.
	RestartAlways        RestartMode = "always"
	RestartUnlessStopped RestartMode = "unless-stopped"
	// RestartOnFailure restarts non-zero exits only, at most MaxRetries
	// times in a row (0: no limit but the agent's max failures).
	RestartOnFailure RestartMode = "on-failure"
	// RestartNo never restarts automatically.
	RestartNo RestartMode = "no"
)

// RestartPolicy is the compose `restart:` value (or deploy.restart_policy
// when `restart:` is unset).
type RestartPolicy struct {
	Mode       RestartMode `json:"mode,omitempty"`
	MaxRetries int         `json:"max_retries,omitempty"`
}

// String is the compose form: "", "no", "always", "on-failure:3".
func (p RestartPolicy) String() string {
	if p.Mode == RestartOnFailure && p.MaxRetries > 0 {
		return fmt.Sprintf("%s:%d", p.Mode, p.MaxRetries)
	}
	return string(p.Mode)
}

// RestartsEveryExit: the agent restarts any exit and any failed health
// check (unset, always, unless-stopped).
func (p RestartPolicy) RestartsEveryExit() bool {
	return p.Mode == RestartAgent || p.Mode == RestartAlways || p.Mode == RestartUnlessStopped
}

// parseRestartPolicy reads `restart:`, else deploy.restart_policy
// (condition none/on-failure/any, max_attempts), as docker compose does.
func parseRestartPolicy(sc types.ServiceConfig) (RestartPolicy, error) {
	v := strings.TrimSpace(sc.Restart)
	if v == "" {
		return deployRestartPolicy(sc)
	}
	mode, n, hasN := strings.Cut(v, ":")
	p := RestartPolicy{Mode: RestartMode(mode)}
	switch p.Mode {
	case RestartNo, RestartAlways, RestartUnlessStopped:
		if hasN {
			return p, fmt.Errorf("service %q: restart %q takes no count; only on-failure[:N] does", sc.Name, v)
		}
	case RestartOnFailure:
		if hasN {
			m, err := strconv.Atoi(n)
			if err != nil || m < 0 {
				return p, fmt.Errorf("service %q: restart %q: the retry count must be a whole number, as in on-failure:3", sc.Name, v)
			}
			p.MaxRetries = m
		}
	default:
		return p, fmt.Errorf("service %q: restart %q is not a policy; use no, always, on-failure[:N] or unless-stopped", sc.Name, v)
	}
	return p, nil
}

func deployRestartPolicy(sc types.ServiceConfig) (RestartPolicy, error) {
	if sc.Deploy == nil || sc.Deploy.RestartPolicy == nil {
		return RestartPolicy{}, nil
	}
	rp := sc.Deploy.RestartPolicy
	p := RestartPolicy{}
	switch rp.Condition {
	case "", "any":
		p.Mode = RestartAlways
	case "none":
		p.Mode = RestartNo
	case "on-failure":
		p.Mode = RestartOnFailure
		if rp.MaxAttempts != nil {
			p.MaxRetries = int(*rp.MaxAttempts)
		}
	default:
		return p, fmt.Errorf("service %q: deploy.restart_policy.condition %q is not one of none, on-failure, any", sc.Name, rp.Condition)
	}
	return p, nil
}
