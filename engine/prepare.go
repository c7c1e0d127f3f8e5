package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hostagent/hostagent/compose"
)

// Prepare creates the project's missing networks and named volumes (the
// ones its services' containers join or mount), so that bring-up can do
// it while discovering instead of in the first Create. Create still
// ensures them itself; Prepare only moves the work off the path to the
// first start. Every service is tried; the error joins what failed.
func (c *Client) Prepare(ctx context.Context, st *compose.Stack) error {
	var errs []error
	nets, vols := map[string]bool{}, map[string]bool{}
	for _, svc := range st.Services {
		sp, err := buildSpec(st, svc, c.podman.Load())
		if err != nil {
			// Create reports it, naming the service.
			continue
		}
		for _, n := range sp.networks {
			if nets[n.name] {
				continue
			}
			nets[n.name] = true
			if err := c.ensureNetworks(ctx, st, []netAttach{n}, false); err != nil {
				errs = append(errs, fmt.Errorf("network %s (service %s): %w", n.name, svc.Name, err))
			}
		}
		for _, key := range sp.volumes {
			if vols[key] {
				continue
			}
			vols[key] = true
			if err := c.ensureVolume(ctx, st, key); err != nil {
				errs = append(errs, fmt.Errorf("volume %s (service %s): %w", volumeName(st, key), svc.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// ImageReady reports whether a container of service can be created now
// with the image its start would use: the image is present and its
// pull_policy (missing, the default, or never) would not fetch or build
// another. Bring-up creates such containers ahead of their start.
func (c *Client) ImageReady(ctx context.Context, st *compose.Stack, service string) (bool, error) {
	svc, ok := st.Service(service)
	if !ok {
		return false, fmt.Errorf("image of %s: no such service in project %s", service, st.Name)
	}
	policy, _, err := pullPolicy(*svc)
	if err != nil || (policy != types.PullPolicyMissing && policy != types.PullPolicyNever) {
		return false, err
	}
	_, present, err := c.inspectImage(ctx, ImageName(st.Name, *svc))
	return present, err
}
