package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// verdict is the end of a run: the final checks, the table and the totals.
func (c *chaos) verdict(ctx context.Context) string {
	c.say("injection over: waiting (at most %s) for the stack to converge", 2*convergeLimit)
	res := c.converge(ctx, 2*convergeLimit, "")
	if !res.ok {
		c.violate("final: stack not converged within %s: %s", 2*convergeLimit, res.why)
	}
	c.waitUnambiguous(ctx, time.Minute)
	now := time.Now()
	ss, err := services(ctx)
	if err != nil {
		c.violate("final: agent API: %v", err)
	}
	by, err := c.containers(ctx)
	if err != nil {
		c.violate("final: podman ps: %v", err)
	}
	stateWhy, files, reds := c.stateDiff(ctx)

	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tKILLS\tUNHEALTHY\tAGENT-DOWN KILLS\tOUTAGE KILLS\tRESTARTS exp/act\tFAILURES exp/act\tSTATUS\tCTRS\tFILE/REDIS\tVERDICT")
	for _, sp := range specs {
		s, seen := ss[sp.name]
		var probs []string
		kills, unh, down, outk, expR, expF := "-", "-", "-", "-", crashMaxFailures, crashMaxFailures+1
		wantStatus := "disabled"
		if e, ok := c.exp[sp.name]; ok {
			kills, unh, down, outk = fmt.Sprint(e.kills), fmt.Sprint(e.unhealthy), fmt.Sprint(e.downKills), fmt.Sprint(e.outageKills)
			if !e.settle(now) {
				probs = append(probs, "failure count ambiguous (stable-window edge)")
			}
			expR, expF, wantStatus = e.restarts, e.failures, "running"
		}
		switch {
		case !seen:
			probs = append(probs, "not in the agent's service list")
		default:
			if s.Status != wantStatus {
				probs = append(probs, fmt.Sprintf("status %s, want %s", s.Status, wantStatus))
			}
			if s.RestartCount != expR {
				probs = append(probs, fmt.Sprintf("restart_count %d, want %d", s.RestartCount, expR))
			}
			if s.FailureCount != expF {
				probs = append(probs, fmt.Sprintf("failure_count %d, want %d", s.FailureCount, expF))
			}
			if sp.crashLoop && s.Enabled {
				probs = append(probs, "still enabled")
			}
		}
		n := len(by[sp.name])
		if n != 1 {
			probs = append(probs, fmt.Sprintf("%d containers, want 1", n))
		} else if seen && s.ContainerID != "" && !strings.HasPrefix(by[sp.name][0].ID, s.ContainerID) {
			probs = append(probs, fmt.Sprintf("agent tracks container %s, podman has %.12s", s.ContainerID, by[sp.name][0].ID))
		}
		f, inFile := files[sp.name]
		r, inRedis := reds[sp.name]
		st := "ok"
		switch {
		case !inFile && !inRedis:
			st = "MISSING/MISSING"
		case !inFile:
			st = "MISSING/ok"
		case !inRedis:
			st = "ok/MISSING"
		case f != r:
			st = "DIFFER"
		}
		if st != "ok" {
			probs = append(probs, "state records: "+st)
		} else if seen && (f.RestartCount != s.RestartCount || f.FailureCount != s.FailureCount || f.Enabled != s.Enabled) {
			st = "STALE"
			probs = append(probs, fmt.Sprintf("stored %s, agent shows failures=%d restarts=%d", f, s.FailureCount, s.RestartCount))
		}
		v := "ok"
		if len(probs) > 0 {
			v = "FAIL"
			for _, p := range probs {
				c.violate("final: %s: %s", sp.name, p)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d/%d\t%d/%d\t%s\t%d\t%s\t%s\n", sp.name, kills, unh, down, outk,
			expR, s.RestartCount, expF, s.FailureCount, s.Status, n, st, v)
	}
	_ = tw.Flush()
	if stateWhy != "" && files == nil {
		c.violate("final: state: %s", stateWhy)
	}
	c.scanAgentLog()

	var out strings.Builder
	fmt.Fprintf(&out, "hostagent chaos: seed %d, injection %s, %d agent starts, faults %s\n\n", c.seed, c.duration, c.agent.starts, c.kindList())
	out.WriteString(table.String())
	out.WriteString("\n")
	out.WriteString(c.totals())
	out.WriteString("\nMatching rule: restart_count == kills + unhealthy-forcings made while the agent ran + kills while the\n" +
		"Podman API was down (OUTAGE KILLS: restarted once it is back); failure_count ==\n" +
		"the same faults since the service was last healthy for the 5 min stable window (0 after it). A kill\n" +
		"while the agent is down (AGENT-DOWN KILLS) is counted by neither: the agent finds the exited container\n" +
		"and starts it as bring-up. Agent, API and Redis restarts and engine outages count for nobody.\n" +
		fmt.Sprintf("After an engine outage every service runs again within %s of the API's return. The crash-looper must end\n", outageRecoveryLimit) +
		fmt.Sprintf("disabled with restart_count %d and failure_count %d (max_failures %d).\n", crashMaxFailures, crashMaxFailures+1, crashMaxFailures) +
		fmt.Sprintf("Compose lifecycle: the one-shot job %s (backend waits for it to complete) must have run exactly once\n"+
			"through every fault and read \"completed (exit 0)\"; %s (restart: \"no\"), killed at the end, must stay down.\n", jobName, noRestart))
	if len(c.violations) == 0 {
		out.WriteString("\nVERDICT: PASS\n")
	} else {
		fmt.Fprintf(&out, "\nVERDICT: FAIL (%d violations)\n", len(c.violations))
		for _, v := range c.violations {
			fmt.Fprintf(&out, "  - %s\n", v)
		}
	}
	return out.String()
}

// waitUnambiguous keeps polling while some failure count sits on the
// stable-window edge, so the final comparison is exact.
func (c *chaos) waitUnambiguous(ctx context.Context, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		now, unsure := time.Now(), false
		for _, e := range c.exp {
			if !e.settle(now) {
				unsure = true
			}
		}
		if !unsure {
			return
		}
		if ss, err := services(ctx); err == nil {
			c.observe(ss, time.Now())
		}
		time.Sleep(pollEvery)
	}
}

