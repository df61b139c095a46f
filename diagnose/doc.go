// Package diagnose explains DNS failures. The Engine takes failures from
// the proxy without blocking (a bounded queue; repeats and zone-wide causes
// are counted onto a verdict already there), and its workers run a Prober
// for each within a probe budget, a global probe rate and a deadline.
// NetProber asks as an expert would with dig: the alternates with and
// without DNSSEC checking, the delegation walked from the root hints, every
// server of the zone (those the parent lists and those the zone's own NS
// set lists), the zone's DNSSEC link, and the zones an alias leads to.
// Every probe passes one guard first (guard.go): whatever NS records or
// glue lead to, nothing is sent to diagnosis.deny_networks or to nxray's
// own listen addresses; such a server is "not probed", never "dead".
// Classify, a pure function, names one cause from a fixed list (cause.go)
// and says in a sentence what happened, naming the servers involved, and
// where the fix is. Verdicts are stored (bounded, with a TTL), logged,
// published to subscribers and turned into Extended DNS Errors for later
// answers (annotate.go). Explain runs one diagnosis on demand, outside the
// engine's queue (nxray explain and the status page's explain).
//
// The proxy never imports this package, nor this package the proxy:
// internal/adapt turns the proxy's failures into Failure and hands them to
// Engine.Observe; the Engine is the proxy's Annotator as it stands.
package diagnose
