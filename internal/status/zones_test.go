package status

import (
	"strings"
	"testing"

	"github.com/nxray/nxray/proxy"
)

// zoneProxy has a forward zone's upstream beside the default ones.
type zoneProxy struct{ fakeProxy }

func (zoneProxy) Upstreams() []proxy.UpstreamState {
	return append(fakeProxy{}.Upstreams(), proxy.UpstreamState{Upstream: "127.0.0.9:5300", Zone: "corp.example."})
}

// TestUpstreamZones: the page, the stats API and the metrics say which
// zone each upstream serves.
func TestUpstreamZones(t *testing.T) {
	s := newTestServer(t, Config{Proxy: zoneProxy{}})
	page := get(t, s, "/").Body.String()
	for _, want := range []string{
		`<td class="mono">127.0.0.9:5300</td><td class="mono">corp.example.</td>`,
		`<td class="mono">127.0.0.1:5300</td><td class="mono">every name outside forward zones</td>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if api := strings.Join(strings.Fields(get(t, s, "/api/v1/stats").Body.String()), ""); !strings.Contains(api, `"upstream":"127.0.0.9:5300","zone":"corp.example."`) {
		t.Errorf("stats API does not name the zone: %s", api)
	}
	metrics := get(t, s, "/metrics").Body.String()
	for _, want := range []string{`nxray_upstream_up{upstream="127.0.0.9:5300",zone="corp.example."} 1`,
		`nxray_upstream_up{upstream="127.0.0.2:5300",zone="."} 0`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
