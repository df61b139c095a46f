package upstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"syscall"
)

// ReasonError is a failure to reach an encrypted upstream (DNS over TLS or
// HTTPS) with a short reason a person can act on, such as "certificate
// signed by unknown authority" or "handshake timed out": the text the
// client's EDE and the diagnosis carry.
type ReasonError struct {
	Reason string // short, lowercase, never empty
	Err    error  // what the reason was read from
}

func (e *ReasonError) Error() string { return e.Reason }
func (e *ReasonError) Unwrap() error { return e.Err }

// Reason is the short reason err carries, or "" when it is not a failure
// to connect or talk to an encrypted upstream.
func Reason(err error) string {
	var re *ReasonError
	if errors.As(err, &re) {
		return re.Reason
	}
	return ""
}

// dialFailed names why a TCP connection to an encrypted upstream failed.
func dialFailed(err error) error {
	reason := "connect failed: " + err.Error()
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		reason = "connection refused"
	case errors.Is(err, context.Canceled):
		return err
	case isTimeout(err):
		reason = "connect timed out"
	}
	return &ReasonError{Reason: reason, Err: err}
}

// handshakeFailed names why a TLS handshake failed: the certificate's
// fault, the server's, or time.
func handshakeFailed(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	return &ReasonError{Reason: tlsReason(err), Err: err}
}

func tlsReason(err error) string {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		header   tls.RecordHeaderError
		alert    tls.AlertError
	)
	switch {
	case isTimeout(err):
		return "handshake timed out"
	case errors.As(err, &unknown):
		return "certificate signed by unknown authority"
	case errors.As(err, &hostname):
		return strings.TrimPrefix(hostname.Error(), "x509: ")
	case errors.As(err, &invalid):
		return strings.TrimPrefix(invalid.Error(), "x509: ")
	case errors.As(err, &header):
		return "server does not speak TLS"
	case errors.As(err, &alert):
		return "server sent TLS alert: " + strings.TrimPrefix(alert.Error(), "tls: ")
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, net.ErrClosed):
		return "connection reset during handshake"
	}
	return "handshake failed: " + strings.TrimPrefix(err.Error(), "tls: ")
}

// dialTLS connects to addr and completes the TLS handshake with cfg, by
// ctx's deadline. Its errors are ReasonErrors (or ctx's cancellation).
func dialTLS(ctx context.Context, addr string, cfg *tls.Config) (*tls.Conn, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, dialFailed(err)
	}
	c := tls.Client(raw, cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, handshakeFailed(err)
	}
	return c, nil
}

// tlsConfig is base (nil: the system roots) for one upstream: it checks
// that the certificate carries name, or the IP of addr when name is "".
func tlsConfig(base *tls.Config, addr, name string, protos ...string) *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if base != nil {
		cfg = base.Clone()
	}
	if name == "" {
		name, _, _ = net.SplitHostPort(addr)
	}
	cfg.ServerName = name
	if len(protos) > 0 {
		cfg.NextProtos = protos
	}
	return cfg
}
