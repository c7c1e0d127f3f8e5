package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/hostagent/hostagent/compose"
)

// Create makes the service's container the way compose would (name,
// labels, networks with the service name as alias, volumes, ports,
// limits, GPUs), creating the project's networks and named volumes that
// are missing. It does not start it. A container of that name already
// existing is ErrConflict: discover and adopt (or remove) it first.
func (c *Client) Create(ctx context.Context, st *compose.Stack, service string) (ContainerID, error) {
	svc, ok := st.Service(service)
	if !ok {
		return "", fmt.Errorf("create %s: no such service in project %s", service, st.Name)
	}
	if !c.Connected() {
		// GPUs are asked for in the engine's dialect: learn which it is.
		if err := c.Ping(ctx); err != nil {
			return "", fmt.Errorf("create %s: %w", service, err)
		}
	}
	sp, err := buildSpec(st, *svc, c.podman.Load())
	if err != nil {
		return "", fmt.Errorf("create %s: %w", service, err)
	}
	if len(sp.cdi) > 0 && c.local {
		// Before anything is made: a GPU the host lacks is a condition to
		// report (and fix), not a create that fails on every retry.
		if err := checkCDI(service, sp.cdi, cdiSpecDirs); err != nil {
			return "", fmt.Errorf("create %s: %w", service, err)
		}
	}
	if err := c.ensureNetworks(ctx, st, sp.networks, true); err != nil {
		return "", fmt.Errorf("create %s: %w", service, err)
	}
	for _, key := range sp.volumes {
		if err := c.ensureVolume(ctx, st, key); err != nil {
			return "", fmt.Errorf("create %s: %w", service, err)
		}
	}
	if err := c.writePrivateFiles(sp.files); err != nil {
		return "", fmt.Errorf("create %s: %w", service, err)
	}
	c.finishSpec(ctx, &sp)
	if err := c.prepareBinds(sp.bindDirs); err != nil {
		return "", fmt.Errorf("create %s: %w", service, err)
	}

	id, err := c.createContainer(ctx, sp)
	if missingNetwork(err) && len(sp.networks) > 0 {
		// A network this client knew was removed behind its back: check
		// (and make) them again, once.
		if err = c.ensureNetworks(ctx, st, sp.networks, false); err == nil {
			id, err = c.createContainer(ctx, sp)
		}
	}
	if err != nil {
		return "", fmt.Errorf("create %s: %w", service, gpuEngineError("service "+service, sp.cdi, err))
	}
	c.log.Info("Container created", "service", service, "container", sp.name, "id", id.Short(), "image", sp.config.Image)
	return id, nil
}

// missingNetwork says whether a create failed for a network that does not
// exist: Podman 4.3 answers "unable to find network with name or ID x:
// network not found" (a 500), Docker "network x not found" (a 404). A
// missing image is a 404 too, and no reason to create twice.
func missingNetwork(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "network") && strings.Contains(msg, "not found")
}

// createContainer creates through libpod when the container needs CDI
// devices, else through the Docker-compatible API.
func (c *Client) createContainer(ctx context.Context, sp spec) (ContainerID, error) {
	if len(sp.cdi) > 0 {
		return c.createLibpod(ctx, sp)
	}
	return c.createCompat(ctx, sp)
}

// ensureNetworks makes sure every network in nets exists. With known, a
// network this client has already seen exist is not inspected again
// (knownNetworks says why); without, each is checked afresh.
func (c *Client) ensureNetworks(ctx context.Context, st *compose.Stack, nets []netAttach, known bool) error {
	for _, n := range nets {
		if known && c.nets.has(n.name) {
			continue
		}
		c.nets.forget(n.name)
		if err := c.ensureNetwork(ctx, st, n.key, n.name); err != nil {
			return err
		}
		c.nets.add(n.name)
	}
	return nil
}

// createCompat creates through the Docker-compatible API: one network at
// create (API 1.41), the others connected afterwards.
func (c *Client) createCompat(ctx context.Context, sp spec) (ContainerID, error) {
	var netcfg *network.NetworkingConfig
	if len(sp.networks) > 0 {
		first := sp.networks[0]
		netcfg = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{first.name: first.endpoint}}
	}
	var id ContainerID
	err := c.do(ctx, "create container "+sp.name, c.opts.CallTimeout, func(ctx context.Context) error {
		r, err := c.api.ContainerCreate(ctx, sp.config, sp.host, netcfg, nil, sp.name)
		id = ContainerID(r.ID)
		return err
	})
	if err != nil {
		return "", err
	}
	for _, n := range sp.networks[min(1, len(sp.networks)):] {
		err := c.do(ctx, "connect "+sp.name+" to "+n.name, c.opts.CallTimeout, func(ctx context.Context) error {
			return c.api.NetworkConnect(ctx, n.name, string(id), n.endpoint)
		})
		if err != nil {
			// Half-wired containers are worse than none.
			_ = c.Remove(context.WithoutCancel(ctx), id, true)
			return "", err
		}
	}
	return id, nil
}

