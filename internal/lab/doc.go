// Package lab runs small in-process DNS servers on loopback for tests and
// for "nxray demo": today one lab resolver that answers the zone nxray.test
// with healthy names, a name that does not exist, a name that fails DNSSEC
// validation and a name it refuses. It never sends traffic anywhere.
package lab
