package history

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/nxray/nxray/internal/dnstest"
	"github.com/nxray/nxray/proxy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a test's clock, moved by hand.
type clock = dnstest.Clock

func newClock() *clock { return dnstest.NewClock() }

// open opens a store in a new directory with c's clock; mod changes the
// config first. The store is closed when the test ends. Its writer writes
// the query log at Sync only, so that a test decides what one write holds.
func open(t *testing.T, c *clock, mod func(*Config)) *Store {
	t.Helper()
	cfg := Config{Path: filepath.Join(t.TempDir(), "history.db"), Now: c.Now, FlushEvery: time.Hour}
	if mod != nil {
		mod(&cfg)
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func syncStore(t *testing.T, s *Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
}

// q is a query at c's time plus at.
func q(c *clock, at time.Duration, client, name string, qtype uint16, rcode int) proxy.Query {
	return proxy.Query{Time: c.Now().Add(at), Client: netip.MustParseAddr(client), Name: name, Qtype: qtype,
		Rcode: rcode, Upstream: "192.0.2.53:53", Duration: 1500 * time.Microsecond}
}
