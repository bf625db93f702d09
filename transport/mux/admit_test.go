package mux

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/transport/admit"
)

// TestAdmitBoundsHandshakes: with an Admit gate, a source that already
// runs its share of handshakes has its next connection closed before a
// byte is read, while a node from another address proves its identity;
// a slot is given back once the connection's header is checked.
func TestAdmitBoundsHandshakes(t *testing.T) {
	pki := newPKI(t)
	cfg := tlsConfig(pki, "n1")
	cfg.HeaderTimeout = time.Minute // the stalled handshake keeps its slot
	gate := admit.New(admit.Config{MaxHandshakesPerIP: 1, RatePerIP: -1})
	cfg.Admit = gate
	m := newMux(t, cfg)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 10 * time.Second}
	stalled, err := d.Dial("tcp", m.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	waitFor(t, 10*time.Second, "the stalled handshake to take its slot", func() bool { return gate.Stats().InFlight == 1 })
	second, err := d.Dial("tcp", m.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	_ = second.SetReadDeadline(time.Now().Add(30 * time.Second))
	// Closed by the mux (EOF, or a reset), not left open until the
	// read deadline.
	if _, err := second.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("second connection from the same source: read %v, want it closed", err)
	}
	if s := gate.Stats(); s.Busy != 1 {
		t.Fatalf("stats %+v, want one busy", s)
	}
	peer := newMux(t, tlsConfig(pki, "n2"))
	if err := peer.VerifyPeer(m.AdvertiseAddr(), "n1"); err != nil {
		t.Fatalf("a node from another address: %v", err)
	}
	waitFor(t, 10*time.Second, "the genuine connection's slot to be released", func() bool { return gate.Stats().InFlight == 1 })
}
