package mux

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/transport/tlsconf"
)

// countingEcho is echo that counts its calls and records the caller.
type countingEcho struct {
	calls  atomic.Int64
	caller atomic.Pointer[Caller]
}

func (h *countingEcho) handle(ctx context.Context, method uint8, p []byte) ([]byte, error) {
	h.calls.Add(1)
	if c, ok := CallerFrom(ctx); ok {
		h.caller.Store(&c)
	}
	return echo(ctx, method, p)
}

func TestTLSRPCAndRaft(t *testing.T) {
	pki := newPKI(t)
	a, b := newMux(t, tlsConfig(pki, "n1")), newMux(t, tlsConfig(pki, "n2"))
	var h countingEcho
	b.HandleRPC(h.handle)
	got, err := a.Call(ctxT(t, 10*time.Second), b.AdvertiseAddr(), 3, []byte("hi"))
	if err != nil || string(got) != "\x03hi" {
		t.Fatalf("Call over TLS: %q %v", got, err)
	}
	if c := h.caller.Load(); c == nil || *c != (Caller{ID: "n1", Addr: a.AdvertiseAddr(), Verified: true}) {
		t.Fatalf("caller = %+v", c)
	}
	for _, c := range conns(b, inboundDir) {
		if _, ok := c.Conn.(*tls.Conn); !ok {
			t.Fatalf("inbound conn %T is not TLS", c.Conn)
		}
	}

	la, lb := a.StreamLayer(4), b.StreamLayer(4)
	c, err := la.Dial(raft.ServerAddress(b.AdvertiseAddr()), 5*time.Second)
	if err != nil {
		t.Fatalf("raft dial over TLS: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	exchange(t, c, acceptWithin(t, lb, 5*time.Second), "append entries")
}

func conns(m *Mux, d direction) []*trackedConn {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*trackedConn
	for c := range m.conns {
		if c.dir == d {
			out = append(out, c)
		}
	}
	return out
}

// refusedWithoutAck asserts that the server closes c without ever sending
// the ack byte (whatever TLS alert it may send first is not an ack: it is
// a TLS record, starting with its content type).
func refusedWithoutAck(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		t.Fatalf("connection still open after 10s (read %x)", b)
	}
	if len(b) > 0 && b[0] == ackByte {
		t.Fatalf("server acked the connection: %x", b)
	}
}

// rawAttack sends a plaintext RPC header and one request frame, the way an
// attacker without credentials would, and returns the connection.
func rawAttack(t *testing.T, addr string, h header) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	hdr, err := appendHeader(nil, h)
	if err != nil {
		t.Fatal(err)
	}
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	// The write may fail once the server has closed; that is a refusal too.
	c.Write(append(hdr, encodeFrame(1, 1, []byte("GET session"))...))
	return c
}

func TestTLSRefusesPlaintext(t *testing.T) {
	pki := newPKI(t)
	srv := newMux(t, tlsConfig(pki, "n1"))
	var h countingEcho
	srv.HandleRPC(h.handle)
	srv.StreamLayer(0)

	for name, hd := range map[string]header{
		"rpc v1":  {kind: kindRPC, addr: "10.0.0.9:7000"},
		"rpc v2":  {kind: kindRPC, addr: "10.0.0.9:7000", id: "n2"},
		"raft v2": {kind: kindRaft, group: 0, addr: "10.0.0.9:7000", id: "n2"},
	} {
		t.Run(name, func(t *testing.T) {
			refusedWithoutAck(t, rawAttack(t, srv.AdvertiseAddr(), hd))
		})
	}
	// A plaintext mux gets ErrUnreachable: nothing was delivered.
	plain := newMux(t, testConfig())
	_, err := plain.Call(ctxT(t, 10*time.Second), srv.AdvertiseAddr(), 1, []byte("x"))
	mustBeUndelivered(t, err)
	if _, err := plain.StreamLayer(0).Dial(raft.ServerAddress(srv.AdvertiseAddr()), 5*time.Second); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("plaintext raft dial: %v", err)
	}
	if n := h.calls.Load(); n != 0 {
		t.Fatalf("handler ran %d times for plaintext peers", n)
	}
}

