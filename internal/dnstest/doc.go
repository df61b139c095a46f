// Package dnstest is the kit that nxray's tests share: DNS servers on
// loopback (Start, StartAt, Serve, with the handler AnswerA), addresses
// that never answer (DeadAddr, Blackhole), a settable clock (Clock) and a
// slog.Handler a test can wait on (Log), and a private certificate
// authority for TLS servers (NewCA).
//
// Every server it starts listens on 127.0.0.0/8 or ::1 only, and stops at
// the test's cleanup, which waits for its goroutines; nothing here sends a
// packet anywhere. Waits fail the test after a timeout rather than hang,
// and none of them sleeps.
//
// It is imported only by _test.go files. It owns no DNS behaviour beyond
// what a test hands it: handlers, zones and the lab's hierarchy live with
// the tests that use them (internal/lab for a whole DNS tree).
package dnstest
