package history

import (
	"context"
	"net/netip"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nxray/nxray/proxy"
)

// BenchmarkWriter is the writer's pace: b.N query rows committed in
// batches as a busy queue gives them (maxBatch rows a transaction), with
// every index in place. It reports rows per second.
func BenchmarkWriter(b *testing.B) {
	s, err := Open(Config{Path: filepath.Join(b.TempDir(), "history.db"), MaxQueries: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rows := make([]proxy.Query, maxBatch)
	now := time.Now()
	for i := range rows {
		rows[i] = proxy.Query{Time: now.Add(time.Duration(i)), Client: netip.AddrFrom4([4]byte{127, 0, 0, byte(i)}),
			Name: "host" + strconv.Itoa(i%500) + ".example.com.", Qtype: 1, Rcode: i % 4, Upstream: "192.0.2.53:53",
			Duration: time.Millisecond}
	}
	w := &writer{s: s}
	ctx := context.Background()
	b.ResetTimer()
	for done := 0; done < b.N; done += maxBatch {
		w.rows = rows[:min(maxBatch, b.N-done)]
		if err := w.insert(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
