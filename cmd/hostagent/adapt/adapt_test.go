package adapt

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/engine"
	"github.com/hostagent/hostagent/probes"
)

type stubProber struct{ r probes.Result }

func (s stubProber) Probe(context.Context, engine.ContainerID) probes.Result { return s.r }

func TestProbeOutcomesMapOntoHealth(t *testing.T) {
	refused := probes.Result{Outcome: probes.Error, Method: compose.HealthHTTP, Err: errors.New("connection refused")}
	execFailed := probes.Result{Outcome: probes.Error, Method: compose.HealthCommand, Err: errors.New("exec create: engine unreachable")}
	cases := []struct {
		name        string
		adapter     proberAdapter
		healthy     bool
		couldNotRun bool
	}{
		{"success", proberAdapter{p: stubProber{probes.Result{Outcome: probes.Success}}}, true, false},
		{"failure", proberAdapter{p: stubProber{probes.Result{Outcome: probes.Failure, Detail: "HTTP 503"}}}, false, false},
		{"HTTP refused is a failed check", proberAdapter{p: stubProber{refused}}, false, false},
		{"engine error is not a verdict", proberAdapter{p: stubProber{execFailed}}, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.adapter.Probe(context.Background(), "abc")
			if r.Healthy != tc.healthy || (r.Err != nil) != tc.couldNotRun {
				t.Errorf("result = %+v, want healthy=%v could-not-run=%v", r, tc.healthy, tc.couldNotRun)
			}
		})
	}
}

func TestConditionNamedFromItsOwnWords(t *testing.T) {
	cases := []struct {
		err  error
		want string
		ok   bool
	}{
		{fmt.Errorf("creating web: %w: ghcr.io/x/y:1: manifest unknown", engine.ErrImageUnavailable), "image unavailable: ghcr.io/x/y:1: manifest unknown", true},
		{fmt.Errorf("starting web: start container: %w: dial unix: connection refused", engine.ErrUnavailable), "engine unavailable: dial unix: connection refused", true},
		{fmt.Errorf("create ai: %w: run nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml", engine.ErrGPUUnavailable), "GPU unavailable: run nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml", true},
		{errors.New("container exited right after start (exit code 1)"), "", false},
		{nil, "", false},
	}
	for _, tc := range cases {
		got, ok := Engine{}.Condition(tc.err)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Condition(%v) = %q, %v; want %q, %v", tc.err, got, ok, tc.want, tc.ok)
		}
	}
}

// Only the engine's inability to start any container is engine-wide; a
// missing image or GPU is the service's, an unreachable engine transient.
func TestEngineWideIsEngineSetupOnly(t *testing.T) {
	setup := fmt.Errorf("starting web: start: %w: Error response from daemon: netavark: No such file or directory (os error 2)", engine.ErrEngineSetup)
	if !(Engine{}).EngineWide(setup) {
		t.Errorf("EngineWide(%v) = false, want true", setup)
	}
	if why, ok := (Engine{}).Condition(setup); !ok || why != "engine cannot start containers: netavark: No such file or directory (os error 2)" {
		t.Errorf("Condition(%v) = %q, %v", setup, why, ok)
	}
	for _, err := range []error{
		fmt.Errorf("creating web: %w: x: manifest unknown", engine.ErrImageUnavailable),
		fmt.Errorf("starting web: %w: dial unix: connection refused", engine.ErrUnavailable),
		fmt.Errorf("create ai: %w: no CDI spec", engine.ErrGPUUnavailable),
		errors.New("container exited right after start (exit code 1)"),
		nil,
	} {
		if (Engine{}).EngineWide(err) {
			t.Errorf("EngineWide(%v) = true, want false", err)
		}
	}
}
