// Package diagnose will explain failures: a bounded queue fed by the proxy's
// Observer, probes of alternate resolvers and of the authoritative servers,
// a classifier that names one cause, and a store of verdicts.
//
// It is empty until the diagnosis engine lands; the proxy never imports it.
package diagnose
