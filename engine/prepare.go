package engine

import (
	"context"
	"errors"
	"fmt"

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
			if err := c.ensureNetwork(ctx, st, n.key, n.name); err != nil {
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
