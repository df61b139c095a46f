// Package realdns runs a private DNS tree with real DNS software from
// Debian, for integration tests: BIND 9 serves a DNSSEC-signed root, the
// TLD test. and a child zone per fault (signed with dnssec-signzone), and
// Unbound resolvers (validating, non-validating, filtering, refusing) use
// the private root's trust anchor; one more Unbound serves notcp.test. from
// local data over UDP only, so that a too-big answer cannot be had.
// Everything listens on 127.0.1.x port 53 (Unbound follows glue to port 53
// only), so it needs root and the packages bind9, bind9-utils, unbound and
// iproute2, which Available checks; dnsmasq-base and knot-resolver run the
// resolvers beside them when present.
//
// Beside the one-fault zones (zones.go), scenarios.go holds the cases where
// a failure is not where it first seems to be: aliases (CNAME, DNAME) into
// other zones, NS names without glue or without any address, eleven silent
// servers of twelve, two servers with different copies of a zone, a zone
// whose registrar still lists the old provider, a zone signed with ED448, one
// server for a zone and its child, and a zone with 400 NS. The tests hold
// the silent servers themselves (black holes that read and never answer).
// Every address a zone hands out is in 127.0.0.0/8.
//
// nxray's own lab (internal/lab) is written by us and can only agree with
// us; this package checks the diagnosis against the software users run.
package realdns
