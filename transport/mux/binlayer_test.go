package mux

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestBinaryRaftLayer: the binary raft kind is routed to its own layer
// (not the msgpack one of the same group), PeerOf reports who dialed, and
// a mux without that layer (a node that predates the kind, or has not
// opened it) refuses the dial before anything is sent.
func TestBinaryRaftLayer(t *testing.T) {
	cfg := testConfig()
	cfg.NodeID = "n2"
	a, b := newMux(t, testConfig()), newMux(t, cfg)
	old := a.StreamLayer(0) // a speaks only msgpack raft for group 0
	t.Cleanup(func() { old.Close() })
	bin := b.BinaryRaftLayer(0)
	t.Cleanup(func() { bin.Close() })
	if _, err := bin.Dial(raft.ServerAddress(a.AdvertiseAddr()), 5*time.Second); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("dial to a mux without the binary layer: %v", err)
	}

	abin := a.BinaryRaftLayer(0)
	t.Cleanup(func() { abin.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := abin.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	c, err := bin.Dial(raft.ServerAddress(a.AdvertiseAddr()), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	in, ok := <-accepted
	if !ok {
		t.Fatal("nothing accepted")
	}
	defer in.Close()
	if id, verified := PeerOf(in); id != "n2" || verified {
		t.Fatalf("PeerOf without TLS = %q, %v; want the claimed id, unverified", id, verified)
	}
	if id, _ := PeerOf(c); id != "" {
		t.Fatalf("PeerOf of a dialed conn = %q", id)
	}
}
