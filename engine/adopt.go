package engine

import "sync"

// adoptions remembers the containers Discover adopted by name. They carry
// no compose labels, so without this their events would be filtered out
// and List would not return them; with it they are attributed to their
// project and service like labelled ones.
type adoptions struct {
	mu sync.Mutex
	m  map[ContainerID]owner
}

type owner struct{ project, service string }

func (a *adoptions) set(id ContainerID, project, service string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil {
		a.m = map[ContainerID]owner{}
	}
	a.m[id] = owner{project, service}
}

func (a *adoptions) forget(id ContainerID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.m, id)
}

// attribute fills in the project and service of an unlabelled adopted
// container.
func (a *adoptions) attribute(id ContainerID, project, service *string) {
	if *project != "" {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if o, ok := a.m[id]; ok {
		*project, *service = o.project, o.service
	}
}
