package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hostagent/hostagent/supervisor"
)

// Detail makes the CLI's fake supervisor answer GET /api/system/services/{name}
// with a detail: ai-llm in backoff, queued at the GPU gate, its checks failing.
func (f *cliSup) Detail(name string) (supervisor.ServiceDetail, bool) {
	st, ok := f.Service(name)
	if !ok {
		return supervisor.ServiceDetail{}, false
	}
	d := supervisor.ServiceDetail{ServiceStatus: st, Probes: []supervisor.ProbeRecord{}, RestartPolicy: "on-failure:3",
		MaxFailures: 5, BackoffBaseS: 5, BackoffMaxS: 300}
	if name == "ai-llm" {
		since := cliT0.Add(-12 * time.Second)
		d.ContainerName = "test-ai-llm-1"
		d.LastExit = &supervisor.ExitRecord{Code: 137, At: cliT0.Add(-30 * time.Second), OOMKilled: true}
		d.GPULane = &supervisor.GPULane{Devices: []string{"0"}, State: supervisor.LaneQueued, Op: "restart",
			Reason: "waiting for ai-yolo26 to settle", Since: &since}
		for i := range 5 {
			d.Probes = append(d.Probes, supervisor.ProbeRecord{At: cliT0.Add(-time.Duration(i) * time.Second),
				Result: supervisor.ProbeFailing, Output: "HTTP 503: model *** loading\x1b[31m", LatencyMS: 3.25})
		}
	}
	return d, true
}

func TestStatusOneServiceInDetail(t *testing.T) {
	pinNow(t)
	a := startAgent(t)
	code, out, errOut := runCLI(t, a.env, "status", "ai-llm")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		`^hostagent: phase 2/3: 1/4 running, waiting for ai-llm$`,
		`^ai-llm \(Nemotron\): UNHEALTHY$`,
		`^  restart:\s+policy on-failure:3, disabled after 5 failures, backoff 5s to 5m0s$`,
		`^  counts:\s+failures 2, restarts 4$`,
		`^  backoff:\s+restart in 20s$`,
		`^  last exit:\s+code 137, \d\d:\d\d:\d\d, 30s ago \(OOM killed\)$`,
		`^  GPU lane:\s+queued on GPU 0 \(restart\): waiting for ai-yolo26 to settle, since \d\d:\d\d:\d\d, 12s ago$`,
		`^  last 5 checks, newest first:$`,
		`^    \d\d:\d\d:\d\d\.000\s+failing\s+3\.2ms\s+HTTP 503: model \*\*\* loading\\x1b\[31m$`,
	} {
		if !regexp.MustCompile(`(?m)` + want).MatchString(out) {
			t.Errorf("no line matching %s in:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "failing"); n != 5 {
		t.Errorf("%d checks printed, want 5:\n%s", n, out)
	}

	// Two names stay a table; --detail shows both in detail.
	if _, out, _ := runCLI(t, a.env, "status", "backend", "postgres"); strings.Contains(out, "last exit") || !strings.Contains(out, "SERVICE") {
		t.Errorf("status with two names is not the table:\n%s", out)
	}
	code, out, _ = runCLI(t, a.env, "status", "--detail", "backend", "postgres")
	if code != 0 || strings.Count(out, "  restart:") != 2 || !strings.Contains(out, "no checks yet") {
		t.Errorf("status --detail: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, a.env, "status", "--detail", "--json", "ai-llm")
	var ds []supervisor.ServiceDetail
	if err := json.Unmarshal([]byte(out), &ds); code != 0 || err != nil || len(ds) != 1 || len(ds[0].Probes) != 5 || ds[0].GPULane == nil {
		t.Errorf("status --detail --json: exit %d, %v\n%s", code, err, out)
	}
	if code, _, errOut := runCLI(t, a.env, "status", "nope"); code != 3 || !strings.Contains(errOut, `unknown service "nope"`) {
		t.Errorf("status nope: exit %d, %s", code, errOut)
	}
}
