// Package dnscache is nxray's answer cache and the packet scanning it rests
// on. Answers are kept packed, with ID 0, in two sharded LRUs (one for
// answers with records, one for negative answers, behind a doorkeeper), and
// served again by copying their bytes and patching the ID, the RD bit, the
// question's letter case and the TTLs: no unpacking, no allocation. Flush
// and FlushName empty it, or a name and every name under it, on request.
//
// The scanners read just enough of a packed message for that: ParseQuery
// reads a plain query and its cache key, Scan where each TTL, the OPT record
// and the negative answer's SOA sit, and PlainAnswer whether an upstream's
// answer may be cached and passed on without unpacking. What they do not
// vouch for, callers unpack with miekg/dns.
package dnscache
