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

// BenchmarkWriter is the writer's pace: b.N query log rows committed in
// transactions of 4096 rows, with every index in place. It reports rows
// per second.
func BenchmarkWriter(b *testing.B) {
	s, err := Open(Config{Path: filepath.Join(b.TempDir(), "history.db"), MaxQueries: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const batch = 4096
	rows := make([]foldRow, batch)
	now := time.Now().UnixNano()
	for i := range rows {
		rows[i] = foldRow{key: foldKey{client: netip.AddrFrom4([4]byte{127, 0, 0, byte(i)}),
			name: "host" + strconv.Itoa(i%500) + ".example.com.", qtype: 1, rcode: i % 4, upstream: "192.0.2.53:53"},
			first: now + int64(i), last: now + int64(i), n: 1, dur: time.Millisecond}
	}
	w := &writer{s: s, noPause: true} // the cost of a row, not the rests that spread it
	ctx := context.Background()
	b.ResetTimer()
	for done := 0; done < b.N; done += batch {
		w.rows = rows[:min(batch, b.N-done)]
		if err := w.insert(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkLogQuery is what the query log costs a query: LogQuery of a
// cache hit's query, over 1000 names from one client, from every P at
// once, as the proxy's readers call it. The writer takes the rows every
// second as it runs.
func BenchmarkLogQuery(b *testing.B) {
	s, err := Open(Config{Path: filepath.Join(b.TempDir(), "history.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	names := make([]string, 1000)
	for i := range names {
		names[i] = "host" + strconv.Itoa(i) + ".example.com."
	}
	client := netip.MustParseAddr("127.0.0.1")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			s.LogQuery(proxy.Query{Time: time.Now(), Client: client, Name: names[i%len(names)], Qtype: 1,
				Cached: true, Duration: 20 * time.Microsecond})
		}
	})
}
