package supervisor

import (
	"slices"

	"github.com/hostagent/hostagent/compose"
)

// reloadDiff is what a reload changes: the services to add, to remove and
// to keep, each kept one with why its container must be recreated ("" when
// it matches the file).
type reloadDiff struct {
	add    []*compose.PlannedService
	remove []string
	keep   []keptService
}

// keptService is a service in both the old and the new file.
type keptService struct {
	svc *compose.PlannedService
	why string // why its container is outdated; "" when current
}

// recreate lists the kept services whose containers are outdated, in plan
// order.
func (d reloadDiff) recreate() []outdatedService {
	var out []outdatedService
	for _, k := range d.keep {
		if k.why != "" {
			out = append(out, outdatedService{k.svc.Name, k.svc.Phase, k.why})
		}
	}
	return out
}

// diffReload compares the services supervised now (old, in their plan
// order) with a new plan and the containers observed: new services are
// added, services that left the file are removed (in their old order), and
// the rest are kept, recreated when their container no longer matches.
// hash is the config hash a container of the service would carry.
func diffReload(old []string, plan *compose.Plan, observed map[string]Container, hash func(*compose.Service) string) reloadDiff {
	var d reloadDiff
	for i := range plan.Services {
		ps := &plan.Services[i]
		if slices.Contains(old, ps.Name) {
			d.keep = append(d.keep, keptService{ps, outdatedReason(ps, observed, hash)})
			continue
		}
		d.add = append(d.add, ps)
	}
	for _, name := range old {
		if _, ok := plan.Lookup(name); !ok {
			d.remove = append(d.remove, name)
		}
	}
	return d
}

// outdatedReason says why the service's observed container no longer
// matches the file: discovery's verdict (config hash, image ID), or the
// config hash compared here; "" when it matches or there is none.
func outdatedReason(ps *compose.PlannedService, observed map[string]Container, hash func(*compose.Service) string) string {
	c, ok := observed[ps.Name]
	switch {
	case !ok:
		return ""
	case c.Outdated != "":
		return c.Outdated
	case c.ConfigHash != "" && c.ConfigHash != hash(ps.Service):
		return "configuration changed"
	}
	return ""
}
