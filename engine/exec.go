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

// ExecOptions tune one Exec. Its deadline is ctx's: see Exec.
type ExecOptions struct {
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
// ctx's deadline bounds the whole exec, from create to exit code (without
// one, the call timeout does). Errors: ErrNotFound (no such container),
// ErrConflict (not running), ErrUnavailable (engine unreachable, or the
// deadline passed before the command started), ErrExecTimeout (the
// command started but the deadline passed before it finished; the engine
// offers no way to kill an exec, so it may keep running). A cancelled ctx
// is returned as is.
func (c *Client) Exec(ctx context.Context, id ContainerID, argv []string, opts ExecOptions) (ExecResult, error) {
	if len(argv) == 0 {
		return ExecResult{}, errors.New("exec: empty command")
	}
	if opts.MaxOutput <= 0 {
		opts.MaxOutput = DefaultMaxOutput
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.CallTimeout)
		defer cancel()
	}
	began := c.clock.Now()
	deadline, _ := ctx.Deadline()
	limit := time.Until(deadline).Round(time.Millisecond)

	execID, err := c.execCreate(ctx, id, argv, opts)
	if err != nil {
		return ExecResult{}, execDeadline(ctx, err)
	}
	hijack, err := c.api.ContainerExecAttach(ctx, execID, container.ExecAttachOptions{})
	if err = classify(ctx, "exec attach in "+id.Short(), err); err != nil {
		c.note(ctx, err, true)
		return ExecResult{}, execDeadline(ctx, err)
	}
	defer hijack.Close()

	out := &capWriter{max: opts.MaxOutput}
	// The copy ends with the stream; how the command ended is the exit
	// code's to say, not the copy's error.
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = stdcopy.StdCopy(out, out, hijack.Reader)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		// Closing the connection unblocks the reader goroutine.
		hijack.Close()
		<-done
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return ExecResult{}, fmt.Errorf("exec in %s: %w", id.Short(), ctx.Err())
		}
		return ExecResult{Output: out.buf, Truncated: out.truncated, Duration: c.clock.Since(began)},
			fmt.Errorf("exec %q in %s: %w after %s", argv[0], id.Short(), ErrExecTimeout, limit)
	}
	code, err := c.execExitCode(ctx, execID)
	if err != nil {
		return ExecResult{}, execDeadline(ctx, err)
	}
	return ExecResult{ExitCode: code, Output: out.buf, Truncated: out.truncated, Duration: c.clock.Since(began)}, nil
}

// execCreate makes the exec, attached: Podman answers "must provide at
// least one stream" to an exec that attaches nothing, and only an
// attached exec reports its exit code.
func (c *Client) execCreate(ctx context.Context, id ContainerID, argv []string, opts ExecOptions) (string, error) {
	var execID string
	err := c.do(ctx, "exec create in "+id.Short(), c.opts.CallTimeout, func(ctx context.Context) error {
		r, err := c.api.ContainerExecCreate(ctx, string(id), container.ExecOptions{
			Cmd: argv, AttachStdout: true, AttachStderr: true,
			User: opts.User, Env: opts.Env, WorkingDir: opts.WorkingDir,
		})
		execID = r.ID
		return err
	})
	return execID, err
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

// execDeadline keeps a cancellation as is; the deadline passing before
// the command ran, or before its exit code came, is the engine being slow.
func execDeadline(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.Canceled) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrUnavailable) {
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
