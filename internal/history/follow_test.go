package history

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nxray/nxray/diagnose"
)

// fakeEngine is an Engine whose live verdicts a test sets and whose new
// ones it publishes.
type fakeEngine struct {
	mu   sync.Mutex
	live []diagnose.Verdict
	ch   chan diagnose.Verdict
	subs int
}

func (e *fakeEngine) Verdicts() []diagnose.Verdict {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]diagnose.Verdict(nil), e.live...)
}

func (e *fakeEngine) Subscribe() (<-chan diagnose.Verdict, func()) {
	e.mu.Lock()
	e.subs++
	e.mu.Unlock()
	return e.ch, func() {
		e.mu.Lock()
		e.subs--
		e.mu.Unlock()
	}
}

// TestFollow: a new verdict is written as it is published, and when Follow
// ends (its goroutine returns, unsubscribed) the live verdicts' last counts
// are written too.
func TestFollow(t *testing.T) {
	c := newClock()
	s := open(t, c, nil)
	e := &fakeEngine{ch: make(chan diagnose.Verdict)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Follow(ctx, e, time.Hour)
	}()
	v := verdict(c, "1", "a.test.", "NXDOMAIN", diagnose.NXDomainConfirmed, 0, 0)
	e.ch <- v
	// Unbuffered: once a second is taken, Follow has handed on the first.
	e.ch <- verdict(c, "2", "b.test.", "NXDOMAIN", diagnose.NXDomainConfirmed, 0, 0)
	syncStore(t, s)
	if got, ok, _ := s.Verdict(context.Background(), "1"); !ok || got.Count != 1 {
		t.Fatalf("published verdict: %+v, %v", got, ok)
	}
	v.Count, v.LastSeen = 7, v.LastSeen.Add(time.Minute)
	e.mu.Lock()
	e.live = []diagnose.Verdict{v}
	e.mu.Unlock()
	cancel()
	<-done
	syncStore(t, s)
	if got, _, _ := s.Verdict(context.Background(), "1"); got.Count != 7 {
		t.Errorf("count after Follow ended: %d, want 7", got.Count)
	}
	if e.subs != 0 {
		t.Error("Follow left its subscription")
	}
}
