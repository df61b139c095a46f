package proxy

import (
	"errors"
	"strings"
	"syscall"

	"github.com/miekg/dns"
)

// maxEDEText bounds the EXTRA-TEXT nxray writes, so the answer fits.
const maxEDEText = 300

// upstreamError is one upstream's failure on one try.
type upstreamError struct {
	upstream string
	err      error
}

func (e *upstreamError) Error() string { return e.upstream + ": " + e.err.Error() }
func (e *upstreamError) Unwrap() error { return e.err }

// noUpstreamAnswer is nxray's SERVFAIL for a query no upstream answered,
// with an Extended DNS Error saying which upstreams failed and how:
// 22 No Reachable Authority when all timed out, else 23 Network Error.
func noUpstreamAnswer(req *dns.Msg, err error) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(req, dns.RcodeServerFailure)
	m.RecursionAvailable = true
	if req.IsEdns0() == nil {
		return m
	}
	text, allTimeouts := describeFailures(err)
	code := dns.ExtendedErrorCodeNetworkError
	if allTimeouts {
		code = dns.ExtendedErrorCodeNoReachableAuthority
	}
	o := newOPT(false)
	o.Option = append(o.Option, &dns.EDNS0_EDE{InfoCode: code, ExtraText: clip("nxray: no upstream answered: "+text, maxEDEText)})
	m.Extra = append(m.Extra, o)
	return m
}

// describeFailures turns the pool's joined errors into "addr reason; ...".
func describeFailures(err error) (string, bool) {
	var parts []string
	allTimeouts := true
	var walk func(error)
	walk = func(e error) {
		var ue *upstreamError
		if errors.As(e, &ue) && e == error(ue) {
			reason := "failed: " + ue.err.Error()
			switch {
			case isTimeout(ue.err):
				reason = "timed out"
			case errors.Is(ue.err, syscall.ECONNREFUSED):
				reason = "refused the connection"
				allTimeouts = false
			default:
				allTimeouts = false
			}
			parts = append(parts, ue.upstream+" "+reason)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, c := range j.Unwrap() {
				walk(c)
			}
			return
		}
		if u := errors.Unwrap(e); u != nil {
			walk(u)
		}
	}
	walk(err)
	if len(parts) == 0 {
		return err.Error(), false
	}
	return strings.Join(parts, "; "), allTimeouts
}

// clip cuts s to at most n bytes without splitting a UTF-8 sequence.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
