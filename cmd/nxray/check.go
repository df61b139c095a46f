package main

import (
	"context"
	"log/slog"

	"github.com/nxray/nxray/proxy"
)

// At start, nxray asks each upstream, of the default pool and of every
// forward zone, one question and names in a warning any that does not
// answer, as Blocky and AdGuard Home do: a mistyped address shows at once,
// not at the first query that times out. nxray starts and serves
// regardless; the check waits on no one.

// upstreamChecker is what the check needs of the proxy; *proxy.Server has
// it. CheckUpstreams waits for every question it sends and returns once
// each is answered or timed out, or ctx ends.
type upstreamChecker interface {
	CheckUpstreams(ctx context.Context) []proxy.CheckFailure
}

// upstreamCheck is the start-up check under way, on a goroutine of its
// own that stop ends and waits for.
type upstreamCheck struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine has returned
}

// startUpstreamCheck asks every upstream of c once, in the background,
// logging a warning "upstream not answering" for each that does not, then
// one line "upstreams checked".
func startUpstreamCheck(c upstreamChecker, log *slog.Logger) *upstreamCheck {
	ctx, cancel := context.WithCancel(context.Background())
	uc := &upstreamCheck{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(uc.done)
		fails := c.CheckUpstreams(ctx)
		if ctx.Err() != nil {
			return // stopping: an unanswered question says nothing of the upstream
		}
		for _, f := range fails {
			log.Warn("upstream not answering", "upstream", f.Upstream, "zone", f.Zone, "error", f.Err.Error())
		}
		log.Info("upstreams checked", "not_answering", len(fails))
	}()
	return uc
}

// stop ends the check, if it still runs, and waits for its goroutine.
func (uc *upstreamCheck) stop() {
	uc.cancel()
	<-uc.done
}
