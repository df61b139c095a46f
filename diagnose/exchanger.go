package diagnose

import (
	"context"
	"strings"

	"github.com/miekg/dns"
)

// Exchanger asks encrypted resolvers (DNS over TLS or HTTPS): an upstream,
// alternate or private zone's resolver configured as tls://… or
// https://…, named by that string. Safe for concurrent use. Exchange
// sends q, which stays the caller's, and returns the answer, which is the
// caller's to keep, or an error once ctx ends; an error that names a TLS
// reason (internal/upstream's Reason) is shown as that reason.
type Exchanger interface {
	Exchange(ctx context.Context, server string, q *dns.Msg) (*dns.Msg, error)
}

// encrypted says whether server names an encrypted resolver rather than
// an IP:port.
func encrypted(server string) bool {
	return strings.HasPrefix(server, "tls://") || strings.HasPrefix(server, "https://")
}

// errNoExchanger is a probe of an encrypted resolver with no Exchanger to
// carry it.
type errNoExchanger struct{ server string }

func (e errNoExchanger) Error() string {
	return "no way to ask " + e.server + ": encrypted resolvers need ProbeConfig.Exchanger"
}
