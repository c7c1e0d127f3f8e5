package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// DefaultMaxOutput is how much exec output is kept when ExecOptions does
// not say: enough for a health check's message, bounded for a chatty one.
const DefaultMaxOutput = 4 << 10

// ExecOptions tune one Exec.
type ExecOptions struct {
	// Timeout bounds the whole exec, from create to exit code (default:
	// the call timeout).
	Timeout time.Duration
	// MaxOutput caps the bytes of output kept (default DefaultMaxOutput);
	// the rest is read and discarded so the process is never blocked.
	MaxOutput  int
	User       string
	Env        []string
	WorkingDir string
}

// ExecResult is a finished exec.
type ExecResult struct {
	ExitCode int
	// Output is stdout and stderr as they came, at most MaxOutput bytes.
	Output    []byte
	Truncated bool
	Duration  time.Duration
}

// Exec runs argv in the container and returns its exit code and output.
// Errors: ErrNotFound (no such container), ErrConflict (not running),
// ErrUnavailable (engine unreachable or slow before the command started),
// ErrExecTimeout (the command started but did not finish in time; the
// engine offers no way to kill an exec, so it may keep running).
func (c *Client) Exec(ctx context.Context, id ContainerID, argv []string, opts ExecOptions) (ExecResult, error) {
	if len(argv) == 0 {
		return ExecResult{}, errors.New("exec: empty command")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = c.opts.CallTimeout
	}
	if opts.MaxOutput <= 0 {
		opts.MaxOutput = DefaultMaxOutput
	}
	began := c.clock.Now()
	runCtx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	// Podman answers "must provide at least one stream" to an exec that
	// attaches nothing, and only an attached exec reports its exit code.
	var execID string
	err := c.do(runCtx, "exec create in "+id.Short(), c.opts.CallTimeout, func(ctx context.Context) error {
		r, err := c.api.ContainerExecCreate(ctx, string(id), container.ExecOptions{
			Cmd: argv, AttachStdout: true, AttachStderr: true,
			User: opts.User, Env: opts.Env, WorkingDir: opts.WorkingDir,
		})
		execID = r.ID
		return err
	})
	if err != nil {
		return ExecResult{}, c.execDeadline(ctx, err)
	}
	hijack, err := c.api.ContainerExecAttach(runCtx, execID, container.ExecAttachOptions{})
	if err = classify(ctx, "exec attach in "+id.Short(), err); err != nil {
		c.note(ctx, err, true)
		return ExecResult{}, c.execDeadline(ctx, err)
	}
	defer hijack.Close()

	out := &capWriter{max: opts.MaxOutput}
	done := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(out, out, hijack.Reader)
		done <- err
	}()
	select {
	case <-done:
	case <-runCtx.Done():
		// Closing the connection unblocks the reader goroutine.
		hijack.Close()
		<-done
		if ctx.Err() != nil {
			return ExecResult{}, fmt.Errorf("exec in %s: %w", id.Short(), ctx.Err())
		}
		return ExecResult{Output: out.buf, Truncated: out.truncated, Duration: c.clock.Since(began)},
			fmt.Errorf("exec %q in %s: %w after %s", argv[0], id.Short(), ErrExecTimeout, opts.Timeout)
	}
	code, err := c.execExitCode(runCtx, execID)
	if err != nil {
		return ExecResult{}, c.execDeadline(ctx, err)
	}
	return ExecResult{ExitCode: code, Output: out.buf, Truncated: out.truncated, Duration: c.clock.Since(began)}, nil
}

// execExitCode waits for the engine to record the exit: the output stream
// can close a moment before the exec session is marked finished.
func (c *Client) execExitCode(ctx context.Context, execID string) (int, error) {
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		var r container.ExecInspect
		err := c.do(ctx, "exec inspect", c.opts.CallTimeout, func(ctx context.Context) error {
			var err error
			r, err = c.api.ContainerExecInspect(ctx, execID)
			return err
		})
		if err != nil {
			return 0, err
		}
		if !r.Running {
			return r.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-c.clock.After(wait):
		}
	}
}

// execDeadline keeps a caller's cancellation as is; the exec's own
// deadline expiring before the command ran is the engine being slow.
func (c *Client) execDeadline(ctx context.Context, err error) error {
	if ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// capWriter keeps the first max bytes written and counts the rest away.
type capWriter struct {
	buf       []byte
	max       int
	truncated bool
}

func (w *capWriter) Write(p []byte) (int, error) {
	room := w.max - len(w.buf)
	if len(p) > room {
		w.truncated = true
		w.buf = append(w.buf, p[:max(room, 0)]...)
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}
