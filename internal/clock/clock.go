// Package clock injects time into logic so that backoff, grace periods and
// settle windows can be tested in milliseconds with a fake that tests advance.
package clock

import "time"

// Clock is the source of time for everything that waits or measures.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that fires once after d.
	NewTimer(d time.Duration) Timer
	// After is NewTimer(d).C() for waits that are never cancelled early.
	After(d time.Duration) <-chan time.Time
	Since(t time.Time) time.Duration
}

// Timer is the part of *time.Timer the code uses.
type Timer interface {
	C() <-chan time.Time
	// Stop reports whether it stopped the timer before it fired.
	Stop() bool
	Reset(d time.Duration)
}

// Real is the wall clock.
type Real struct{}

// New returns the wall clock.
func New() Clock { return Real{} }

func (Real) Now() time.Time                         { return time.Now() }
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }
func (Real) Since(t time.Time) time.Duration        { return time.Since(t) }
func (Real) NewTimer(d time.Duration) Timer         { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time   { return r.t.C }
func (r realTimer) Stop() bool            { return r.t.Stop() }
func (r realTimer) Reset(d time.Duration) { r.t.Reset(d) }
