package proxy

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind once its servers are shut down.
// NXRAY_TEST_PKTINFO=1 runs every test with UDP served as on a wildcard
// address (pktinfo.go), on loopback: scripts/test.sh runs them both ways.
func TestMain(m *testing.M) {
	forcePktinfo = os.Getenv("NXRAY_TEST_PKTINFO") != ""
	goleak.VerifyTestMain(m)
}
