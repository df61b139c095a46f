// Package adapt joins the proxy to the diagnosis engine, which never import
// each other: it turns the proxy's failures (proxy.Failure) into what the
// engine explains (diagnose.Failure) and hands them over as the proxy's
// Observer; the engine itself is the proxy's Annotator, which turns
// verdicts into Extended DNS Errors. cmd/nxray assembles nxray with it, and
// tests that run the proxy and the engine together use it too.
//
// It owns no state and starts nothing.
package adapt
