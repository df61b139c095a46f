package lab

import (
	"os"
	"path/filepath"
	"strings"
)

// WriteTrustAnchors writes the lab root's DS records to dir/lab-anchors.ds,
// in the format nxray's trust_anchors takes, and returns the path.
func (h *Hierarchy) WriteTrustAnchors(dir string) (string, error) {
	var b strings.Builder
	for _, ds := range h.TrustAnchors {
		b.WriteString(ds.String() + "\n")
	}
	path := filepath.Join(dir, "lab-anchors.ds")
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}
