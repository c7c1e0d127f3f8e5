package supervisor

import (
	"context"
	"time"
)

// ReloadSummary says what a reload changed.
type ReloadSummary struct {
	Added     []string `json:"added"`
	Removed   []string `json:"removed"`
	Recreated []string `json:"recreated"`
	Unchanged int      `json:"unchanged"`
}

// Change kinds of a ChangedService.
const (
	ChangeAdded     = "added"
	ChangeRemoved   = "removed"
	ChangeRecreated = "recreated"
)

// ChangedService is where one changed service ended up.
type ChangedService struct {
	Name   string `json:"name"`
	Change string `json:"change"`
	Status Status `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Settled: healthy, completed, or failed; false while it is still
	// starting or waiting when the wait ended.
	Settled bool `json:"settled"`
	// OK: settled healthy (or completed, or removed as asked).
	OK bool `json:"ok"`
}

// ConvergeReport is a converge's outcome.
type ConvergeReport struct {
	ReloadSummary
	Services []ChangedService `json:"services"`
	// Complete: every changed service settled before the wait ended.
	Complete bool `json:"complete"`
	// OK: complete, and every changed service is healthy or completed.
	OK bool `json:"ok"`
}

// Converging is a reload under way.
type Converging struct {
	Summary ReloadSummary
	s       *Supervisor
	rollout *rolloutRun
}

// Wait returns once the rollout has finished and every added or recreated
// service has settled (healthy, completed, disabled, unhealthy, or down
// with a reason), or when ctx ends; the report says which.
func (c *Converging) Wait(ctx context.Context) ConvergeReport {
	events, unsubscribe := c.s.Subscribe(256)
	defer unsubscribe()
	// Events drive the re-checks; the timer only covers lost events.
	tick := c.s.clock.NewTimer(time.Second)
	defer tick.Stop()
	for {
		rep := c.Report()
		if rep.Complete {
			return rep
		}
		select {
		case <-ctx.Done():
			return rep
		case <-events:
		case <-c.rollout.done:
		case <-tick.C():
			tick.Reset(time.Second)
		}
	}
}

// Report is the converge's state now.
func (c *Converging) Report() ConvergeReport {
	rep := ConvergeReport{ReloadSummary: c.Summary, Complete: true, OK: true}
	add := func(cs ChangedService) {
		rep.Services = append(rep.Services, cs)
		rep.Complete = rep.Complete && cs.Settled
		rep.OK = rep.OK && cs.OK
	}
	for _, name := range c.Summary.Added {
		st, _ := c.s.Service(name)
		settled, ok := settledStatus(st)
		add(ChangedService{Name: name, Change: ChangeAdded, Status: st.Status, Detail: st.Detail, Settled: settled, OK: ok})
	}
	rolledOut := false
	select {
	case <-c.rollout.done:
		rolledOut = true
	default:
	}
	for _, name := range c.Summary.Recreated {
		st, _ := c.s.Service(name)
		cs := ChangedService{Name: name, Change: ChangeRecreated, Status: st.Status, Detail: st.Detail}
		if rolledOut {
			// The rollout's goroutine wrote results before closing done.
			why := c.rollout.results[name]
			cs.Settled, cs.OK = true, why == ""
			if why != "" {
				cs.Detail = joinDetail(why, st.Detail)
			}
		}
		add(cs)
	}
	for _, name := range c.Summary.Removed {
		add(ChangedService{Name: name, Change: ChangeRemoved, Status: Stopped, Detail: "removed from the file: stopped, no longer supervised", Settled: true, OK: true})
	}
	rep.OK = rep.OK && rep.Complete
	return rep
}

// settledStatus judges a started service: settled once it is healthy,
// completed, or stopped for a reason; ok when healthy or completed.
func settledStatus(st ServiceStatus) (settled, ok bool) {
	switch {
	case st.Status == Running:
		return true, true
	case st.Status == Stopped && st.Detail == DetailCompleted:
		return true, true
	case st.Status == Disabled, st.Status == Unhealthy:
		return true, false
	case st.Status == Stopped && st.Detail != "" && len(st.WaitingFor) == 0:
		return true, false
	}
	return false, false
}

func joinDetail(a, b string) string {
	if b == "" {
		return a
	}
	return a + "; " + b
}
