package mux

import (
	"errors"
	"testing"
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
