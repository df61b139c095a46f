// Package status is nxray's HTTP side: the status page, the JSON API under
// /api/v1, live updates over Server-Sent Events, /healthz and the
// Prometheus metrics at /metrics.
//
// It owns the HTTP server, its security headers and bearer-token check, and
// Metrics, which the proxy calls on every answer and upstream try
// (proxy.Recorder). It reads the proxy and the diagnosis engine only through
// the small Proxy and Engine interfaces it declares; it neither forwards
// queries nor diagnoses them. cmd/nxray builds a Server from the
// configuration.
//
// Everything a DNS name can hold (<, ", &, any byte) reaches the page through
// html/template or the DOM's textContent, never as markup, and the
// Content-Security-Policy forbids inline script, so a hostile name shows as
// text.
package status
