package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hostagent/hostagent/supervisor"
)

// fetchDetails reads each named service's detail (an agent without details
// answers with the status alone, which prints with fewer lines).
func fetchDetails(ctx context.Context, c *apiClient, svcs []supervisor.ServiceStatus) ([]supervisor.ServiceDetail, error) {
	out := make([]supervisor.ServiceDetail, 0, len(svcs))
	for _, s := range svcs {
		var d supervisor.ServiceDetail
		if err := c.get(ctx, "/api/system/services/"+url.PathEscape(s.Name), &d); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// printDetails prints the progress line, then each service in detail: what
// the table leaves out, the last checks with their output, the backoff
// left, what it waits for, and its place at the GPU gate.
func printDetails(w io.Writer, ds []supervisor.ServiceDetail, p supervisor.Progress, now time.Time) {
	fmt.Fprintf(w, "hostagent: %s\n", p)
	for _, d := range ds {
		fmt.Fprintln(w)
		printDetail(w, d, now)
	}
}

func printDetail(w io.Writer, d supervisor.ServiceDetail, now time.Time) {
	title := d.Name
	if d.DisplayName != "" && d.DisplayName != d.Name {
		title += " (" + sanitizeLine(d.DisplayName) + ")"
	}
	fmt.Fprintf(w, "%s: %s\n", title, d.Status.Upper())
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "  %s:\t%s\n", k, v) }
	row("phase", fmt.Sprintf("%s (%s, %s)", phaseLabel(d.ServiceStatus), orDash(d.Track), orDash(d.Category)))
	ctr := orDash(d.ContainerID)
	if d.ContainerName != "" {
		ctr += " " + sanitizeLine(d.ContainerName)
	}
	row("container", ctr)
	row("image", orDash(sanitizeLine(d.Image)))
	row("ports", orDash(ports(d.ServiceStatus)))
	if d.UptimeSeconds > 0 {
		row("uptime", uptime(d.UptimeSeconds))
	}
	row("restart", restartLine(d))
	row("counts", fmt.Sprintf("failures %d, restarts %d%s", d.FailureCount, d.RestartCount, lastRestart(d, now)))
	if d.NextRestartAt != nil {
		row("backoff", backoffLine(d, now))
	}
	if d.LastExit != nil {
		e := fmt.Sprintf("code %d, %s", d.LastExit.Code, ago(d.LastExit.At, now))
		if d.LastExit.OOMKilled {
			e += " (OOM killed)"
		}
		row("last exit", e)
	}
	if len(d.WaitingFor) > 0 {
		row("waiting for", sanitizeLine(strings.Join(d.WaitingFor, ", ")))
	}
	if d.HostCondition != "" {
		row("host condition", sanitizeLine(d.HostCondition))
	}
	if d.GPULane != nil {
		lane := d.GPULane.String()
		if d.GPULane.Since != nil {
			lane += ", since " + ago(*d.GPULane.Since, now)
		}
		row("GPU lane", sanitizeLine(lane))
	}
	if d.Detail != "" && d.Detail != d.HostCondition {
		row("detail", sanitizeLine(d.Detail))
	}
	row("health", health(d.ServiceStatus))
	_ = tw.Flush()
	if len(d.Probes) == 0 {
		fmt.Fprintln(w, "  no checks yet")
		return
	}
	fmt.Fprintf(w, "  last %d checks, newest first:\n", len(d.Probes))
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, p := range d.Probes {
		fmt.Fprintf(tw, "    %s\t%s\t%.1fms\t%s\n", p.At.Local().Format("15:04:05.000"), p.Result, p.LatencyMS, sanitizeLine(p.Output))
	}
	_ = tw.Flush()
}

// restartLine is the policy: compose's restart and the agent's backoff.
func restartLine(d supervisor.ServiceDetail) string {
	policy := d.RestartPolicy
	if policy == "" {
		policy = "unset (the agent restarts every failure)"
	}
	s := "policy " + policy
	if d.MaxFailures > 0 {
		s += fmt.Sprintf(", disabled after %d failures", d.MaxFailures)
	}
	if d.BackoffMaxS > 0 {
		s += fmt.Sprintf(", backoff %s to %s", seconds(d.BackoffBaseS), seconds(d.BackoffMaxS))
	}
	if !d.Enabled {
		s += "; auto-restart disabled"
	}
	return s
}

func backoffLine(d supervisor.ServiceDetail, now time.Time) string {
	left := d.NextRestartAt.Sub(now).Round(100 * time.Millisecond)
	if left <= 0 {
		return "restart due"
	}
	return "restart in " + left.String()
}

func lastRestart(d supervisor.ServiceDetail, now time.Time) string {
	if d.LastRestartAt == nil {
		return ""
	}
	return ", last restart " + ago(*d.LastRestartAt, now)
}

// ago is a time as "10:29:40, 20s ago".
func ago(t, now time.Time) string {
	s := t.Local().Format("15:04:05")
	if d := now.Sub(t).Round(time.Second); d > 0 {
		s += ", " + d.String() + " ago"
	}
	return s
}

func seconds(s float64) string {
	return (time.Duration(s * float64(time.Second))).String()
}
