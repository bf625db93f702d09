//go:build linux

package jepsen

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/internal/testcluster/netns"
)

// TestNetnsMembership: the member nemesis with every node in a network
// namespace. Each server it adds gets a host of its own (a new namespace
// and bridge port, netns.Lab.AddHost, made by the run's child process)
// at the next lab address; kernel partitions and blackholes come in
// between. Every checker must pass, at least one change must complete on
// a lab address, and the added hosts must be gone afterwards (netnsRun
// checks that no namespace of the run is left).
func TestNetnsMembership(t *testing.T) {
	needNetns(t)
	res := netnsRun(t, RunConfig{
		Workloads: []string{"register", "set"}, Nemeses: []string{"member", "partition", "blackhole"},
		Duration: 30 * time.Second, FaultFor: 4 * time.Second, QuietFor: time.Second,
	})
	checkMemberRun(t, res)
	// "replaced it with x1 (10.213.7.14:7101)": the new server on a new host.
	added := regexp.MustCompile(`member start: .*x\d+ \(([0-9.]+):\d+\)`)
	var hosts []string
	for _, f := range res.Faults {
		if m := added.FindStringSubmatch(f); m != nil {
			hosts = append(hosts, m[1])
		}
	}
	if len(hosts) == 0 {
		t.Fatalf("no membership change named its new server's address; faults:\n%s", strings.Join(res.Faults, "\n"))
	}
	for _, ip := range hosts {
		if !strings.HasPrefix(ip, netns.Subnet+".") || ip == netns.NodeIP(0) || ip == netns.NodeIP(1) || ip == netns.NodeIP(2) {
			t.Errorf("an added server at %s: want a new host of the lab (%s.14 and up)", ip, netns.Subnet)
		}
	}
}
