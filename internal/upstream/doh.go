package upstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/http2"
)

// dohTransport carries queries to one DNS-over-HTTPS upstream (RFC 8484)
// over HTTP/2 (golang.org/x/net/http2): one connection, dialed once however
// many queries want it at the same moment, carries the queries as streams,
// as many at once as the server's SETTINGS_MAX_CONCURRENT_STREAMS allows;
// beyond that another connection opens rather than a query failing. Every connection goes to addr,
// whatever the URL's host, so that a named upstream is never looked up
// through itself.
type dohTransport struct {
	url        string
	get        bool
	client     *http.Client
	tr         *http2.Transport
	mismatched *atomic.Uint64
	dials      atomic.Int64 // connections established
}

// maxDoHAnswer bounds the body read: a DNS message is at most 64 KiB.
const maxDoHAnswer = dns.MaxMsgSize

// NewDoH returns the DNS-over-HTTPS transport to addr (IP:port) at path,
// checking the certificate with cfg (nil: the system roots) for name, or
// for the IP when name is ""; it POSTs unless get. idle (0: 10s) closes
// unused connections.
func NewDoH(addr, name, path string, get bool, cfg *tls.Config, idle time.Duration, mismatched *atomic.Uint64) *dohTransport {
	if idle <= 0 {
		idle = defaultIdle
	}
	tc := tlsConfig(cfg, addr, name, "h2", "http/1.1")
	host := tc.ServerName
	if _, port, err := net.SplitHostPort(addr); err == nil && port != "443" {
		host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	t := &dohTransport{url: "https://" + host + path, get: get, mismatched: mismatched}
	t.tr = &http2.Transport{
		// Always addr: no proxy, and no lookup of the URL's host.
		DialTLSContext: func(ctx context.Context, _, _ string, _ *tls.Config) (net.Conn, error) {
			c, err := dialTLS(ctx, addr, tc)
			if err == nil {
				t.dials.Add(1)
			}
			return c, err
		},
		TLSClientConfig: tc,
		IdleConnTimeout: idle,
		// A connection that stops answering is found out by a ping
		// rather than by every query on it timing out.
		ReadIdleTimeout: idle,
		PingTimeout:     2 * time.Second,
	}
	t.client = &http.Client{Transport: t.tr}
	return t
}

// Exchange sends q with ID 0 (RFC 8484 section 4.1) and returns its answer
// with q's ID, until deadline or ctx ends. A status other than 200 is an
// error naming it.
func (t *dohTransport) Exchange(ctx context.Context, q []byte, deadline time.Time) (Reply, error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	wire := bytes.Clone(q)
	wire[0], wire[1] = 0, 0
	req, err := t.request(ctx, wire)
	if err != nil {
		return Reply{}, err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return Reply{}, ctxErr(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxDoHAnswer))
		return Reply{}, &ReasonError{Reason: "HTTP status " + resp.Status, Err: fmt.Errorf("HTTP status %d", resp.StatusCode)}
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/dns-message" {
		return Reply{}, &ReasonError{Reason: fmt.Sprintf("answer is %q, not application/dns-message", ct), Err: ErrMismatch}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDoHAnswer+1))
	if err != nil {
		return Reply{}, ctxErr(ctx, err)
	}
	if len(b) > maxDoHAnswer || !Matches(b, wire) {
		t.mismatched.Add(1)
		return Reply{}, ErrMismatch
	}
	copy(b, q[:2])
	return read(b, q)
}

// request is the HTTP request carrying wire: a POST of the message, or a
// GET with it in the dns parameter, base64url without padding.
func (t *dohTransport) request(ctx context.Context, wire []byte) (*http.Request, error) {
	var req *http.Request
	var err error
	if t.get {
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, t.url+"?dns="+base64.RawURLEncoding.EncodeToString(wire), nil)
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(wire))
		if err == nil {
			req.Header.Set("Content-Type", "application/dns-message")
		}
	}
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/dns-message")
	return req, nil
}

// Close closes the idle connections; the queries in flight finish, and
// their connections close once idle.
func (t *dohTransport) Close() { t.tr.CloseIdleConnections() }
