package version

import (
	"runtime"
	"strings"
	"testing"
)

func TestGet(t *testing.T) {
	i := Get()
	if i.Version == "" || i.GoVersion != runtime.Version() {
		t.Errorf("Get() = %+v", i)
	}
	if s := i.String(); !strings.HasPrefix(s, "nxray "+i.Version) || !strings.HasSuffix(s, runtime.Version()) {
		t.Errorf("String() = %q", s)
	}
}
