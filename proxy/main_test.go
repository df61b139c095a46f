package proxy

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind once its servers are shut down.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