// tlsAttack completes a TLS handshake with cfg (if the server lets it), then
// sends header h and one request frame.
func tlsAttack(t *testing.T, addr string, cfg *tls.Config, h header) net.Conn {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	c := tls.Client(raw, cfg)
	if err := c.Handshake(); err != nil {
		return c // refused during the handshake; reads fail at once
	}
	hdr, err := appendHeader(nil, h)
	if err != nil {
		t.Fatal(err)
	}
	c.Write(append(hdr, encodeFrame(1, 1, []byte("GET session"))...))
	return c
}

func TestTLSRefusesUnprovenIdentity(t *testing.T) {
	pki := newPKI(t)
	cfg := tlsConfig(pki, "n1")
	// The server knows n2 lives at 10.0.0.2:7000.
	cfg.PeerID = func(addr string) string {
		if addr == "10.0.0.2:7000" {
			return "n2"
		}
		return ""
	}
	srv := newMux(t, cfg)
	var h countingEcho
	srv.HandleRPC(h.handle)
	srv.StreamLayer(0)

	mallory := pki.node("mallory")
	foreign := newPKI(t).node("n2") // right id, another cluster's CA
	operator := pki.client("operator")
	cases := map[string]struct {
		cfg *tls.Config
		h   header
	}{
		"cert for another id claiming n2": {mallory.ClientConfig(""), header{kind: kindRPC, addr: "10.0.0.3:7000", id: "n2"}},
		"raft: another id claiming n2":    {mallory.ClientConfig(""), header{kind: kindRaft, addr: "10.0.0.3:7000", id: "n2"}},
		"no id claimed":                   {mallory.ClientConfig(""), header{kind: kindRPC, addr: "10.0.0.3:7000"}},
		"claims n2's address":             {mallory.ClientConfig(""), header{kind: kindRPC, addr: "10.0.0.2:7000", id: "mallory"}},
		"cert from another CA":            {foreign.ClientConfig(""), header{kind: kindRPC, addr: "10.0.0.2:7000", id: "n2"}},
		"client cert, no node id":         {operator.ClientConfig(""), header{kind: kindRPC, addr: "10.0.0.3:7000", id: "operator"}},
		"no certificate":                  {&tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true}, header{kind: kindRPC, addr: "10.0.0.2:7000", id: "n2"}},
		"raft without certificate":        {&tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true}, header{kind: kindRaft, addr: "10.0.0.2:7000", id: "n2"}},
		"TLS 1.2, honest claim":           {tls12(mallory.ClientConfig("")), header{kind: kindRPC, addr: "10.0.0.3:7000", id: "mallory"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			refusedWithoutAck(t, tlsAttack(t, srv.AdvertiseAddr(), tc.cfg, tc.h))
		})
	}
	// The same certificate with an honest claim gets in: the refusals above
	// are about the claims, not about mallory's certificate.
	ok := tlsAttack(t, srv.AdvertiseAddr(), mallory.ClientConfig("n1"), header{kind: kindRPC, addr: "10.0.0.3:7000", id: "mallory"})
	var ack [1]byte
	if _, err := io.ReadFull(ok, ack[:]); err != nil || ack[0] != ackByte {
		t.Fatalf("honest claim refused: %x %v", ack, err)
	}
	waitFor(t, 10*time.Second, "the honest request to run", func() bool { return h.calls.Load() == 1 })
	if c := h.caller.Load(); c.ID != "mallory" || !c.Verified {
		t.Fatalf("caller %+v", c)
	}

	// Through a Mux: a node from another CA is unreachable, nothing runs.
	other := newMux(t, Config{TLS: foreign, Logger: testConfig().Logger})
	_, err := other.Call(ctxT(t, 10*time.Second), srv.AdvertiseAddr(), 1, []byte("x"))
	mustBeUndelivered(t, err)
	if n := h.calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want only the honest call", n)
	}
}

func tls12(c *tls.Config) *tls.Config {
	c.MinVersion, c.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	return c
}