func (c *chaos) kindList() string {
	var on []string
	for k := range numKinds {
		if c.kinds[k] {
			on = append(on, k.String())
		}
	}
	return strings.Join(on, ",")
}

type stat struct {
	n         int
	sum, peak time.Duration
}

func (s *stat) add(d time.Duration) {
	s.n++
	s.sum += d
	s.peak = max(s.peak, d)
}

func (s stat) String() string {
	if s.n == 0 {
		return "-"
	}
	return fmt.Sprintf("mean %s, max %s", round(s.sum/time.Duration(s.n)), round(s.peak))
}

func (c *chaos) totals() string {
	var b strings.Builder
	byKind := map[string]*stat{}
	restarted := map[string]*stat{}
	var all stat
	counts, failed := map[string]int{}, map[string]int{}
	down, unrecovered := 0, 0
	for _, f := range c.faults {
		counts[f.Kind]++
		if f.DownKill != "" {
			down++
		}
		if byKind[f.Kind] == nil {
			byKind[f.Kind], restarted[f.Kind] = &stat{}, &stat{}
		}
		if !f.Recovered {
			unrecovered++
			failed[f.Kind]++
			continue
		}
		byKind[f.Kind].add(f.Recovery)
		all.add(f.Recovery)
		if f.Restarted > 0 {
			restarted[f.Kind].add(f.Restarted)
		}
	}
	fmt.Fprintf(&b, "Faults: %d —", len(c.faults))
	for k := range numKinds {
		fmt.Fprintf(&b, " %s %d", k, counts[k.String()])
	}
	fmt.Fprintf(&b, "; %d kills while the agent was down; %d not recovered\n", down, unrecovered)
	b.WriteString("Recovery (end of the fault to a converged stack), per fault:\n")
	for k := range numKinds {
		if s := byKind[k.String()]; s != nil {
			fmt.Fprintf(&b, "  %-14s %s", k, s)
			if r := restarted[k.String()]; r.n > 0 {
				fmt.Fprintf(&b, "   (target restarted: %s)", r)
			}
			if n := failed[k.String()]; n > 0 {
				fmt.Fprintf(&b, "   %d of %d NOT recovered", n, counts[k.String()])
			}
			b.WriteString("\n")
		}
	}
	fmt.Fprintf(&b, "  %-14s %s\n", "all", all)
	return b.String()
}

// scanAgentLog reports panics and fatal errors in the agent's log.
func (c *chaos) scanAgentLog() {
	data, err := os.ReadFile(c.agent.log)
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "panic:") || strings.HasPrefix(line, "fatal error:") || strings.Contains(line, "DATA RACE") {
			c.violate("agent log: %s", line)
		}
	}
}

// writeOut saves the summary and the ledger under the output directory.
func (c *chaos) writeOut(summary string) {
	if err := os.WriteFile(filepath.Join(c.out, "summary.txt"), []byte(summary), 0o644); err != nil {
		c.say("writing the summary: %v", err)
	}
	ledger := map[string]any{"seed": c.seed, "duration": c.duration.String(), "faults": c.faults, "violations": c.violations}
	data, _ := json.MarshalIndent(ledger, "", "  ")
	_ = os.WriteFile(filepath.Join(c.out, "ledger.json"), data, 0o644)
}
