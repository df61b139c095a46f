// Package lab runs small in-process DNS servers on loopback for tests and
// for "nxray demo". It never sends traffic anywhere but 127.0.0.0/8.
//
// StartHierarchy (hierarchy*.go, zones*.go, resolve*.go) is a whole private
// DNS tree, so the diagnosis engine can be tested the way an expert works
// with dig: a signed root on 127.0.0.10 (the lab's trust anchor is its KSK's
// DS), the TLD test. on 127.0.0.11, and children of test. each healthy or
// broken in one way (ok, dsmismatch, expired, lame, dead, partial,
// nsmismatch), each on its own 127.0.0.x, all on one port. In front of them
// sit five iterative resolvers (127.0.0.30-34): validating, nonvalidating,
// filtering, refusing and stale, which fail the way real resolvers do,
// with RFC 8914 Extended DNS Errors on SERVFAIL.
//
// The package owns the lab's zone data, keys and servers. It does not own
// diagnosis: it only makes failures to diagnose.
package lab
