package node

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/transport/resp"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// respOn serves node i of a memory cluster on a loopback client port, with
// its write sweeper running (start does both for a real node), and
// returns the port's address.
func respOn(t *testing.T, c *memCluster, i int) string {
	t.Helper()
	n := c.nodes[i]
	ring, err := wire.NewRing(1, 16)
	if err != nil {
		t.Fatal(err)
	}
	n.ring = ring
	if err := n.ReloadACL(); err != nil { // the default user, as start loads
		t.Fatal(err)
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() { defer close(stopped); n.writeWaits.loop(stop, stop) }()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := resp.NewServer(resp.DefaultServerConfig(), &handler{n: n}, memLogger())
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		close(stop) // answers what still waits, as closing the node does
		<-stopped
		_ = srv.Close()
		<-served
	})
	return ln.Addr().String()
}

// pending counts the writes waiting for their batch on n's fast path.
func pending(n *Node) int {
	ws := n.writeWaits
	ws.mu.Lock()
	defer ws.mu.Unlock()
	k := 0
	for w := ws.head; w != nil; w = w.next {
		k++
	}
	return k
}

// A pipeline of writes and inline commands on one connection is answered
// in request order, the writes by their batches (the fast path: no
// goroutine per request), refusals of the state machine included.
func TestWriteFastPathOrder(t *testing.T) {
	c := newMemCluster(t, 3, nil)
	c.bootstrap(0)
	a := c.readyLeader(0)
	addr := respOn(t, c, a)

	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	const rounds = 20
	var req []byte
	for i := range rounds {
		req = fmt.Appendf(req, "SESSION.CREATE SUBJECT s%d FIELDS k v\r\nECHO e%d\r\nSESSION.SET no-such-%d k v\r\nSET key%d v%d\r\n", i, i, i, i, i)
	}
	if err := nc.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	next := func() resp.Value {
		t.Helper()
		v, err := resp.ReadValue(br, resp.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for i := range rounds {
		if v := next(); v.Err() != nil || len(v.Elems) < 4 || v.Elems[3].Str != fmt.Sprintf("s%d", i) {
			t.Fatalf("round %d: create answered %+v", i, v)
		}
		if v := next(); v.Str != fmt.Sprintf("e%d", i) {
			t.Fatalf("round %d: ECHO answered %+v", i, v)
		}
		if v := next(); v.Err() == nil || errCode(v) != wire.CodeNotFound {
			t.Fatalf("round %d: SET of a missing session answered %+v", i, v)
		}
		if v := next(); v.Str != "OK" {
			t.Fatalf("round %d: SET answered %+v", i, v)
		}
	}
	// Pipelined requests are concurrent; once answered, a write is read.
	req = req[:0]
	for i := range rounds {
		req = fmt.Appendf(req, "GET key%d\r\n", i)
	}
	if _, err := nc.Write(req); err != nil {
		t.Fatal(err)
	}
	for i := range rounds {
		if v := next(); v.Str != fmt.Sprintf("v%d", i) {
			t.Fatalf("round %d: GET answered %+v", i, v)
		}
	}
	if k := pending(c.nodes[a]); k != 0 {
		t.Fatalf("%d writes still pending after their replies", k)
	}
}

// A fast-path write whose entry cannot commit (the leader's log is held)
// is answered INDETERMINATE by the deadline sweeper at RequestTimeout, as
// a general-path write's context would end it, and a later request on the
// same connection is answered after it.
func TestWriteFastPathDeadline(t *testing.T) {
	c := newMemCluster(t, 3, func(cfg *Config) { cfg.RequestTimeout = 300 * time.Millisecond })
	c.bootstrap(0)
	a := c.readyLeader(0)
	c.mustPropose(a, createCmd("before"))
	addr := respOn(t, c, a)
	cl, err := resp.Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	c.logs[a].hold(func(*raft.Log) bool { return true })
	defer c.logs[a].release()
	type result struct {
		v   resp.Value
		err error
	}
	got := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		v, err := cl.Do(ctx, "SESSION.CREATE", "SUBJECT", "stalled")
		got <- result{v, err}
	}()
	r := <-got
	if errCode(r.v) != wire.CodeIndeterminate { // r.err is the same ServerError
		t.Fatalf("create on a stalled leader answered %v, %v; want INDETERMINATE", r.v.Err(), r.err)
	}
	if k := pending(c.nodes[a]); k != 0 {
		t.Fatalf("%d writes still pending after the deadline", k)
	}
	// The count drops just after the reply is handed to the connection.
	eventually(t, "the expired write to stop counting for Drain", func() error {
		if k := c.nodes[a].pendingWrites.Load(); k != 0 {
			return fmt.Errorf("%d writes still counted", k)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if v, err := cl.Do(ctx, "PING"); err != nil || v.Str != "PONG" {
		t.Fatalf("PING after the expired write: %+v %v", v, err)
	}
}

// The sweeper answers writes in deadline order and every one still
// waiting when it stops; a claimed write is answered once.
func TestWriteWaitsOrder(t *testing.T) {
	ws := newWriteWaits(time.Hour)
	var ws3 []*pendingWrite
	for range 3 {
		w := &pendingWrite{}
		if !ws.add(w) {
			t.Fatal("add refused on an open list")
		}
		ws3 = append(ws3, w)
	}
	ws.remove(ws3[1])
	if !ws3[1].claim() || ws3[1].claim() {
		t.Fatal("claim is not once")
	}
	out, next := ws.expired(time.Now())
	if len(out) != 0 || !next.Equal(ws3[0].deadline) {
		t.Fatalf("before any deadline: %d expired, next %v (want %v)", len(out), next, ws3[0].deadline)
	}
	out, next = ws.expired(ws3[2].deadline)
	if len(out) != 2 || out[0] != ws3[0] || out[1] != ws3[2] || !next.IsZero() {
		t.Fatalf("at the last deadline: %v, next %v", out, next)
	}
	ws.closed = true
	if ws.add(&pendingWrite{}) {
		t.Fatal("add accepted on a closed list")
	}
}
