package proxy

import (
	"context"
	"github.com/nxray/nxray/internal/upstream"
	"net"

	"errors"
	"strings"
	"syscall"

	"github.com/miekg/dns"
)

// maxEDEText bounds the EXTRA-TEXT nxray writes, so the answer fits.
const maxEDEText = 300

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
	ups, errs := upstream.Failures(err)
	if len(ups) == 0 {
		return err.Error(), false
	}
	parts := make([]string, len(ups))
	allTimeouts := true
	for i, e := range errs {
		reason := "failed: " + e.Error()
		switch r := upstream.Reason(e); {
		case r != "": // TLS or HTTPS: the certificate, the handshake, the status
			reason = "failed: " + r
			allTimeouts = allTimeouts && isTimeout(e)
		case isTimeout(e):
			reason = "timed out"
		case errors.Is(e, syscall.ECONNREFUSED):
			reason = "refused the connection"
			allTimeouts = false
		default:
			allTimeouts = false
		}
		parts[i] = ups[i] + " " + reason
	}
	return strings.Join(parts, "; "), allTimeouts
}

// isTimeout tells a try that got no answer in time from one that failed.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
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
