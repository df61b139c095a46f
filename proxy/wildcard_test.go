package proxy

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/miekg/dns"
	"github.com/nxray/nxray/internal/dnstest"
)

// TestWildcardListener: listening on 0.0.0.0 (the Docker image's default),
// nxray answers each query from the address it was sent to, over UDP and
// TCP, whichever of the host's addresses that is: a client drops a UDP
// answer from another address. The test runs in a network namespace of its
// own (unshare), whose only interface is loopback, so that the wildcard
// address listens on loopback only.
func TestWildcardListener(t *testing.T) {
	if os.Getenv("NXRAY_TEST_NETNS") == "" {
		if out, err := exec.Command("unshare", "-rn", "true").CombinedOutput(); err != nil {
			t.Skipf("no network namespace to listen on a wildcard address in: unshare: %v %s", err, out)
		}
		cmd := exec.Command("unshare", "-rn", "sh", "-c", `ip link set lo up && exec "$0" "$@"`,
			os.Args[0], "-test.run=^TestWildcardListener$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "NXRAY_TEST_NETNS=1")
		out, err := cmd.CombinedOutput()
		t.Logf("in a network namespace of its own:\n%s", out)
		if err != nil {
			t.Fatalf("failed: %v", err)
		}
		return
	}
	ifs, err := net.Interfaces()
	if err != nil || len(ifs) != 1 || ifs[0].Flags&net.FlagLoopback == 0 {
		t.Fatalf("interfaces %v (%v): want loopback alone", ifs, err)
	}
	up := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 60))
	s, _ := startProxy(t, func(c *Config) { c.Listen = []string{"0.0.0.0:0"} }, up.Addr)
	port := strconv.Itoa(s.Addrs()[0].(*net.UDPAddr).Port)
	for _, to := range []string{"127.0.0.1", "127.0.0.2", "127.53.0.1", "[::1]"} {
		for _, network := range []string{"udp", "tcp"} {
			r := ask(t, network, to+":"+port, question("www.example.test.", dns.TypeA))
			if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
				t.Errorf("asked at %s over %s: %v", to, network, r)
			}
		}
	}
	if st := s.Stats(); st.Queries != 8 {
		t.Errorf("%d queries counted, want 8", st.Queries)
	}
}
