package node

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/sessionraft/sessionraft/internal/testcluster"
)

// cancelAfter is a context that reports itself cancelled from its
// (checks+1)-th Err call on: start checks its context between steps, so
// it cancels start-up at one step after another, deterministically.
type cancelAfter struct {
	context.Context
	mu     sync.Mutex
	checks int
	done   chan struct{}
}

func newCancelAfter(checks int) *cancelAfter {
	return &cancelAfter{Context: context.Background(), checks: checks, done: make(chan struct{})}
}

func (c *cancelAfter) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.checks > 0 {
		c.checks--
		return nil
	}
	select {
	case <-c.done:
	default:
		close(c.done)
	}
	return context.Canceled
}

func (c *cancelAfter) Done() <-chan struct{} { return c.done }

// TestStartCancelled: a context that ends during start-up makes Start
// close whatever it opened and return the context's error, at every step.
// Each attempt reuses the same ports and data directory, so a listener, a
// gossip socket or a locked raft.db left open by an aborted start fails
// the next one (and goleak, at the end, any goroutine left running).
func TestStartCancelled(t *testing.T) {
	cfg := testConfig(t, "c1", t.TempDir())
	cfg.Groups = 2
	ports, err := testcluster.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RaftAddr = "127.0.0.1:" + strconv.Itoa(ports[0])
	cfg.ClientAddr = "127.0.0.1:" + strconv.Itoa(ports[1])

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n, err := Start(ctx, cfg); !errors.Is(err, context.Canceled) {
		if n != nil {
			n.Close()
		}
		t.Fatalf("Start with a cancelled context = %v, want context.Canceled", err)
	}

	for checks := 0; ; checks++ {
		if checks > 100 {
			t.Fatal("start-up still cancelled after 100 checks of its context")
		}
		n, err := Start(newCancelAfter(checks), cfg)
		if err == nil {
			if checks < 5 {
				t.Fatalf("start-up checked its context only %d times", checks)
			}
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
			break
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("start cancelled after %d checks: %v, want context.Canceled", checks, err)
		}
		if n != nil {
			t.Fatal("a cancelled Start returned a node")
		}
		for _, addr := range []string{cfg.RaftAddr, cfg.ClientAddr, cfg.GossipAddr} {
			l, err := net.Listen("tcp", addr)
			if err != nil {
				t.Fatalf("start cancelled after %d checks left %s open: %v", checks, addr, err)
			}
			l.Close()
		}
	}
}
