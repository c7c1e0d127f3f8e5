package engine

import (
	"context"
	"errors"

	"github.com/hostagent/hostagent/compose"
)

// CreateReplacing is Create for a service that has no container of its
// own: a container already holding the service's name (ErrConflict) is
// one discovery did not adopt, made by hand without our labels, so it is
// removed and the create tried once more, as compose up would. When the
// removal fails, the conflict is the answer.
func (c *Client) CreateReplacing(ctx context.Context, st *compose.Stack, service string) (ContainerID, error) {
	id, err := c.Create(ctx, st, service)
	if !errors.Is(err, ErrConflict) {
		return id, err
	}
	svc, ok := st.Service(service)
	if !ok {
		return "", err
	}
	if rmErr := c.Remove(ctx, ContainerID(ContainerName(st.Name, *svc)), true); rmErr != nil {
		return "", err
	}
	return c.Create(ctx, st, service)
}
