package gpu

import "time"

// Hold is one granted request, for status: a service holding its GPUs'
// lane until its VRAM use settles (or its stop is done).
type Hold struct {
	Service string
	Op      Op
	// Lanes are the GPUs held, by UUID; nil is every GPU.
	Lanes []string
	Since time.Time
}

// Holding lists the requests that hold a lane now, oldest first. Requests
// let through without NVML hold nothing and are not listed.
func (g *Gate) Holding() []Hold {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]Hold, 0, len(g.holders))
	for _, s := range g.holders {
		out = append(out, Hold{Service: s.req.Service, Op: s.req.Op, Lanes: append([]string(nil), s.lanes...), Since: s.grantedAt})
	}
	return out
}
