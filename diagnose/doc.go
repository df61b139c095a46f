// Package diagnose explains DNS failures. Given what the probes found about
// a failing name (the alternates' answers with and without DNSSEC checking,
// the delegation, every authoritative server's answer, the DNSSEC chain and
// the negative answer's SOA), Classify names one cause from a fixed list and
// says, in a sentence, what happened, naming the servers involved, and
// where the fix is.
//
// Built so far: the causes, the findings the classifier reads, and the
// classifier itself, a pure function with table tests. Still to come (the
// diagnosis engine issue): the probes that gather findings, the bounded
// queue fed by the proxy's Observer, the verdict store and its slog line.
// The proxy never imports this package; cmd/nxray will wire them.
package diagnose
