package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/hostagent/hostagent/compose"
	"github.com/hostagent/hostagent/engine"
)

func init() {
	commands["logs"] = command{"print the services' container output, prefixed like compose (-f follows)", cmdLogs}
}

// cmdLogs reads from the engine, not from the agent, so it works while
// the agent is stopped or broken.
func cmdLogs(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("logs [SERVICE...]", `Print the output of the stack's containers, each line prefixed with its
service as docker compose does. Reads from Podman directly: works while the
agent is down. Without SERVICE, every service that has a container.`, env)
	var sf stackFlags
	sf.registerLong(fs)
	follow := fs.Bool("f", false, "follow: keep printing new output until interrupted")
	fs.BoolVar(follow, "follow", false, "same as -f")
	tail := fs.String("tail", "all", "number of last lines to show per service (`N` or all)")
	since := fs.String("since", "", "only output since `T` (RFC 3339 timestamp, or a duration like 10m)")
	stamps := fs.Bool("t", false, "show timestamps")
	fs.BoolVar(stamps, "timestamps", false, "same as -t")
	noPrefix := fs.Bool("no-log-prefix", false, "do not prefix lines with the service name")
	names, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	cfg, stack, _, err := configuredStack(ctx, env, &sf)
	if err != nil {
		return err
	}
	services, err := selectServices(stack, names)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	c, err := cliEngine(cfg, env)
	if err != nil {
		return err
	}
	defer c.Close()
	found, err := c.Discover(ctx, stack)
	if err != nil {
		return fmt.Errorf("%w (is Podman running? the socket is %s)", err, cfg.DockerHost)
	}
	p := logsPrinter{c: c, env: env, prefix: !*noPrefix,
		opts: engine.LogOptions{Follow: *follow, Tail: *tail, Since: *since, Timestamps: *stamps}}
	return p.print(ctx, found, services)
}

// logsPrinter prints the services' logs, each line with its service's
// prefix.
type logsPrinter struct {
	c      *engine.Client
	env    *environment
	opts   engine.LogOptions
	prefix bool
}

func (p logsPrinter) print(ctx context.Context, found engine.Discovery, services []string) error {
	width := 0
	for _, s := range services {
		width = max(width, len(s))
	}
	var mu sync.Mutex // one line at a time on the terminal
	var wg sync.WaitGroup
	errs := make([]error, len(services))
	for i, name := range services {
		f, ok := found.Found[name]
		if !ok {
			fmt.Fprintf(p.env.stderr, "%s: no container (not created yet)\n", name)
			continue
		}
		prefix := ""
		if p.prefix {
			prefix = fmt.Sprintf("%-*s | ", width, name)
		}
		out := &linePrefixer{mu: &mu, w: p.env.stdout, prefix: prefix}
		errOut := &linePrefixer{mu: &mu, w: p.env.stderr, prefix: prefix}
		run := func() {
			errs[i] = p.c.Logs(ctx, f.Container.ID, p.opts, out, errOut)
			out.flush()
			errOut.flush()
		}
		if !p.opts.Follow {
			// One service after the other: readable without interleaving.
			run()
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); run() }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("%s: %w", services[i], err)
		}
	}
	return nil
}

// selectServices returns the named services in the order given, or every
// service of the stack; an unknown name is an error listing the known ones.
func selectServices(stack *compose.Stack, names []string) ([]string, error) {
	var all []string
	for _, s := range stack.Services {
		all = append(all, s.Name)
	}
	if len(names) == 0 {
		return all, nil
	}
	for _, n := range names {
		if !slices.Contains(all, n) {
			return nil, fmt.Errorf("no service %q in project %s (services: %s)", n, stack.Name, strings.Join(all, ", "))
		}
	}
	return names, nil
}

// linePrefixer writes whole lines, each with a prefix, under a shared lock
// so that concurrent services never interleave inside a line. Control
// characters other than tab are shown escaped: container output must not
// drive the user's terminal.
type linePrefixer struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *linePrefixer) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		p.emit(p.buf[:i])
		p.buf = p.buf[i+1:]
	}
}

func (p *linePrefixer) flush() {
	if len(p.buf) > 0 {
		p.emit(p.buf)
		p.buf = nil
	}
}

func (p *linePrefixer) emit(line []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "%s%s\n", p.prefix, sanitizeLine(string(bytes.TrimSuffix(line, []byte("\r")))))
}

// sanitizeLine escapes control characters (ESC sequences, BEL, ...) but
// keeps tabs and printable text, UTF-8 included.
func sanitizeLine(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isControl(r) {
			fmt.Fprintf(&b, "\\x%02x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isControl(r rune) bool { return r != '\t' && (r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0)) }
