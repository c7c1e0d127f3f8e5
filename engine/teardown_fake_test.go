package engine

import (
	"context"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
)

// The teardown calls are tested on real Podman (cmd/hostagent's down
// integration test); the fake only answers them.

func (f *fakeAPI) NetworkList(context.Context, network.ListOptions) ([]network.Summary, error) {
	return nil, nil
}

func (f *fakeAPI) NetworkRemove(context.Context, string) error { return nil }

func (f *fakeAPI) VolumeList(context.Context, volume.ListOptions) (volume.ListResponse, error) {
	return volume.ListResponse{}, nil
}

func (f *fakeAPI) VolumeRemove(context.Context, string, bool) error { return nil }
