package status

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/nxray/nxray/diagnose"
)

// maxStreams bounds open event streams; beyond it a new one gets 503.
const maxStreams = 64

// hub holds the one subscription to the engine: it counts each verdict's
// cause for /metrics, then fans the verdict out to the open event streams.
// Counting before fanning out means that whoever saw a verdict on a stream
// finds it already counted in /metrics.
type hub struct {
	metrics *Metrics

	mu      sync.Mutex // guards streams
	streams map[chan diagnose.Verdict]struct{}
}

func newHub(m *Metrics) *hub {
	return &hub{metrics: m, streams: map[chan diagnose.Verdict]struct{}{}}
}

// run forwards the verdicts of a subscription until ctx ends. The caller
// subscribes, so that no verdict made after Start returns is missed.
func (h *hub) run(ctx context.Context, ch <-chan diagnose.Verdict, unsubscribe func()) {
	defer unsubscribe()
	for {
		select {
		case <-ctx.Done():
			return
		case v := <-ch:
			h.metrics.verdict(v.Cause)
			h.mu.Lock()
			for s := range h.streams {
				select {
				case s <- v:
				default: // a stream that does not keep up misses this one
				}
			}
			h.mu.Unlock()
		}
	}
}

// join opens a stream; ok is false when too many are open.
func (h *hub) join() (chan diagnose.Verdict, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.streams) >= maxStreams {
		return nil, false
	}
	ch := make(chan diagnose.Verdict, 16)
	h.streams[ch] = struct{}{}
	return ch, true
}

func (h *hub) leave(ch chan diagnose.Verdict) {
	h.mu.Lock()
	delete(h.streams, ch)
	h.mu.Unlock()
}

// events streams each new verdict as a Server-Sent Event named "verdict"
// whose data is the verdict's JSON, filtered as /api/v1/diagnoses is. It
// ends when the client goes or the server shuts down.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	rc := http.NewResponseController(w)
	ch, ok := s.hub.join()
	if !ok {
		writeError(w, http.StatusServiceUnavailable, "too many event streams open")
		return
	}
	defer s.hub.leave(ch)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	// The stream is open (and joined) once the client reads this.
	fmt.Fprint(w, "retry: 3000\n: nxray verdicts\n\n")
	if err := rc.Flush(); err != nil {
		return
	}
	// A comment now and then keeps proxies and idle timers from closing a
	// quiet stream, and notices a client that went away.
	keepalive := time.NewTicker(25 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done(): // the client went, or Shutdown
			return
		case <-keepalive.C:
			fmt.Fprint(w, ": keepalive\n\n")
		case v := <-ch:
			if !f.match(v) {
				continue
			}
			b, err := json.Marshal(v)
			if err != nil {
				continue
			}
			// JSON has no raw newlines, so one data line holds it.
			fmt.Fprintf(w, "event: verdict\nid: %s\ndata: %s\n\n", v.ID, b)
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
