// Package wire joins the proxy to the diagnosis engine. The proxy declares
// what it needs (an Observer of failures, an Annotator) and never imports
// the engine; this package adapts one to the other, for cmd/nxray and for
// the tests that run both.
package wire
