package supervisor

import (
	"encoding/json"
	"time"
)

// metricsHook forwards to an optional Metrics.
type metricsHook struct{ m Metrics }

func (h metricsHook) probe(service string, r ProbeResult) {
	if h.m != nil {
		h.m.Probe(service, r)
	}
}

func (h metricsHook) failure(service string) {
	if h.m != nil {
		h.m.Failure(service)
	}
}

// detected reports how long after the engine's event time the failure was
// acted upon.
func (h metricsHook) detected(service string, at, now time.Time) {
	if h.m != nil && !at.IsZero() {
		h.m.Detected(service, now.Sub(at))
	}
}

func marshalEvent(ev Event) ([]byte, error) { return json.Marshal(ev) }