// createLibpod creates through Podman's native API, the only one of
// Podman 4's that attaches CDI devices (see the package doc). Every
// network is joined at create.
func (c *Client) createLibpod(ctx context.Context, sp spec) (ContainerID, error) {
	ls, err := libpodCreateSpec(sp)
	if err != nil {
		return "", err
	}
	if c.libpod == nil {
		return "", fmt.Errorf("create container %s: no libpod API for this engine", sp.name)
	}
	var id ContainerID
	err = c.do(ctx, "create container "+sp.name+" (libpod)", c.opts.CallTimeout, func(ctx context.Context) error {
		r, err := c.libpod.createLibpod(ctx, ls)
		id = ContainerID(r)
		return err
	})
	return id, err
}

// ensureNetwork creates the project network `name` unless it exists. An
// external network must exist already.
func (c *Client) ensureNetwork(ctx context.Context, st *compose.Stack, key, name string) error {
	var cfg types.NetworkConfig
	if st.Project != nil {
		cfg = st.Project.Networks[key]
	}
	inspect := func() error {
		return c.do(ctx, "inspect network "+name, c.opts.CallTimeout, func(ctx context.Context) error {
			_, err := c.api.NetworkInspect(ctx, name, network.InspectOptions{})
			return err
		})
	}
	err := inspect()
	if err == nil || !errors.Is(err, ErrNotFound) {
		return err
	}
	if cfg.External {
		return fmt.Errorf("external network %s does not exist", name)
	}
	// The compose labels go last: they are how the project finds it again.
	labels := maps.Clone(map[string]string(cfg.Labels))
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelProject], labels[LabelNetwork] = st.Name, key
	opts := network.CreateOptions{
		Driver: cfg.Driver, Options: cfg.DriverOpts, Labels: labels,
		Internal: cfg.Internal, Attachable: cfg.Attachable,
		EnableIPv4: cfg.EnableIPv4, EnableIPv6: cfg.EnableIPv6,
	}
	if opts.Driver == "" {
		opts.Driver = "bridge"
	}
	if cfg.Ipam.Driver != "" || len(cfg.Ipam.Config) > 0 {
		opts.IPAM = &network.IPAM{Driver: cfg.Ipam.Driver, Options: cfg.Ipam.Options}
		for _, p := range cfg.Ipam.Config {
			opts.IPAM.Config = append(opts.IPAM.Config, network.IPAMConfig{
				Subnet: p.Subnet, Gateway: p.Gateway, IPRange: p.IPRange, AuxAddress: p.AuxiliaryAddresses,
			})
		}
	}
	err = c.do(ctx, "create network "+name, c.opts.CallTimeout, func(ctx context.Context) error {
		_, err := c.api.NetworkCreate(ctx, name, opts)
		return err
	})
	if errors.Is(err, ErrConflict) {
		// Another service's Create made it meanwhile.
		return inspect()
	}
	if err == nil {
		c.log.Info("Network created", "project", st.Name, "network", name)
	}
	return err
}

// ensureVolume creates the named volume `<project>_<key>` unless it
// exists. An external volume must exist already.
func (c *Client) ensureVolume(ctx context.Context, st *compose.Stack, key string) error {
	name := volumeName(st, key)
	var cfg types.VolumeConfig
	if st.Project != nil {
		cfg = st.Project.Volumes[key]
	}
	err := c.do(ctx, "inspect volume "+name, c.opts.CallTimeout, func(ctx context.Context) error {
		_, err := c.api.VolumeInspect(ctx, name)
		return err
	})
	if err == nil || !errors.Is(err, ErrNotFound) {
		return err
	}
	if cfg.External {
		return fmt.Errorf("external volume %s does not exist", name)
	}
	// The compose labels go last: they are how the project finds it again.
	labels := maps.Clone(map[string]string(cfg.Labels))
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelProject], labels[LabelVolume] = st.Name, key
	err = c.do(ctx, "create volume "+name, c.opts.CallTimeout, func(ctx context.Context) error {
		_, err := c.api.VolumeCreate(ctx, volume.CreateOptions{Name: name, Driver: cfg.Driver, DriverOpts: cfg.DriverOpts, Labels: labels})
		return err
	})
	if err == nil {
		c.log.Info("Volume created", "project", st.Name, "volume", name)
	}
	return err
}

// prepareBinds creates missing bind-mount sources, as docker compose
// does for the short syntax (create_host_path). Podman, unlike Docker,
// refuses a missing source. Only possible when the engine is on this
// host; for a remote engine the paths are left to it.
func (c *Client) prepareBinds(dirs []string) error {
	if !c.local {
		return nil
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			continue
		}
		if err := mkdirAll755(d); err != nil {
			return fmt.Errorf("bind mount source %s: %w (the agent creates missing bind sources as compose does; create it by hand, or let the hostagent unit write there)", d, err)
		}
		c.log.Info("Created bind mount source", "path", d)
	}
	return nil
}

// mkdirAll755 is os.MkdirAll with every created directory 0755 whatever
// the umask: compose creates bind sources 0755, and the unit's UMask=0027
// would otherwise leave them unreadable to a non-root container user.
func mkdirAll755(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := mkdirAll755(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return os.Chmod(dir, 0o755)
}
