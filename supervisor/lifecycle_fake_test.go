package supervisor

import (
	"context"
	"errors"
	"time"

	"github.com/hostagent/hostagent/compose"
)

// Recreate replaces a container as the engine adapter does: the old one
// goes, a new one is created (not started).
func (f *fakeEngine) Recreate(ctx context.Context, st *compose.Stack, svc *compose.Service, id string, _ time.Duration) (Container, error) {
	f.mu.Lock()
	f.recreates = append(f.recreates, svc.Name)
	f.mu.Unlock()
	if err := f.Remove(ctx, id); err != nil && !errors.Is(err, errNoSuchContainer) {
		return Container{}, err
	}
	return f.Create(ctx, st, svc)
}

func (f *fakeEngine) recreated() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.recreates...)
}
