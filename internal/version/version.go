// Package version tells which nxray is running: the module version and the
// VCS revision the Go toolchain stamped into the binary.
package version

import (
	"runtime"
	"runtime/debug"
	"sync"
)

// Info is what the binary knows about its own build.
type Info struct {
	// Version is the module version ("v1.2.3", or a pseudo-version for
	// `go install ...@latest` from a commit); "(devel)" for a build from a
	// checkout.
	Version string
	// Revision is the VCS commit, with "-dirty" when the tree had changes;
	// empty when the build was not from a checkout.
	Revision string
	// GoVersion is the toolchain that built it.
	GoVersion string
}

// version and revision may be set when building where the build has no
// VCS information to stamp (a Docker build context without .git):
//
//	go build -ldflags "-X github.com/nxray/nxray/internal/version.version=v1.2.3 -X github.com/nxray/nxray/internal/version.revision=abc123" ./cmd/nxray
var version, revision string

// Get reads the build information once.
var Get = sync.OnceValue(func() Info {
	info := read()
	if version != "" {
		info.Version = version
	}
	if revision != "" {
		info.Revision = revision
	}
	return info
})

func read() Info {
	info := Info{Version: "(devel)", GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	if bi.Main.Version != "" {
		info.Version = bi.Main.Version
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && info.Revision != "" {
		info.Revision += "-dirty"
	}
	return info
}

// String is the one line `nxray version` prints.
func (i Info) String() string {
	s := "nxray " + i.Version
	if i.Revision != "" {
		s += " (" + i.Revision + ")"
	}
	return s + " " + i.GoVersion
}
