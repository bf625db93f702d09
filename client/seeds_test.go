//go:build unix

package client

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// silentAddr returns a loopback address that accepts connections and never
// answers, like a wrong service or a hung node.
func silentAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				for _, c := range conns {
					c.Close()
				}
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return l.Addr().String()
}

func TestWrongSeeds(t *testing.T) {
	bad, silent := closedAddr(t), silentAddr(t)

	t.Run("one good seed among wrong ones", func(t *testing.T) {
		start := time.Now()
		c := newClient(t, Config{Seeds: []string{bad, silent, shared.Nodes[1].Client}, DialTimeout: 500 * time.Millisecond})
		ctx := testCtx(t)
		s, err := c.Create(ctx, WithSubject("seeds"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Get(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		nodes := c.topo.Load().nodes
		if !slices.Equal(nodes, sortedSeeds()) {
			t.Errorf("learned nodes %v, want %v", nodes, sortedSeeds())
		}
		// The wrong seeds' connections are closed; every node has one.
		c.conns.mu.Lock()
		conns := sortedKeys(c.conns.m)
		c.conns.mu.Unlock()
		if !slices.Equal(conns, nodes) {
			t.Errorf("connections to %v, want %v", conns, nodes)
		}
		t.Logf("connected in %v", time.Since(start))
	})

	t.Run("all seeds wrong", func(t *testing.T) {
		start := time.Now()
		_, err := New(context.Background(), Config{Seeds: []string{bad, silent}, DialTimeout: 500 * time.Millisecond})
		took := time.Since(start)
		if err == nil {
			t.Fatal("New succeeded with no server")
		}
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), silent) {
			t.Errorf("error does not name every seed: %v", err)
		}
		if took > 3*time.Second {
			t.Errorf("New took %v to fail", took)
		}
		t.Logf("failed in %v: %v", took, err)
	})

	t.Run("no seeds", func(t *testing.T) {
		if _, err := New(context.Background(), Config{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("New without seeds: %v", err)
		}
	})
}

func sortedSeeds() []string {
	s := shared.Addrs()
	slices.Sort(s)
	return s
}
