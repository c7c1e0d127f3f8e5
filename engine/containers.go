package engine

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
)

// List returns the project's containers (running or not): those with its
// compose project label and those Discover adopted by name. An empty
// project lists every container.
func (c *Client) List(ctx context.Context, project string) ([]Container, error) {
	// No server-side label filter: adopted containers have no labels.
	opts := container.ListOptions{All: true}
	var list []container.Summary
	err := c.do(ctx, "list containers", c.opts.CallTimeout, func(ctx context.Context) error {
		var err error
		list, err = c.api.ContainerList(ctx, opts)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]Container, 0, len(list))
	for _, s := range list {
		ctr := fromSummary(s)
		c.adopted.attribute(ctr.ID, &ctr.Project, &ctr.Service)
		if project == "" || ctr.Project == project {
			out = append(out, ctr)
		}
	}
	return out, nil
}

// Inspect returns the container's full state.
func (c *Client) Inspect(ctx context.Context, id ContainerID) (Container, error) {
	var r container.InspectResponse
	err := c.do(ctx, "inspect "+id.Short(), c.opts.CallTimeout, func(ctx context.Context) error {
		var err error
		r, err = c.api.ContainerInspect(ctx, string(id))
		return err
	})
	if err != nil {
		return Container{}, err
	}
	ctr := fromInspect(r)
	c.adopted.attribute(ctr.ID, &ctr.Project, &ctr.Service)
	return ctr, nil
}

// Start starts a created or exited container; starting a running one is
// not an error.
func (c *Client) Start(ctx context.Context, id ContainerID) error {
	err := c.do(ctx, "start "+id.Short(), c.opts.CallTimeout, func(ctx context.Context) error {
		return c.api.ContainerStart(ctx, string(id), container.StartOptions{})
	})
	// Podman attaches CDI devices at start: a missing one fails here.
	return gpuEngineError("container "+id.Short(), nil, err)
}

// Stop sends the stop signal and, after timeout, SIGKILL. The call may
// take timeout plus the call timeout.
func (c *Client) Stop(ctx context.Context, id ContainerID, timeout time.Duration) error {
	secs := int(math.Ceil(timeout.Seconds()))
	return c.do(ctx, "stop "+id.Short(), time.Duration(secs)*time.Second+c.opts.CallTimeout, func(ctx context.Context) error {
		return c.api.ContainerStop(ctx, string(id), container.StopOptions{Timeout: &secs})
	})
}

// Restart is Stop then Start. It is deliberately not the engine's restart
// call: Podman reports that, and its own policy restarts, with the same
// "restart" event, and EventRestart is reserved for restarts the agent did
// not make (see the package doc).
func (c *Client) Restart(ctx context.Context, id ContainerID, timeout time.Duration) error {
	if err := c.Stop(ctx, id, timeout); err != nil {
		return err
	}
	return c.Start(ctx, id)
}

// Kill sends a signal ("" is SIGKILL).
func (c *Client) Kill(ctx context.Context, id ContainerID, signal string) error {
	return c.do(ctx, "kill "+id.Short(), c.opts.CallTimeout, func(ctx context.Context) error {
		return c.api.ContainerKill(ctx, string(id), signal)
	})
}

// Remove deletes the container; force kills it first if it runs. Named
// volumes are kept, as `compose down` without -v does.
func (c *Client) Remove(ctx context.Context, id ContainerID, force bool) error {
	err := c.do(ctx, "remove "+id.Short(), c.opts.CallTimeout, func(ctx context.Context) error {
		return c.api.ContainerRemove(ctx, string(id), container.RemoveOptions{Force: force})
	})
	if err == nil {
		c.adopted.forget(id)
	}
	return err
}

func fromSummary(s container.Summary) Container {
	name := ""
	if len(s.Names) > 0 {
		name = strings.TrimPrefix(s.Names[0], "/")
	}
	st := ParseStatus(string(s.State))
	return Container{
		ID:         ContainerID(s.ID),
		Name:       name,
		Image:      s.Image,
		ImageID:    s.ImageID,
		Project:    s.Labels[LabelProject],
		Service:    s.Labels[LabelService],
		Labels:     s.Labels,
		ConfigHash: s.Labels[LabelConfigHash],
		Created:    time.Unix(s.Created, 0),
		State:      State{Status: st, Running: st == StatusRunning},
		HostPorts:  hostPorts(s.Ports),
		Volumes:    namedVolumes(s.Mounts),
	}
}

func hostPorts(ports []container.Port) []string {
	var out []string
	for _, p := range ports {
		if p.PublicPort != 0 {
			out = append(out, fmt.Sprintf("%s:%d/%s", p.IP, p.PublicPort, p.Type))
		}
	}
	return out
}

func namedVolumes(mounts []container.MountPoint) []string {
	var out []string
	for _, m := range mounts {
		if m.Type == "volume" && m.Name != "" {
			out = append(out, m.Name)
		}
	}
	return out
}

func fromInspect(r container.InspectResponse) Container {
	var out Container
	if r.ContainerJSONBase == nil {
		return out
	}
	out.ID = ContainerID(r.ID)
	out.Name = strings.TrimPrefix(r.Name, "/")
	out.RestartCount = r.RestartCount
	out.ImageID = r.Image
	out.Created = parseTime(r.Created)
	out.RestartPolicy = "no"
	if r.HostConfig != nil && r.HostConfig.RestartPolicy.Name != "" {
		out.RestartPolicy = string(r.HostConfig.RestartPolicy.Name)
	}
	if r.Config != nil {
		out.Image = r.Config.Image
		out.Labels = r.Config.Labels
		out.Project = r.Config.Labels[LabelProject]
		out.Service = r.Config.Labels[LabelService]
		out.ConfigHash = r.Config.Labels[LabelConfigHash]
	}
	if s := r.State; s != nil {
		out.State = State{
			Status:     ParseStatus(string(s.Status)),
			Running:    s.Running,
			ExitCode:   s.ExitCode,
			OOMKilled:  s.OOMKilled,
			PID:        s.Pid,
			StartedAt:  parseTime(s.StartedAt),
			FinishedAt: parseTime(s.FinishedAt),
			Error:      s.Error,
		}
		if s.Restarting {
			out.State.Status = StatusRestarting
		}
		if s.Health != nil {
			out.State.Health = string(s.Health.Status)
		}
	}
	return out
}

// parseTime reads the engine's RFC 3339 times; Docker's "0001-01-01..."
// and Podman's zero time both become the zero time.Time.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}

// atoi reads an event attribute; ok false when absent or not a number.
func atoi(s string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	return n, err == nil
}
