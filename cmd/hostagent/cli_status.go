package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/coder/websocket"

	"github.com/hostagent/hostagent/api"
	"github.com/hostagent/hostagent/supervisor"
)

func init() {
	commands["status"] = command{"show every service of the running agent (--watch follows changes)", cmdStatus}
}

// cliNow is the display clock of the CLI (relative times); tests pin it.
var cliNow = time.Now

// reconnectDelay is how long --watch waits before reconnecting.
var reconnectDelay = 2 * time.Second

func cmdStatus(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("status [NAME...]", "Show the services of the running agent: status, phase, restarts, failures,\nuptime and what each one waits for; one NAME (or --detail) shows the service\nin detail. Exit status 0 when the agent answers, 1 when it cannot be reached,\n3 for an unknown NAME, 4 when unauthorized.", env)
	var cf clientFlags
	cf.register(fs)
	jsonOut := fs.Bool("json", false, "print the API's JSON (with --watch: one message per line)")
	wide := fs.Bool("wide", false, "add CONTAINER, IMAGE, PORTS and HEALTH columns, like compose ps")
	watch := fs.Bool("watch", false, "follow the agent's event stream and print every change until interrupted")
	detailed := fs.Bool("detail", false, "show each service in detail: the last checks with their output, backoff, GPU lane (the default for one NAME)")
	names, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	c, err := newAPIClient(env, cf)
	if err != nil {
		return err
	}
	if *watch {
		return watchStatus(ctx, env, c, names, *jsonOut)
	}
	var raw json.RawMessage
	if err := c.get(ctx, "/api/system/services", &raw); err != nil {
		return err
	}
	var body api.ServicesBody
	if err := json.Unmarshal(raw, &body); err != nil {
		return fmt.Errorf("the agent's service list: %w", err)
	}
	svcs, err := pick(body.Services, names)
	if err != nil {
		return err
	}
	if *detailed || (len(names) == 1 && !*wide && !*jsonOut) {
		ds, err := fetchDetails(ctx, c, svcs)
		if err != nil {
			return err
		}
		if *jsonOut {
			return printJSON(env.stdout, ds)
		}
		printDetails(env.stdout, ds, body.Progress, cliNow())
		return nil
	}
	if *jsonOut {
		if len(names) > 0 {
			return printJSON(env.stdout, svcs)
		}
		return printJSON(env.stdout, raw)
	}
	if *wide {
		printWide(env.stdout, svcs, body.Progress, cliNow())
		return nil
	}
	printStatus(env.stdout, svcs, body.Progress, cliNow())
	return nil
}

// printWide is printStatus with compose ps's columns added.
func printWide(w io.Writer, svcs []supervisor.ServiceStatus, p supervisor.Progress, now time.Time) {
	fmt.Fprintf(w, "hostagent: %s\n", p)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tSTATUS\tPHASE\tCONTAINER\tIMAGE\tPORTS\tHEALTH\tRESTARTS\tFAILURES\tUPTIME\tDETAIL")
	for _, s := range svcs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", s.Name, s.Status.Upper(), phaseLabel(s),
			orDash(s.ContainerID), orDash(sanitizeLine(s.Image)), orDash(ports(s)), health(s), s.RestartCount,
			s.FailureCount, uptime(s.UptimeSeconds), sanitizeLine(detail(s, now)))
	}
	_ = tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ports renders published ports as compose ps does: 127.0.0.1:8090->8090/tcp.
func ports(s supervisor.ServiceStatus) string {
	var out []string
	for _, p := range s.Ports {
		if p.HostPort == 0 {
			continue
		}
		host := p.HostIP
		if host == "" {
			host = "0.0.0.0"
		}
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		out = append(out, fmt.Sprintf("%s:%d->%d/%s", host, p.HostPort, p.ContainerPort, proto))
	}
	return strings.Join(out, ", ")
}

// health is the method and the last check's verdict and latency.
func health(s supervisor.ServiceStatus) string {
	if s.LastCheckAt == nil {
		return orDash(s.HealthMethod)
	}
	verdict := "failing"
	if s.LastCheckOK {
		verdict = "ok"
	}
	return fmt.Sprintf("%s %s %.0fms", s.HealthMethod, verdict, s.LastCheckMS)
}

// pick keeps the named services, in the order given; none named: all.
func pick(svcs []supervisor.ServiceStatus, names []string) ([]supervisor.ServiceStatus, error) {
	if len(names) == 0 {
		return svcs, nil
	}
	out := make([]supervisor.ServiceStatus, 0, len(names))
	for _, n := range names {
		i := slices.IndexFunc(svcs, func(s supervisor.ServiceStatus) bool { return s.Name == n })
		if i < 0 {
			return nil, &exitError{code: exitUnknownService, err: fmt.Errorf("unknown service %q", n)}
		}
		out = append(out, svcs[i])
	}
	return out, nil
}

