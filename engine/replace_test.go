package engine

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// nameTaken answers the first creates with Podman's name conflict and
// records removals; the rest is fakeAPI's.
type nameTaken struct {
	*fakeAPI
	conflicts int // creates refused before one succeeds
	removeErr error
	removed   []string
}

func (f *nameTaken) ContainerCreate(ctx context.Context, config *container.Config, host *container.HostConfig, net *network.NetworkingConfig, platform *ocispec.Platform, name string) (container.CreateResponse, error) {
	if f.conflicts > 0 {
		f.conflicts--
		return container.CreateResponse{}, errors.New(`creating container storage: the container name "` + name + `" is already in use by 1f2e. You have to remove that container to be able to reuse that name: that name is already in use`)
	}
	return f.fakeAPI.ContainerCreate(ctx, config, host, net, platform, name)
}

func (f *nameTaken) ContainerRemove(_ context.Context, id string, opts container.RemoveOptions) error {
	if !opts.Force {
		return errors.New("remove without force")
	}
	f.removed = append(f.removed, id)
	return f.removeErr
}

func TestCreateReplacing(t *testing.T) {
	const yaml = "services:\n  web: {image: x}\n"
	cases := []struct {
		name      string
		conflicts int
		removeErr error
		wantID    ContainerID
		wantErr   error
		removed   []string
	}{
		{"no conflict: a plain create", 0, nil, "id-p-web-1", nil, nil},
		{"an unadopted container of our name is replaced", 1, nil, "id-p-web-1", nil, []string{"p-web-1"}},
		{"the removal fails: the conflict is the answer", 1, errors.New("device busy"), "", ErrConflict, []string{"p-web-1"}},
		{"replaced once, not in a loop", 2, nil, "", ErrConflict, []string{"p-web-1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fa := &nameTaken{fakeAPI: &fakeAPI{}, conflicts: tc.conflicts, removeErr: tc.removeErr}
			c := newClient(fa, Options{Host: "unix://" + filepath.Join(t.TempDir(), "sock")})
			id, err := c.CreateReplacing(t.Context(), load(t, t.TempDir(), yaml), "web")
			if id != tc.wantID || (tc.wantErr == nil) != (err == nil) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Errorf("CreateReplacing = %q, %v; want %q, %v", id, err, tc.wantID, tc.wantErr)
			}
			if !slices.Equal(fa.removed, tc.removed) {
				t.Errorf("removed %v, want %v", fa.removed, tc.removed)
			}
		})
	}
}
