package status

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind once its servers, streams and
// browsers are shut down.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
