package mux

import (
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestVerifyPeer(t *testing.T) {
	pki := newPKI(t)
	a, b := newMux(t, tlsConfig(pki, "n1")), newMux(t, tlsConfig(pki, "n2"))
	if err := a.VerifyPeer(b.AdvertiseAddr(), "n2"); err != nil {
		t.Fatalf("VerifyPeer of the right id: %v", err)
	}
	// Whoever listens at b's address cannot pass for n3, even though its
	// certificate is from the cluster CA.
	if err := a.VerifyPeer(b.AdvertiseAddr(), "n3"); !errors.Is(err, ErrIdentity) {
		t.Fatalf("VerifyPeer of another id: %v, want ErrIdentity", err)
	}
	if got := len(conns(a, outboundDir)); got != 0 {
		t.Fatalf("%d outbound conns left open after VerifyPeer", got)
	}

	plain := newMux(t, Config{})
	if err := plain.VerifyPeer(b.AdvertiseAddr(), "n2"); !errors.Is(err, ErrNoTLS) {
		t.Fatalf("VerifyPeer without TLS: %v, want ErrNoTLS", err)
	}
}

func TestRaftPeerRefused(t *testing.T) {
	pki := newPKI(t)
	cfg := tlsConfig(pki, "n2")
	cfg.RaftPeer = func(id string) bool { return id == "n3" }
	a, b, c := newMux(t, tlsConfig(pki, "n1")), newMux(t, cfg), newMux(t, tlsConfig(pki, "n3"))
	b.StreamLayer(1)
	if conn, err := a.StreamLayer(1).Dial(raft.ServerAddress(b.AdvertiseAddr()), 5*time.Second); err == nil {
		conn.Close()
		t.Fatal("raft connection from a refused node accepted")
	}
	conn, err := c.StreamLayer(1).Dial(raft.ServerAddress(b.AdvertiseAddr()), 5*time.Second)
	if err != nil {
		t.Fatalf("raft connection from an accepted node: %v", err)
	}
	conn.Close()
}
