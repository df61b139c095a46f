// Package realdns runs a private DNS tree with real DNS software from
// Debian, for integration tests: BIND 9 serves a DNSSEC-signed root, the
// TLD test. and a child zone per fault (signed with dnssec-signzone), and
// Unbound resolvers (validating, non-validating, filtering, refusing) use
// the private root's trust anchor; one more Unbound serves notcp.test. from
// local data over UDP only, so that a too-big answer cannot be had. Everything listens on 127.0.1.x port 53
// (Unbound follows glue to port 53 only), so it needs root and the
// packages bind9, bind9-utils and unbound; Available says what is missing.
//
// nxray's own lab (internal/lab) is written by us and can only agree with
// us; this package checks the diagnosis against the software users run.
package realdns
