// Package proxy is nxray's data path: UDP and TCP listeners, the client ACL,
// the answer cache, the upstream pool (failover, parallel or random, with
// health probes) and the hand-off of every failed answer to an Observer.
//
// It does not explain failures: it reports them through the Observer
// interface, which cmd/nxray wires to the diagnosis engine, and it never
// imports package diagnose. Handing a failure over never blocks a query.
package proxy
