package engine

import (
	"context"
	"errors"
	"testing"
)

func TestClassifyEngineSetup(t *testing.T) {
	for _, tc := range []struct {
		msg   string
		setup bool
	}{
		// Podman 4.3 on a Debian 12 without iptables, word for word.
		{"netavark: No such file or directory (os error 2)", true},
		{`crun: executable file not found in $PATH: OCI runtime attempted to invoke a command that was not found`, false},
		{"no valid executable found for OCI runtime runc: invalid argument", true},
		{`runc: exec: "/app/server": stat /app/server: no such file or directory: OCI runtime attempted to invoke a command that was not found`, false},
	} {
		err := classify(context.Background(), "start x", errors.New(tc.msg))
		if got := errors.Is(err, ErrEngineSetup); got != tc.setup {
			t.Errorf("%q: engine setup %v, want %v", tc.msg, got, tc.setup)
		}
		if tc.setup && !IsCondition(err) {
			t.Errorf("%q: not a condition", tc.msg)
		}
	}
}
