package status

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A page whose name rebinds to 127.0.0.1 reaches the server with its own
// name in Host: it gets 421 and no data, while the server's own names and
// addresses, on any port, and the http_hosts names keep working. A real
// server on 127.0.0.1:0, so the ports are the bound one.
func TestHostCheck(t *testing.T) {
	s := newTestServer(t, Config{Proxy: fakeProxy{}, Hosts: []string{"nxray.lab", "status.example:9999", "[2001:db8::8]"}})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	_, port, _ := net.SplitHostPort(s.Addr())

	tests := []struct {
		host string
		want int
	}{
		{"evil.example", 421},
		{"evil.example:" + port, 421},
		{"127.0.0.1.evil.example:" + port, 421},
		{"localhost.evil.example:" + port, 421},
		{"192.0.2.1:" + port, 421},      // an address, but not this machine's
		{"status.example:" + port, 421}, // configured for port 9999 only
		{"nxray.lab.evil.example", 421},
		{"127.0.0.1:" + port, 200},
		{"127.0.0.1", 200},
		{"127.0.0.53:8080", 200},
		{"[::1]:" + port, 200},
		{"localhost:" + port, 200},
		{"LOCALHOST.:" + port, 200},
		{"nxray.localhost:" + port, 200},
		{"nxray.lab:" + port, 200},
		{"NXRAY.lab.", 200},
		{"status.example:9999", 200},
		{"[2001:db8::8]:" + port, 200},
	}
	for _, tt := range tests {
		for _, path := range []string{"/api/v1/diagnoses", "/", "/metrics", "/api/v1/explain?name=x.test"} {
			t.Run(tt.host+path, func(t *testing.T) {
				code, body := fetchHost(t, "http://"+s.Addr()+path, tt.host)
				want := tt.want
				if want == 200 && strings.HasPrefix(path, "/api/v1/explain") {
					want = 503 // no Explain configured: the handler was reached
				}
				if code != want {
					t.Errorf("%d, want %d: %s", code, want, body)
				}
				if code == 421 && (strings.Contains(body, "lame.test") || !strings.Contains(body, "http_hosts")) {
					t.Errorf("refusal gives data or does not name http_hosts: %s", body)
				}
			})
		}
	}
	// Orchestrators probe /healthz by whatever name routes to them.
	if code, _ := fetchHost(t, "http://"+s.Addr()+"/healthz", "pod.cluster.internal"); code != 200 {
		t.Errorf("/healthz for another host: %d, want 200", code)
	}
}

// fetchHost GETs url with Host set to host and returns the status and body.
func fetchHost(t *testing.T, url, host string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Listening on every interface, the machine's own addresses are Hosts it
// answers to (a user browsing to http://192.0.2.5:8053/), others are not,
// and an address that appears later is answered once the list is read
// again. Nothing binds: the interface list is a fake.
func TestHostCheckAnyInterface(t *testing.T) {
	now := t0
	for _, addr := range []string{"0.0.0.0:8053", "[::]:8053", ":8053"} {
		t.Run(addr, func(t *testing.T) {
			s := newTestServer(t, Config{Addr: addr, Token: "s3cret", Now: func() time.Time { return now }})
			ifaces := []string{"127.0.0.1/8", "192.0.2.5/24", "2001:db8::5/64", "fe80::1/64"}
			s.hosts.ifaces.list = func() ([]net.Addr, error) {
				var out []net.Addr
				for _, c := range ifaces {
					ip, n, _ := net.ParseCIDR(c)
					out = append(out, &net.IPNet{IP: ip, Mask: n.Mask})
				}
				return out, nil
			}
			auth := []string{"Authorization", "Bearer s3cret"}
			check := func(host string, want int) {
				t.Helper()
				if w := get(t, s, "/api/v1/stats", append(auth, "Host", host)...); w.Code != want {
					t.Errorf("%s: %d, want %d: %s", host, w.Code, want, w.Body)
				}
			}
			check("192.0.2.5:8053", 200)
			check("192.0.2.5", 200)
			check("[2001:db8::5]:8053", 200)
			check("[::ffff:192.0.2.5]:8053", 200)
			check("192.0.2.6:8053", 421)
			check("evil.example:8053", 421)
			check("198.51.100.7:8053", 421)
			ifaces = append(ifaces, "198.51.100.7/24") // a VPN comes up
			now = now.Add(ifaceTTL)
			check("198.51.100.7:8053", 200)
		})
	}
	// Bound to one address, that address is answered on any port (a port
	// forward), and the machine's other addresses are not.
	s := newTestServer(t, Config{Addr: "192.0.2.10:8053", Token: "s3cret"})
	s.hosts.ifaces.list = func() ([]net.Addr, error) { t.Error("interfaces listed for a specific address"); return nil, nil }
	for host, want := range map[string]int{"192.0.2.10:8053": 200, "192.0.2.10:8080": 200, "192.0.2.11:8053": 421} {
		if w := get(t, s, "/api/v1/stats", "Host", host, "Authorization", "Bearer s3cret"); w.Code != want {
			t.Errorf("%s: %d, want %d", host, w.Code, want)
		}
	}
}
