// Package proxy is nxray's data path: UDP and TCP listeners, the client ACL,
// the answer cache, the upstream pool (failover, parallel or random, with
// health probes) and the hand-off of every failed answer to an Observer.
//
// The hot path is a UDP cache hit: udp.go's readers answer it from the
// packet's bytes (fastpath.go) without unpacking or allocating. A plain UDP
// miss is sent upstream by the reader too, on a socket shared with other
// misses (udpmiss.go, mux.go), whose goroutine finishes it when the answer
// comes; everything else goes through ServeDNS (handler.go), as TCP queries
// do: tcp.go reads each connection's pipelined queries and answers them
// concurrently.
//
// It does not explain failures: it reports them through the Observer
// interface, which internal/adapt connects to the diagnosis engine, and it
// never imports package diagnose. Handing a failure over never blocks a
// query.
package proxy
