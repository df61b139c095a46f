package dnstest

import (
	"sync"
	"time"
)

// Clock is a time source that moves only when told: hand its Now to the
// code under test (a Config's Now field) and Advance it instead of sleeping.
// It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex // guards now
	now time.Time
}

// NewClock returns a Clock that reads 2026-11-26 12:00:00 UTC, a fixed
// instant so that runs repeat.
func NewClock() *Clock {
	return &Clock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
}

// Now returns the clock's time. It carries no monotonic reading.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Set makes the clock read t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}
