package upstream

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/nxray/nxray/internal/dnstest"
	"go.uber.org/goleak"
)

// dohServer is an HTTP/2 DNS-over-HTTPS server on 127.0.0.1 answering
// with answer; it records the method and ID of each query it gets and
// the connections it opened.
type dohServer struct {
	*httptest.Server
	mu      sync.Mutex // guards methods and ids
	methods []string
	ids     []uint16
	protos  []string
	conns   atomic.Int64
}

func startDoH(t *testing.T, cert tls.Certificate, status int, answer func(*dns.Msg) *dns.Msg) *dohServer {
	t.Helper()
	s := &dohServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b []byte
		if r.Method == http.MethodGet {
			b, _ = base64.RawURLEncoding.DecodeString(r.URL.Query().Get("dns"))
		} else {
			b, _ = io.ReadAll(r.Body)
		}
		q := new(dns.Msg)
		if r.URL.Path != "/dns-query" || q.Unpack(b) != nil {
			http.Error(w, "bad query", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.methods, s.ids, s.protos = append(s.methods, r.Method), append(s.ids, q.Id), append(s.protos, r.Proto)
		s.mu.Unlock()
		if status != http.StatusOK {
			http.Error(w, "no", status)
			return
		}
		out, _ := answer(q).Pack()
		w.Header().Set("Content-Type", "application/dns-message")
		w.Write(out)
	}))
	s.EnableHTTP2 = true
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func newDoHTransport(t *testing.T, srv *dohServer, name string, get bool, ca *dnstest.CA) *dohTransport {
	addr := strings.TrimPrefix(srv.URL, "https://")
	tr := NewDoH(addr, name, "/dns-query", get, ca.ClientConfig(), time.Minute, new(atomic.Uint64))
	t.Cleanup(tr.Close)
	return tr
}

// TestDoHPostAndGet: queries go as POST or GET over HTTP/2 with ID 0, and
// the answers come back with the caller's ID, all on one connection.
func TestDoHPostAndGet(t *testing.T) {
	ca, cert := testCA(t)
	for _, get := range []bool{false, true} {
		srv := startDoH(t, cert, http.StatusOK, answerA)
		tr := newDoHTransport(t, srv, "dns.test", get, ca)
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				q := new(dns.Msg).SetQuestion("x.test.", dns.TypeA)
				q.Id = uint16(1000 + i)
				b, _ := q.Pack()
				r, err := tr.Exchange(context.Background(), b, time.Now().Add(5*time.Second))
				if err != nil {
					t.Error(err)
					return
				}
				if r.Unpack() != nil || r.Msg.Id != q.Id || len(r.Msg.Answer) != 1 {
					t.Errorf("answer %v, want ID %d and an A record", r.Msg, q.Id)
				}
			}()
		}
		wg.Wait()
		want := http.MethodPost
		if get {
			want = http.MethodGet
		}
		srv.mu.Lock()
		for i := range srv.methods {
			if srv.methods[i] != want || srv.ids[i] != 0 || srv.protos[i] != "HTTP/2.0" {
				t.Errorf("query %d: %s %s ID %d, want %s HTTP/2.0 ID 0", i, srv.methods[i], srv.protos[i], srv.ids[i], want)
			}
		}
		srv.mu.Unlock()
		if n := srv.conns.Load(); n != 1 {
			t.Errorf("%d connections, want 1", n)
		}
	}
}

// TestDoHFailures: a status other than 200, a wrong CA and a wrong name
// each give a reason naming it.
func TestDoHFailures(t *testing.T) {
	ca, cert := testCA(t)
	ok := startDoH(t, cert, http.StatusOK, answerA)
	bad := startDoH(t, cert, http.StatusBadRequest, answerA)
	for _, tt := range []struct {
		name   string
		srv    *dohServer
		server string
		ca     *dnstest.CA
		want   string
	}{
		{"status", bad, "", ca, "HTTP status 400 Bad Request"},
		{"wrong CA", ok, "", dnstest.NewCA(t), "certificate signed by unknown authority"},
		{"wrong name", ok, "other.test", ca, "certificate is valid for dns.test, not other.test"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr := newDoHTransport(t, tt.srv, tt.server, false, tt.ca)
			_, err := exchange(t, tr, "a.test.", 5*time.Second)
			if got := Reason(err); !strings.Contains(got, tt.want) {
				t.Errorf("reason %q (%v), want %q", got, err, tt.want)
			}
		})
	}
}

// TestDoHDeadline: a server that does not answer in time ends the query
// at its deadline.
func TestDoHDeadline(t *testing.T) {
	ca, cert := testCA(t)
	release := make(chan struct{})
	srv := startDoH(t, cert, http.StatusOK, func(q *dns.Msg) *dns.Msg { <-release; return answerA(q) })
	defer close(release)
	tr := newDoHTransport(t, srv, "", false, ca)
	if _, err := exchange(t, tr, "a.test.", 200*time.Millisecond); !isTimeout(err) {
		t.Errorf("%v, want a timeout", err)
	}
}

// TestDoHCloseEndsConnections: once its queries are done, Close ends the
// transport's connections and the goroutines that read them.
func TestDoHCloseEndsConnections(t *testing.T) {
	ca, cert := testCA(t)
	srv := startDoH(t, cert, http.StatusOK, answerA)
	before := goleak.IgnoreCurrent()
	tr := NewDoH(strings.TrimPrefix(srv.URL, "https://"), "", "/dns-query", false, ca.ClientConfig(), time.Minute, new(atomic.Uint64))
	for range 3 {
		if _, err := exchange(t, tr, "a.test.", 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	tr.Close()
	goleak.VerifyNone(t, before)
}

// TestDoTCloseEndsConnections: the same for DNS over TLS, with queries in
// flight as Close comes: they finish, then the connection closes.
func TestDoTCloseEndsConnections(t *testing.T) {
	ca, cert := testCA(t)
	release := make(chan struct{})
	srv := startDoT(t, cert, func(q *dns.Msg) *dns.Msg {
		if q.Question[0].Name == "a.test." {
			<-release
		}
		return answerA(q)
	})
	before := goleak.IgnoreCurrent()
	tr := NewDoT(context.Background(), srv.addr, "", ca.ClientConfig(), time.Minute, new(atomic.Uint64))
	done := make(chan error, 1)
	go func() {
		_, err := exchange(t, tr, "a.test.", 5*time.Second)
		done <- err
	}()
	waitFor(t, func() bool {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return len(tr.conns) == 1 && len(tr.conns[0].pending) == 1
	})
	tr.Close()
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("the query in flight at Close: %v", err)
	}
	// A try after Close (a reload, with queries of the old pool still
	// moving on) still goes out, and its connection closes after it.
	if _, err := exchange(t, tr, "b.test.", 5*time.Second); err != nil {
		t.Errorf("after Close: %v", err)
	}
	tr.wait()
	goleak.VerifyNone(t, before)
}
