package engine

import (
	"context"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// LogOptions select what Logs streams, as `docker logs` does.
type LogOptions struct {
	// Follow keeps streaming until ctx ends or the container is removed.
	Follow bool
	// Tail is the number of last lines ("all" or "" for every line).
	Tail string
	// Since is a timestamp (RFC 3339) or a duration relative to now ("10m").
	Since      string
	Timestamps bool
}

// Logs copies the container's output to stdout and stderr, split as the
// container wrote it (a TTY container has one stream: all of it goes to
// stdout). It returns when the stream ends: at once without Follow.
func (c *Client) Logs(ctx context.Context, id ContainerID, opts LogOptions, stdout, stderr io.Writer) error {
	var tty bool
	err := c.do(ctx, "inspect container "+id.Short(), c.opts.CallTimeout, func(ctx context.Context) error {
		r, err := c.api.ContainerInspect(ctx, string(id))
		if err == nil && r.Config != nil {
			tty = r.Config.Tty
		}
		return err
	})
	if err != nil {
		return err
	}
	tail := opts.Tail
	if tail == "" {
		tail = "all"
	}
	// No call timeout: a followed stream lasts as long as the caller wants.
	rc, err := c.api.ContainerLogs(ctx, string(id), container.LogsOptions{
		ShowStdout: true, ShowStderr: true, Follow: opts.Follow, Tail: tail,
		Since: opts.Since, Timestamps: opts.Timestamps,
	})
	if err != nil {
		return classify(ctx, "logs "+id.Short(), err)
	}
	defer rc.Close()
	if tty {
		_, err = io.Copy(stdout, rc)
	} else {
		_, err = stdcopy.StdCopy(stdout, stderr, rc)
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("logs %s: %w", id.Short(), err)
	}
	return nil
}
