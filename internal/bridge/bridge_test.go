package bridge

import (
	"context"
	"errors"
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
		{"HTTP refused is a failed check", proberAdapter{p: stubProber{refused}, http: true}, false, false},
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