func TestTLSDialerChecksServerID(t *testing.T) {
	pki := newPKI(t)
	srv := newMux(t, tlsConfig(pki, "n1"))
	srv.HandleRPC(echo)
	srv.StreamLayer(0)
	expect := "n9" // the dialer believes n9 lives at srv's address
	cfg := tlsConfig(pki, "n2")
	cfg.PeerID = func(string) string { return expect }
	cli := newMux(t, cfg)

	_, err := cli.Call(ctxT(t, 10*time.Second), srv.AdvertiseAddr(), 1, nil)
	mustBeUndelivered(t, err)
	if !errors.Is(err, tlsconf.ErrWrongNodeID) {
		t.Fatalf("err = %v, want it to wrap ErrWrongNodeID", err)
	}
	if _, err := cli.StreamLayer(0).Dial(raft.ServerAddress(srv.AdvertiseAddr()), 5*time.Second); !errors.Is(err, tlsconf.ErrWrongNodeID) {
		t.Fatalf("raft dial: %v", err)
	}
	expect = "n1"
	if _, err := cli.Call(ctxT(t, 10*time.Second), srv.AdvertiseAddr(), 1, nil); err != nil {
		t.Fatalf("dial to the expected node: %v", err)
	}
}

func TestTLSReloadKeepsConnections(t *testing.T) {
	pki := newPKI(t)
	kp, err := pki.ca.IssueNode("n1", nil, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	files := pki.write(kp)
	store, err := tlsconf.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.TLS = store
	srv := newMux(t, cfg)
	srv.HandleRPC(echo)
	ccfg := tlsConfig(pki, "n2")
	ccfg.RPCConnsPerPeer = 1
	cli := newMux(t, ccfg)
	call := func(c *Mux) error {
		_, err := c.Call(ctxT(t, 10*time.Second), srv.AdvertiseAddr(), 1, nil)
		return err
	}
	if err := call(cli); err != nil {
		t.Fatal(err)
	}
	before := conns(cli, outboundDir)

	kp2, err := pki.ca.IssueNode("n1", nil, time.Now().Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := kp2.Write(files.Cert, files.Key); err != nil {
		t.Fatal(err)
	}
	if err := store.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := call(cli); err != nil {
		t.Fatalf("call on the established connection after reload: %v", err)
	}
	if after := conns(cli, outboundDir); len(after) != 1 || after[0] != before[0] {
		t.Fatal("the established connection was replaced")
	}
	// A new connection handshakes with the new certificate.
	fresh := newMux(t, tlsConfig(pki, "n3"))
	if err := call(fresh); err != nil {
		t.Fatal(err)
	}
	tc := conns(fresh, outboundDir)[0].Conn.(*tls.Conn)
	if got := tc.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(store.Certificate().SerialNumber) != 0 {
		t.Fatalf("new connection saw serial %v, want the reloaded %v", got, store.Certificate().SerialNumber)
	}
}

func TestConfigValidate(t *testing.T) {
	pki := newPKI(t)
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero config: %v", err)
	}
	for name, c := range map[string]Config{
		"negative timeout": {HeaderTimeout: -1},
		"negative cap":     {MaxInboundConns: -1},
		"tiny frames":      {MaxRPCBytes: 5},
		"id mismatch":      {TLS: pki.node("n1"), NodeID: "n2"},
		"client cert":      {TLS: pki.client("tool")},
	} {
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: Validate = %v, want ErrConfig", name, err)
		}
		if _, err := Listen("127.0.0.1:0", c); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: Listen = %v, want ErrConfig", name, err)
		}
	}
}

// Without TLS a configured NodeID is sent (version 2 header) but not
// proven; without one the header stays version 1, as before ids existed.
func TestPlaintextCaller(t *testing.T) {
	srv := newMux(t, testConfig())
	var h countingEcho
	srv.HandleRPC(h.handle)
	withID := testConfig()
	withID.NodeID = "n7"
	for _, tc := range []struct {
		cfg  Config
		want string
	}{{testConfig(), ""}, {withID, "n7"}} {
		cli := newMux(t, tc.cfg)
		if _, err := cli.Call(ctxT(t, 10*time.Second), srv.AdvertiseAddr(), 1, nil); err != nil {
			t.Fatal(err)
		}
		if c := h.caller.Load(); *c != (Caller{ID: tc.want, Addr: cli.AdvertiseAddr()}) {
			t.Fatalf("caller %+v, want id %q unverified", *c, tc.want)
		}
	}
}
