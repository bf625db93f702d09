package mux

import (
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestFaultsOutbound(t *testing.T) {
	client, server := newRPCPair(t, echo)
	addr := server.AdvertiseAddr()
	server.StreamLayer(0)
	raftConn, err := client.StreamLayer(0).Dial(raft.ServerAddress(addr), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raftConn.Close()
	if _, err := client.Call(ctxT(t, 5*time.Second), addr, 0, nil); err != nil {
		t.Fatal(err)
	}

	client.Faults().Block(addr, false, true)
	if in, out := client.Faults().Blocked(addr); in || !out {
		t.Fatalf("Blocked = %v, %v", in, out)
	}
	_, err = client.Call(ctxT(t, 5*time.Second), addr, 0, nil)
	mustBeUndelivered(t, err)
	if !errors.Is(err, ErrBlocked) {
		t.Fatalf("err = %v, want ErrBlocked wrapped", err)
	}
	if countConns(client, outboundDir) != 0 {
		t.Fatal("existing outbound conns were not closed")
	}
	if _, err := client.StreamLayer(0).Dial(raft.ServerAddress(addr), time.Second); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("raft dial while blocked: %v", err)
	}
	// Inbound from that peer is still allowed: only client's dials are cut.
	server.HandleRPC(echo)
	client.HandleRPC(echo)
	if _, err := server.Call(ctxT(t, 5*time.Second), client.AdvertiseAddr(), 0, nil); err != nil {
		t.Fatalf("reverse direction: %v", err)
	}

	client.Faults().Unblock(addr)
	if _, err := client.Call(ctxT(t, 5*time.Second), addr, 0, nil); err != nil {
		t.Fatalf("after Unblock: %v", err)
	}
	client.Faults().Block(addr, true, true)
	client.Faults().Clear()
	if _, err := client.Call(ctxT(t, 5*time.Second), addr, 0, nil); err != nil {
		t.Fatalf("after Clear: %v", err)
	}
}

func TestFaultsInbound(t *testing.T) {
	a, server := newRPCPair(t, echo)
	other := newMux(t, testConfig())
	addr := server.AdvertiseAddr()
	l := server.StreamLayer(0)
	raftConn, err := a.StreamLayer(0).Dial(raft.ServerAddress(addr), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raftConn.Close()
	acceptWithin(t, l, 5*time.Second)
	if _, err := a.Call(ctxT(t, 5*time.Second), addr, 0, nil); err != nil {
		t.Fatal(err)
	}

	server.Faults().Block(a.AdvertiseAddr(), true, false)
	expectClosed(t, raftConn, 5*time.Second)
	raftConn.Close() // raft would do the same on a read error
	// a's pooled conns were closed by the server; once a notices, its
	// redial is refused before the ack, so the failure is definite.
	waitFor(t, 5*time.Second, "a to drop its closed conns", func() bool { return countConns(a, outboundDir) == 0 })
	_, err = a.Call(ctxT(t, 5*time.Second), addr, 0, nil)
	mustBeUndelivered(t, err)
	if _, err := a.StreamLayer(0).Dial(raft.ServerAddress(addr), time.Second); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("raft dial from blocked peer: %v", err)
	}
	if _, err := other.Call(ctxT(t, 5*time.Second), addr, 0, nil); err != nil {
		t.Fatalf("unblocked peer: %v", err)
	}

	server.Faults().Unblock(a.AdvertiseAddr())
	if _, err := a.Call(ctxT(t, 5*time.Second), addr, 0, nil); err != nil {
		t.Fatalf("after Unblock: %v", err)
	}
}
