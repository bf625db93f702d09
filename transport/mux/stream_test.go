package mux

import (
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// exchange writes msg on c and expects peer to read it, then the reverse.
func exchange(t *testing.T, c, peer net.Conn, msg string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	c.SetDeadline(deadline)
	peer.SetDeadline(deadline)
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(peer, buf); err != nil || string(buf) != msg {
		t.Fatalf("peer read %q, %v; want %q", buf, err, msg)
	}
	if _, err := io.WriteString(peer, "re:"+msg); err != nil {
		t.Fatalf("write back: %v", err)
	}
	buf = make([]byte, len("re:"+msg))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "re:"+msg {
		t.Fatalf("read back %q, %v", buf, err)
	}
}

func TestStreamLayersPerGroup(t *testing.T) {
	a, b := newMux(t, testConfig()), newMux(t, testConfig())
	const groups = 3
	var la, lb [groups]raft.StreamLayer
	for g := range uint16(groups) {
		la[g], lb[g] = a.StreamLayer(g), b.StreamLayer(g)
		if a.StreamLayer(g) != la[g] {
			t.Fatalf("StreamLayer(%d) returned a second layer", g)
		}
		if got := la[g].Addr().String(); got != a.AdvertiseAddr() {
			t.Fatalf("layer Addr = %q, want %q", got, a.AdvertiseAddr())
		}
	}

	// Dial every group in both directions; each accepted conn must carry its
	// own group's bytes and nobody else's.
	var out, in [groups]net.Conn
	for g := range groups {
		c, err := la[g].Dial(raft.ServerAddress(b.AdvertiseAddr()), 2*time.Second)
		if err != nil {
			t.Fatalf("dial group %d: %v", g, err)
		}
		t.Cleanup(func() { c.Close() })
		out[g] = c
		in[g] = acceptWithin(t, lb[g], 5*time.Second)
	}
	for g := range groups {
		exchange(t, out[g], in[g], fmt.Sprintf("group-%d", g))
		if n := len(lb[g].(*streamLayer).ch); n != 0 {
			t.Fatalf("group %d has %d unexpected queued conns", g, n)
		}
	}
	// Reverse direction, b dials a.
	c, err := lb[2].Dial(raft.ServerAddress(a.AdvertiseAddr()), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	exchange(t, c, acceptWithin(t, la[2], 5*time.Second), "reverse")

	// A group the peer does not serve is refused at the handshake.
	if _, err := a.StreamLayer(7).Dial(raft.ServerAddress(b.AdvertiseAddr()), 2*time.Second); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("dial to unknown group: err = %v, want ErrUnreachable", err)
	}

	// Closing b's layer 1 fails its Accept and its conns, and nothing else.
	if err := lb[1].Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := lb[1].Accept(); !errors.Is(err, ErrClosed) || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept on closed layer: %v", err)
	}
	expectClosed(t, out[1], 5*time.Second)
	exchange(t, out[0], in[0], "still-0")
	exchange(t, out[2], in[2], "still-2")
	if _, err := la[1].Dial(raft.ServerAddress(b.AdvertiseAddr()), 2*time.Second); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("dial to closed group: err = %v, want ErrUnreachable", err)
	}
	c0, err := la[0].Dial(raft.ServerAddress(b.AdvertiseAddr()), 2*time.Second)
	if err != nil {
		t.Fatalf("new dial on group 0 after closing group 1: %v", err)
	}
	t.Cleanup(func() { c0.Close() })
	exchange(t, c0, acceptWithin(t, lb[0], 5*time.Second), "new-0")

	// The group can be served again by a fresh layer.
	lb1 := b.StreamLayer(1)
	if lb1 == lb[1] {
		t.Fatal("StreamLayer returned the closed layer")
	}
	c1, err := la[1].Dial(raft.ServerAddress(b.AdvertiseAddr()), 2*time.Second)
	if err != nil {
		t.Fatalf("dial to reopened group: %v", err)
	}
	t.Cleanup(func() { c1.Close() })
	exchange(t, c1, acceptWithin(t, lb1, 5*time.Second), "reopened")
}

func TestStreamLayerAfterMuxClose(t *testing.T) {
	a, b := newMux(t, testConfig()), newMux(t, testConfig())
	l := a.StreamLayer(0)
	b.StreamLayer(0)
	c, err := l.Dial(raft.ServerAddress(b.AdvertiseAddr()), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Accept(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Accept after Mux.Close: %v", err)
	}
	// Close closed the dialed conn too.
	if _, err := c.Write([]byte("x")); err == nil {
		t.Fatal("write on a conn of a closed mux succeeded")
	}
	if _, err := a.StreamLayer(1).Accept(); !errors.Is(err, ErrClosed) {
		t.Fatalf("new layer on closed mux: Accept err = %v", err)
	}
	if _, err := a.StreamLayer(1).Dial(raft.ServerAddress(b.AdvertiseAddr()), time.Second); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("dial from closed mux: %v", err)
	}
}

// BenchmarkStreamDial measures a raft connection's setup: dial, header and
// ack (plus the TLS handshake in BenchmarkStreamDialTLS), then close.
func BenchmarkStreamDial(b *testing.B) { benchStreamDial(b, testConfig(), testConfig()) }

func BenchmarkStreamDialTLS(b *testing.B) {
	pki := newPKI(b)
	benchStreamDial(b, tlsConfig(pki, "n1"), tlsConfig(pki, "n2"))
}

func benchStreamDial(b *testing.B, acfg, bcfg Config) {
	a, srv := newMux(b, acfg), newMux(b, bcfg)
	la, lb := a.StreamLayer(0), srv.StreamLayer(0)
	go func() {
		for {
			c, err := lb.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	addr := raft.ServerAddress(srv.AdvertiseAddr())
	b.ReportAllocs()
	for b.Loop() {
		c, err := la.Dial(addr, 5*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}
