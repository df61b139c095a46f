package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nxray/nxray/config"
	"github.com/nxray/nxray/internal/lab"
)

// The demo's configuration is one serve accepts, pointing at the lab: its
// validating resolver upstream, both lab resolvers as alternates, the lab's
// root, port and anchors, loopback clients, no failover, wait:1s.
func TestDemoConfig(t *testing.T) {
	h := &lab.Hierarchy{Port: 5300, RootHints: []string{"127.0.0.10"}, Resolvers: map[string]string{
		lab.RoleValidating: "127.0.0.30:5300", lab.RoleNonvalidating: "127.0.0.31:5300"}}
	anchors := filepath.Join(t.TempDir(), "lab-anchors.ds")
	ds := ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n"
	if err := os.WriteFile(anchors, []byte(ds), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := demoConfig(h, anchors, "127.0.0.1:5353", "127.0.0.1:8053")
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the demo's configuration does not validate: %v", err)
	}
	p := cfg.Parsed
	if !slices.Equal(cfg.Listen, []string{"127.0.0.1:5353"}) || cfg.HTTP != "127.0.0.1:8053" ||
		!slices.Equal(p.Upstreams, []config.Upstream{{Net: "udp", Addr: "127.0.0.30:5300"}}) ||
		!slices.Equal(p.Alternates, []config.Upstream{{Net: "udp", Addr: "127.0.0.30:5300"}, {Net: "udp", Addr: "127.0.0.31:5300"}}) ||
		!slices.Equal(p.RootHints, []string{"127.0.0.10"}) || cfg.AuthPort != 5300 || len(p.TrustAnchors) != 1 {
		t.Errorf("not pointing at the lab: %+v", cfg)
	}
	if len(p.FailoverRcodes) != 0 || p.AnnotateWait != time.Second || len(p.ACL) != 2 || !p.ACL[0].Addr().IsLoopback() {
		t.Errorf("failover %v, annotate wait %v, ACL %v; want none, 1s, loopback only", p.FailoverRcodes, p.AnnotateWait, p.ACL)
	}
}
