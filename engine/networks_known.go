package engine

import "sync"

// knownNetworks remembers the networks this client has seen exist, so a
// create does not inspect them again. On Podman a network inspect waits
// behind any start in flight (network setup holds the network lock):
// beside a stream of starts each create took ~0.2 s instead of ~0.02 s,
// which serialised creates with starts. Prepare checks every network
// afresh; a create that finds one missing forgets them and checks again.
type knownNetworks struct {
	mu    sync.Mutex
	names map[string]bool
}

func (k *knownNetworks) has(name string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.names[name]
}

func (k *knownNetworks) add(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.names == nil {
		k.names = map[string]bool{}
	}
	k.names[name] = true
}

func (k *knownNetworks) forget(names ...string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, n := range names {
		delete(k.names, n)
	}
}