// printJSON prints v indented (a json.RawMessage is re-indented).
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintln(w, string(b))
	return nil
}

// printStatus prints the progress line and the table.
func printStatus(w io.Writer, svcs []supervisor.ServiceStatus, p supervisor.Progress, now time.Time) {
	fmt.Fprintf(w, "hostagent: %s\n", p)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tSTATUS\tPHASE\tRESTARTS\tFAILURES\tUPTIME\tDETAIL")
	for _, s := range svcs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", s.Name, s.Status.Upper(), phaseLabel(s), s.RestartCount,
			s.FailureCount, uptime(s.UptimeSeconds), sanitizeLine(detail(s, now)))
	}
	_ = tw.Flush()
}

// phaseLabel is the core phase number, or m<N> on the monitoring track.
func phaseLabel(s supervisor.ServiceStatus) string {
	if s.Track == "monitoring" {
		return fmt.Sprintf("m%d", s.Phase)
	}
	return fmt.Sprint(s.Phase)
}

func uptime(sec int64) string {
	if sec <= 0 {
		return "-"
	}
	d := time.Duration(sec) * time.Second
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", sec)
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", sec/60, sec%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", sec/3600, sec%3600/60)
	}
	return fmt.Sprintf("%dd%02dh", sec/86400, sec%86400/3600)
}

// detail says what a service is doing beyond its status word.
func detail(s supervisor.ServiceStatus, now time.Time) string {
	var parts []string
	if s.Detail != "" {
		parts = append(parts, s.Detail)
	}
	if len(s.WaitingFor) > 0 {
		parts = append(parts, "waiting for "+strings.Join(s.WaitingFor, ", "))
	}
	if s.NextRestartAt != nil {
		if d := s.NextRestartAt.Sub(now).Round(time.Second); d > 0 {
			parts = append(parts, "restart in "+d.String())
		} else {
			parts = append(parts, "restart due")
		}
	}
	if !s.Enabled && s.Detail == "" {
		parts = append(parts, "auto-restart disabled")
	}
	return strings.Join(parts, "; ")
}

// watchStatus prints the snapshot as a table, then one line per event; it
// reconnects (with a fresh snapshot) when the stream breaks, until ctx ends.
func watchStatus(ctx context.Context, env *environment, c *apiClient, names []string, jsonOut bool) error {
	first := true
	for {
		conn, err := c.dialEvents(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && first:
			return err
		case err == nil:
			err = followEvents(ctx, env, conn, names, jsonOut)
			_ = conn.CloseNow()
			if ctx.Err() != nil {
				return nil
			}
			var ee *exitError
			if errors.As(err, &ee) {
				return err
			}
		}
		first = false
		fmt.Fprintf(env.stderr, "hostagent status: event stream lost (%v); reconnecting in %s\n", err, reconnectDelay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(reconnectDelay):
		}
	}
}

func followEvents(ctx context.Context, env *environment, conn *websocket.Conn, names []string, jsonOut bool) error {
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			return err
		}
		var head struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(data, &head); err != nil {
			return fmt.Errorf("event stream: %w", err)
		}
		switch head.Type {
		case api.SnapshotType:
			var snap api.Snapshot
			if err := json.Unmarshal(data, &snap); err != nil {
				return fmt.Errorf("snapshot: %w", err)
			}
			svcs, err := pick(snap.Data.Services, names)
			if err != nil {
				return err
			}
			if jsonOut {
				fmt.Fprintln(env.stdout, string(data))
				continue
			}
			printStatus(env.stdout, svcs, snap.Data.Progress, cliNow())
			fmt.Fprintln(env.stdout)
		case supervisor.EventTypeServiceStatus:
			var ev supervisor.Event
			if err := json.Unmarshal(data, &ev); err != nil {
				return fmt.Errorf("event: %w", err)
			}
			if len(names) > 0 && !slices.Contains(names, ev.Data.Name) {
				continue
			}
			if jsonOut {
				fmt.Fprintln(env.stdout, string(data))
				continue
			}
			fmt.Fprintln(env.stdout, eventLine(ev))
		}
	}
}

// eventLine is one event as `status --watch` and `events` print it.
func eventLine(ev supervisor.Event) string {
	return fmt.Sprintf("%s  %-16s %-9s  %s  (restarts %d, failures %d)", ev.Time.Local().Format("15:04:05"),
		ev.Data.Name, ev.Data.Status.Upper(), sanitizeLine(ev.Message), ev.Data.RestartCount, ev.Data.FailureCount)
}
