package testcluster

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
)

// FreePorts returns n distinct loopback ports that were free for TCP and
// UDP (gossip uses both) a moment ago. Someone may take one before it is
// bound; Start retries on other ports when that happens.
func FreePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	var ports []int
	for len(ports) < n {
		if len(ls) > 10*n {
			return nil, errors.New("no free ports")
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l) // held open so the next Listen gets another port
		p := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		_ = u.Close()
		ports = append(ports, p)
	}
	return ports, nil
}

// FreeBasePort returns a base port such that, for each of n nodes i, the
// ports base+i (client), base+100+i (raft), base+200+i (gossip) and
// base+300+i (admin HTTP) were free on loopback a moment ago, TCP for all
// and UDP for gossip: the layout of "sessionraft dev --base-port".
func FreeBasePort(n int) (int, error) {
	for range 100 {
		base := 20000 + rand.IntN(20000)
		if basePortsFree(base, n) {
			return base, nil
		}
	}
	return 0, errors.New("no free base port found")
}

func basePortsFree(base, n int) bool {
	for i := range n {
		for _, p := range []int{base + i, base + 100 + i, base + 200 + i, base + 300 + i} {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				return false
			}
			_ = l.Close()
		}
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", base+200+i))
		if err != nil {
			return false
		}
		_ = pc.Close()
	}
	return true
}
