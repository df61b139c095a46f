// Package status is nxray's HTTP side: the status page, the JSON API under
// /api/v1, live updates over Server-Sent Events, /healthz and the
// Prometheus metrics at /metrics.
//
// It owns the HTTP server, its security headers and bearer-token check, and
// Metrics, which the proxy calls on every answer and upstream try
// (proxy.Recorder). It reads the proxy and the diagnosis engine only through
// the small Proxy, Engine and Flusher interfaces it declares; it neither
// forwards queries nor diagnoses them. Its one write is the cache flush
// (POST /api/v1/cache/flush, and the page's "flush and ask again" form). cmd/nxray builds a Server from the
// configuration.
//
// It answers only requests whose Host is its own (loopback names and
// addresses, its address, the configured further hosts), so that a page
// whose name an attacker rebinds to 127.0.0.1 can neither read it nor drive
// it, and it refuses requests a browser says come from another site when
// they would read data or make nxray probe; curl and scripts, which send no
// such headers, are not affected.
//
// Everything a DNS name can hold (<, ", &, any byte) reaches the page through
// html/template or the DOM's textContent, never as markup, and the
// Content-Security-Policy forbids inline script, so a hostile name shows as
// text.
package status
