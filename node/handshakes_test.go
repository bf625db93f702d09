package node

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/internal/testcluster"
	"github.com/sessionraft/sessionraft/transport/admit"
	"github.com/sessionraft/sessionraft/transport/tlsconf"
)

// infoField reads one "key:value" line of an INFO reply as an integer.
func infoField(t *testing.T, info, key string) int64 {
	t.Helper()
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("INFO %s: %q", key, v)
			}
			return n
		}
	}
	t.Fatalf("INFO has no %s:\n%s", key, info)
	return 0
}

// TestHandshakeFloodBothPorts: a node with TLS on its internal and client
// ports gets a flood of connections that never finish a handshake, all
// from 127.0.0.2, on both ports. Each port runs at most
// MaxHandshakesPerIP of their handshakes and closes the rest at once, so
// the flood adds a bounded number of goroutines; meanwhile a genuine
// client (from 127.0.0.1) is served on the client port and a genuine node
// proves its identity on the internal port. INFO counts the refusals.
func TestHandshakeFloodBothPorts(t *testing.T) {
	pki := newTestPKI(t)
	cp := newClientPKI(t)
	port, err := tlsconf.LoadClientPort(tlsconf.Files{Cert: cp.files.Cert, Key: cp.files.Key})
	if err != nil {
		t.Fatal(err)
	}
	const perIP = 4
	c := startClusterAs(t, 1, func(cfg *Config) {
		pki.secure(cfg, "")
		cfg.ClientTLS = port.ServerConfig()
		cfg.Handshakes = admit.Config{MaxHandshakesPerIP: perIP, HandshakeTimeout: time.Minute}
	}, testcluster.ClientOptions{TLS: cp.clientTLS(false)})
	n := c.node(0)
	clientAddr, internalAddr := c.cfgs[0].ClientAddr, n.self.Raft

	before := runtime.NumGoroutine()
	const flood = 200
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 10 * time.Second}
	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	for i := range flood {
		for _, addr := range []string{clientAddr, internalAddr} {
			nc, err := d.Dial("tcp", addr)
			if err != nil {
				t.Fatalf("flood dial %d: %v", i, err)
			}
			held = append(held, nc)
		}
	}
	waitFor(t, 30*time.Second, "every flood connection to be admitted or refused", func() error {
		st := n.securityTotals()
		for name, h := range map[string]struct{ a, b uint64 }{
			"client": {st.Client.Admitted, st.Client.Busy}, "internal": {st.Internal.Admitted, st.Internal.Busy},
		} {
			// The internal port also admitted the genuine node's own
			// connections from 127.0.0.1 (none here: one node).
			if h.a+h.b < flood {
				return fmt.Errorf("%s port: %d admitted, %d busy", name, h.a, h.b)
			}
		}
		return nil
	})
	if grown := runtime.NumGoroutine() - before; grown > 2*perIP+40 {
		t.Fatalf("a flood of %d connections per port added %d goroutines", flood, grown)
	}

	// A genuine client is served during the flood (the client port's
	// flood handshakes still have most of a minute).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, _, err := dialTLS(t, clientAddr, cp.clientTLS(false))
	if err != nil {
		t.Fatalf("genuine client during the flood: %v", err)
	}
	if v, err := cl.Do(ctx, "PING"); err != nil || v.Str != "PONG" {
		t.Fatalf("PING during the flood: %+v %v", v, err)
	}
	// A genuine node proves its id on the internal port.
	m := memberMux(t, pki, "n2")
	if err := m.VerifyPeer(internalAddr, n.cfg.ID); err != nil {
		t.Fatalf("a genuine node during the flood: %v", err)
	}

	info, err := cl.Do(ctx, "INFO", "security")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"client", "internal"} {
		if busy := infoField(t, info.Str, p+"_handshakes_busy"); busy < flood-perIP {
			t.Fatalf("INFO %s_handshakes_busy %d, want >= %d:\n%s", p, busy, flood-perIP, info.Str)
		}
	}
	if inFlight := infoField(t, info.Str, "client_handshakes_in_flight"); inFlight > perIP {
		t.Fatalf("client port: %d handshakes in flight, bound %d", inFlight, perIP)
	}
}
