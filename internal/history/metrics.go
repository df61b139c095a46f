package history

import "github.com/prometheus/client_golang/prometheus"

// Collectors are the store's metrics, read at scrape time, for the status
// page's registry.
func (s *Store) Collectors() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "nxray_history_written_total",
			Help: "Queries committed to the query log on disk."},
			func() float64 { return float64(s.written.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "nxray_history_dropped_total",
			Help: "Queries and verdicts not written to history: the writer fell behind, or history could not be written."},
			func() float64 { return float64(s.dropped.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nxray_history_up",
			Help: "1 while history is being written, 0 while it is not (the status page says why)."},
			func() float64 {
				if ok, _ := s.Health(); ok {
					return 1
				}
				return 0
			}),
	}
}
