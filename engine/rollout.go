package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hostagent/hostagent/compose"
)

// ImageID is the ID of the image ref resolves to now, without the
// "sha256:" prefix; "" when no such image is here.
func (c *Client) ImageID(ctx context.Context, ref string) (string, error) {
	info, _, err := c.inspectImage(ctx, ref)
	return normalizeImageID(info.ID), err
}

// normalizeImageID: Docker says "sha256:<hex>", Podman's lists the bare hex.
func normalizeImageID(id string) string { return strings.TrimPrefix(id, "sha256:") }

// markImageChanges flags the found containers whose image is no longer
// the one their service's image name resolves to: rebuilt or pulled again
// under the same tag. An image that cannot be inspected (gone, engine
// trouble) flags nothing: there is nothing to roll out to.
func (c *Client) markImageChanges(ctx context.Context, st *compose.Stack, d *Discovery) {
	now := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(d.Found)) {
		f := d.Found[name]
		svc, ok := st.Service(name)
		if !ok || f.Container.ImageID == "" {
			continue
		}
		want, seen := now[svc.Image]
		if !seen {
			want, _ = c.ImageID(ctx, svc.Image)
			now[svc.Image] = want
		}
		if want != "" && want != normalizeImageID(f.Container.ImageID) {
			f.ImageChanged = true
			d.Found[name] = f
		}
	}
}

// Recreate replaces old with a new container of service made from the
// current definition, as compose does for a changed service: old is
// stopped and removed, named volumes are untouched, and old's anonymous
// volumes are mounted at the same paths in the new container, so their
// data stays. The new container is created, not started.
func (c *Client) Recreate(ctx context.Context, st *compose.Stack, service string, old ContainerID, stopTimeout time.Duration) (ContainerID, error) {
	svc, ok := st.Service(service)
	if !ok {
		return "", fmt.Errorf("recreate %s: no such service in project %s", service, st.Name)
	}
	var r container.InspectResponse
	err := c.do(ctx, "inspect "+old.Short(), c.opts.CallTimeout, func(ctx context.Context) error {
		var err error
		r, err = c.api.ContainerInspect(ctx, string(old))
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return c.Create(ctx, st, service)
	}
	if err != nil {
		return "", fmt.Errorf("recreate %s: %w", service, err)
	}
	kept := anonymousVolumes(*svc, r.Mounts)
	if err := c.Stop(ctx, old, stopTimeout); err != nil && !errors.Is(err, ErrNotFound) {
		return "", fmt.Errorf("recreate %s: %w", service, err)
	}
	// Without RemoveVolumes: the anonymous volumes outlive the container.
	if err := c.Remove(ctx, old, true); err != nil && !errors.Is(err, ErrNotFound) {
		return "", fmt.Errorf("recreate %s: %w", service, err)
	}
	id, err := c.Create(withKeptVolumes(ctx, kept), st, service)
	if err != nil {
		return "", err
	}
	c.log.Info("Container recreated", "service", service, "old", old.Short(), "id", id.Short(), "kept_anonymous_volumes", len(kept))
	return id, nil
}

// anonymousVolumes maps the service's anonymous volume targets to the
// volumes old has mounted there.
func anonymousVolumes(svc compose.Service, mounts []container.MountPoint) map[string]string {
	out := map[string]string{}
	for _, v := range svc.Config.Volumes {
		if v.Type != types.VolumeTypeVolume || v.Source != "" {
			continue
		}
		for _, m := range mounts {
			if m.Type == mount.TypeVolume && m.Name != "" && m.Destination == v.Target {
				out[v.Target] = m.Name
			}
		}
	}
	return out
}

type keptVolumesKey struct{}

// withKeptVolumes carries a recreate's anonymous volumes (target -> name)
// to Create.
func withKeptVolumes(ctx context.Context, kept map[string]string) context.Context {
	if len(kept) == 0 {
		return ctx
	}
	return context.WithValue(ctx, keptVolumesKey{}, kept)
}

// finishSpec adds to a spec what only the engine knows: the volumes a
// recreate keeps, and the ID of the image (compose's com.docker.compose.image).
func (c *Client) finishSpec(ctx context.Context, sp *spec) {
	keepAnonymousVolumes(ctx, sp)
	if id, err := c.ImageID(ctx, sp.config.Image); err == nil && id != "" {
		sp.config.Labels[LabelImage] = "sha256:" + id
	}
}

// dependsOnLabel is compose's com.docker.compose.depends_on:
// "service:condition:restart" for each dependency, comma-separated.
func dependsOnLabel(svc compose.Service) string {
	deps := make([]string, 0, len(svc.DependsOn))
	for _, d := range svc.DependsOn {
		deps = append(deps, fmt.Sprintf("%s:%s:%t", d.Service, d.Condition, d.Restart))
	}
	slices.Sort(deps)
	return strings.Join(deps, ",")
}

// keepAnonymousVolumes mounts the volumes a recreate carries over where
// the spec would have the engine make fresh anonymous ones.
func keepAnonymousVolumes(ctx context.Context, sp *spec) {
	kept, _ := ctx.Value(keptVolumesKey{}).(map[string]string)
	for _, target := range slices.Sorted(maps.Keys(kept)) {
		if _, anon := sp.config.Volumes[target]; !anon {
			continue
		}
		delete(sp.config.Volumes, target)
		sp.host.Binds = append(sp.host.Binds, kept[target]+":"+target)
	}
}
