package status

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/proxy"
)

// fakeEngine holds fixed verdicts and lets a test publish new ones.
type fakeEngine struct {
	mu       sync.Mutex
	verdicts []diagnose.Verdict // newest first
	subs     []chan diagnose.Verdict
	// subscribed is closed on the first Subscribe, so a test knows the
	// server's hub is listening before it publishes.
	subscribed chan struct{}
	once       sync.Once
}

func newFakeEngine(vs ...diagnose.Verdict) *fakeEngine {
	return &fakeEngine{verdicts: vs, subscribed: make(chan struct{})}
}

func (e *fakeEngine) Verdicts() []diagnose.Verdict {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]diagnose.Verdict(nil), e.verdicts...)
}

func (e *fakeEngine) Get(id string) (diagnose.Verdict, bool) {
	for _, v := range e.Verdicts() {
		if v.ID == id {
			return v, true
		}
	}
	return diagnose.Verdict{}, false
}

func (e *fakeEngine) Subscribe() (<-chan diagnose.Verdict, func()) {
	ch := make(chan diagnose.Verdict, 16)
	e.mu.Lock()
	e.subs = append(e.subs, ch)
	e.mu.Unlock()
	e.once.Do(func() { close(e.subscribed) })
	return ch, func() {}
}

func (e *fakeEngine) Stats() diagnose.Stats {
	return diagnose.Stats{Diagnosed: uint64(len(e.Verdicts())), Dropped: 2, Probes: 40}
}

// publish stores v and hands it to every subscriber, as the engine does.
func (e *fakeEngine) publish(v diagnose.Verdict) {
	e.mu.Lock()
	e.verdicts = append([]diagnose.Verdict{v}, e.verdicts...)
	subs := e.subs
	e.mu.Unlock()
	for _, ch := range subs {
		ch <- v
	}
}

type fakeProxy struct{}

func (fakeProxy) Stats() proxy.Stats {
	return proxy.Stats{Queries: 10, CacheHits: 3, CacheMisses: 7, Rcodes: map[string]uint64{"NOERROR": 6, "NXDOMAIN": 4}}
}

func (fakeProxy) Upstreams() []proxy.UpstreamState {
	return []proxy.UpstreamState{{Upstream: "127.0.0.1:5300"}, {Upstream: "127.0.0.2:5300", Down: true}}
}

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func verdict(id, name string, cause diagnose.Cause) diagnose.Verdict {
	return diagnose.Verdict{ID: id, Name: name, Qtype: "A", Rcode: "SERVFAIL", Cause: cause,
		Summary: "summary of " + name, Advice: "advice for " + name, Upstream: "127.0.0.1:5300",
		FirstSeen: t0, LastSeen: t0.Add(time.Minute), Count: 2, DurationMS: 150,
		Evidence: []diagnose.Evidence{{Server: "127.0.0.12:53", Role: "authoritative", Query: name + " A +norec",
			Rcode: "REFUSED", RTTms: 1.5}}}
}

// sampleVerdicts are three verdicts, newest first.
func sampleVerdicts() []diagnose.Verdict {
	return []diagnose.Verdict{
		verdict("c", "www.lame.test.", diagnose.LameDelegation),
		verdict("b", "www.dsmismatch.test.", diagnose.DNSSECBogus),
		verdict("a", "nothere.ok.test.", diagnose.NXDomainConfirmed),
	}
}

// newTestServer builds a server that is never bound: tests call its handler.
func newTestServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.Engine == nil {
		cfg.Engine = newFakeEngine(sampleVerdicts()...)
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return t0.Add(time.Hour) }
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// get runs one request through the handler. It comes for 127.0.0.1:8053
// (httptest's example.com is not a host the server answers to) unless a
// "Host" header names another.
func get(t *testing.T, s *Server, target string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	return do(t, s, http.MethodGet, target, header...)
}

// do runs one request with method through the handler; see get.
func do(t *testing.T, s *Server, method, target string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	// A deadline, so that an event stream the server should have refused
	// ends the test with a failure rather than hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r := httptest.NewRequestWithContext(ctx, method, target, nil)
	r.Host = "127.0.0.1:8053"
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			r.Host = header[i+1]
			continue
		}
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	return w
}

func decode[T any](t *testing.T, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("%d %s: %v", w.Code, w.Body, err)
	}
	return v
}
