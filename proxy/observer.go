package proxy

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Failure is one answer a client received with rcode NXDOMAIN, SERVFAIL or
// REFUSED, or a query that no upstream answered.
type Failure struct {
	Time   time.Time
	Client netip.Addr
	Name   string // as the client sent it
	Qtype  uint16
	Qclass uint16
	Rcode  int
	// Upstream is the upstream whose answer the client got; empty when no
	// upstream answered (Err is then set) or the answer came from the cache.
	Upstream string
	Cached   bool
	// EDE holds the Extended DNS Errors of the upstream's answer.
	EDE []dns.EDNS0_EDE
	// Err says why no upstream answered; nil when one did.
	Err error
}

// Observer receives failures. Observe is called on the query path from many
// goroutines at once; it must return at once and never block. The Failure is
// a copy the observer may keep.
type Observer interface {
	Observe(Failure)
}

// LogObserver logs each failure it is handed, one "failure" line each, from
// its own goroutine. When its queue is full it drops and counts.
type LogObserver struct {
	log     *slog.Logger
	queue   chan Failure
	dropped atomic.Uint64
	wg      sync.WaitGroup
	cancel  context.CancelFunc
}

var _ Observer = (*LogObserver)(nil)

// NewLogObserver starts a LogObserver with room for size waiting failures.
// Close stops it.
func NewLogObserver(log *slog.Logger, size int) *LogObserver {
	ctx, cancel := context.WithCancel(context.Background())
	o := &LogObserver{log: log, queue: make(chan Failure, size), cancel: cancel}
	o.wg.Add(1)
	go o.run(ctx)
	return o
}

// Observe queues f for logging, or drops it when the queue is full.
func (o *LogObserver) Observe(f Failure) {
	select {
	case o.queue <- f:
	default:
		o.dropped.Add(1)
	}
}

// Dropped counts the failures that found the queue full.
func (o *LogObserver) Dropped() uint64 { return o.dropped.Load() }

// Close logs what is queued, then stops the logging goroutine and waits
// for it.
func (o *LogObserver) Close() {
	o.cancel()
	o.wg.Wait()
}

func (o *LogObserver) run(ctx context.Context) {
	defer o.wg.Done()
	for {
		select {
		case f := <-o.queue:
			o.logFailure(f)
		case <-ctx.Done():
			for { // what was queued before Close is still logged
				select {
				case f := <-o.queue:
					o.logFailure(f)
				default:
					return
				}
			}
		}
	}
}

func (o *LogObserver) logFailure(f Failure) {
	attrs := []any{"name", f.Name, "qtype", dns.TypeToString[f.Qtype],
		"rcode", dns.RcodeToString[f.Rcode], "upstream", f.Upstream, "cached", f.Cached}
	for _, e := range f.EDE {
		attrs = append(attrs, "ede", e.String())
	}
	if f.Err != nil {
		attrs = append(attrs, "error", f.Err.Error())
	}
	o.log.Info("failure", attrs...)
}
