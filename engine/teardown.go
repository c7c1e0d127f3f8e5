package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
)

// RemoveNetworks removes the project's networks (those with its compose
// project label), as `compose down` does; external networks carry no such
// label and are kept. It returns the names removed.
func (c *Client) RemoveNetworks(ctx context.Context, project string) ([]string, error) {
	var list []network.Summary
	err := c.do(ctx, "list networks", c.opts.CallTimeout, func(ctx context.Context) error {
		var err error
		list, err = c.api.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelProject+"="+project))})
		return err
	})
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, n := range list {
		if n.Labels[LabelProject] != project {
			continue // an engine that ignored the filter
		}
		err := c.do(ctx, "remove network "+n.Name, c.opts.CallTimeout, func(ctx context.Context) error {
			return c.api.NetworkRemove(ctx, n.ID)
		})
		c.nets.forget(n.Name)
		if err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, fmt.Errorf("network %s: %w", n.Name, err))
			continue
		}
		removed = append(removed, n.Name)
	}
	return removed, errors.Join(errs...)
}

// RemoveVolumes removes the project's named volumes (`compose down -v`);
// external volumes carry no project label and are kept.
func (c *Client) RemoveVolumes(ctx context.Context, project string) ([]string, error) {
	var list volume.ListResponse
	err := c.do(ctx, "list volumes", c.opts.CallTimeout, func(ctx context.Context) error {
		var err error
		list, err = c.api.VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelProject+"="+project))})
		return err
	})
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, v := range list.Volumes {
		if v == nil || v.Labels[LabelProject] != project {
			continue
		}
		err := c.do(ctx, "remove volume "+v.Name, c.opts.CallTimeout, func(ctx context.Context) error {
			return c.api.VolumeRemove(ctx, v.Name, false)
		})
		if err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, fmt.Errorf("volume %s: %w", v.Name, err))
			continue
		}
		removed = append(removed, v.Name)
	}
	return removed, errors.Join(errs...)
}
