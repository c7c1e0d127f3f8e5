package engine

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hostagent/hostagent/compose"
)

// MatchRule says how a container was tied to a service.
type MatchRule int

const (
	// MatchLabel: compose labels name the project and the service.
	MatchLabel MatchRule = iota + 1
	// MatchName: the container has the name compose or podman-compose
	// gives it (`<project>-<service>-N`, `<project>_<service>_N`) or the
	// service's container_name.
	MatchName
	// MatchContains: the unlabelled container's name is the service's,
	// or ends in it after a separator (see scoreName).
	MatchContains
)

func (r MatchRule) String() string {
	switch r {
	case MatchLabel:
		return "label"
	case MatchName:
		return "name"
	case MatchContains:
		return "name-contains"
	}
	return "none"
}

// Found is a container adopted for a service.
type Found struct {
	Service   string
	Container Container
	By        MatchRule
	// Outdated: the container carries a config hash that differs from the
	// service's current definition (the compose file changed since it was
	// created). False when the container has no hash label.
	Outdated bool
	// ImageChanged: the container was made from another image than the
	// one its service's image name resolves to now (rebuilt or pulled
	// under the same tag).
	ImageChanged bool
}

// Discovery is what exists on the engine for a stack.
type Discovery struct {
	Project string
	// Found holds one container per service that has one.
	Found map[string]Found
	// NotFound lists, sorted, the services without a container.
	NotFound []string
}

// Discover finds the stack's existing containers and logs
// "Discovered N containers".
func (c *Client) Discover(ctx context.Context, st *compose.Stack) (Discovery, error) {
	all, err := c.List(ctx, "")
	if err != nil {
		return Discovery{}, fmt.Errorf("discover %s: %w", st.Name, err)
	}
	d := discover(st, all)
	c.markImageChanges(ctx, st, &d)
	for _, f := range d.Found {
		if f.Container.Project == "" {
			c.adopted.set(f.Container.ID, st.Name, f.Service)
		}
	}
	c.log.Info(fmt.Sprintf("Discovered %d containers", len(d.Found)),
		"project", st.Name, "services", len(st.Services), "not_found", d.NotFound)
	for _, w := range clashes(st, all) {
		c.log.Warn(w)
	}
	for _, f := range d.Found {
		c.log.Debug("Service discovered", "service", f.Service, "container", f.Container.Name,
			"id", f.Container.ID.Short(), "by", f.By, "outdated", f.Outdated, "image_changed", f.ImageChanged)
	}
	return d, nil
}

// clashes names the running containers of other projects that hold a host
// port or a named volume this stack wants: a stack started from another
// directory (or under another project name) by compose or podman-compose,
// which would make our starts fail on the port, or share the data.
func clashes(st *compose.Stack, all []Container) []string {
	var out []string
	for _, svc := range st.Services {
		out = append(out, portClashes(st.Name, svc, all)...)
		out = append(out, volumeClashes(st, svc, all)...)
	}
	return out
}

func portClashes(project string, svc compose.Service, all []Container) []string {
	var out []string
	for _, p := range svc.Ports {
		if p.HostPort == 0 {
			continue
		}
		for _, ctr := range all {
			if ctr.Project == project || !ctr.State.Running {
				continue
			}
			for _, hp := range ctr.HostPorts {
				if portClash(hp, p) {
					out = append(out, fmt.Sprintf("Port %d of service %s is published by container %s%s: the service cannot start until it is stopped (another copy of this stack? set project_directory or project_name to adopt it instead)",
						p.HostPort, svc.Name, ctr.Name, projectOf(ctr)))
				}
			}
		}
	}
	return out
}

func volumeClashes(st *compose.Stack, svc compose.Service, all []Container) []string {
	var out []string
	for _, v := range svc.Config.Volumes {
		if v.Type != "volume" || v.Source == "" {
			continue
		}
		name := volumeName(st, v.Source)
		for _, ctr := range all {
			if ctr.Project != st.Name && ctr.State.Running && slices.Contains(ctr.Volumes, name) {
				out = append(out, fmt.Sprintf("Volume %s of service %s is in use by container %s%s: two stacks would share its data",
					name, svc.Name, ctr.Name, projectOf(ctr)))
			}
		}
	}
	return out
}

func projectOf(ctr Container) string {
	if ctr.Project == "" {
		return ""
	}
	return " of project " + ctr.Project
}

// portClash: the same host port and protocol on the same or a wildcard
// address.
func portClash(published string, want compose.Port) bool {
	i := strings.LastIndex(published, ":")
	if i < 0 {
		return false
	}
	addr, rest := published[:i], published[i+1:]
	port, proto, _ := strings.Cut(rest, "/")
	wantProto := want.Protocol
	if wantProto == "" {
		wantProto = "tcp"
	}
	if port != strconv.Itoa(want.HostPort) || (proto != "" && proto != wantProto) {
		return false
	}
	wild := func(a string) bool { return a == "" || a == "0.0.0.0" || a == "::" }
	return wild(addr) || wild(want.HostIP) || addr == want.HostIP
}
