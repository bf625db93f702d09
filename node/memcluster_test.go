package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/transport/mux"
)

// memCluster is one raft group (group 0) replicated over in-process nodes
// on raft's in-memory transport and stores, with the group's peer RPC
// (term polls) through a memRouter. Each node is a Node with only this
// group: no ports, no memberlist, no disk. Partitions cut the raft
// transport and the router; a node's log can be held (gatedLog) to stall
// its raft loop.
type memCluster struct {
	t      testing.TB
	nodes  []*Node
	addrs  []raft.ServerAddress
	trans  []*raft.InmemTransport
	logs   []*gatedLog
	router *memRouter
}

// memConfig has raft timeouts short enough for a test of a few hundred
// milliseconds and no background entries (clock ticks, sweeps, balancing),
// so the tests can count entries.
func memConfig(id string) Config {
	cfg := DefaultConfig()
	cfg.ID = id
	cfg.Groups = 1
	cfg.HeartbeatTimeout = 100 * time.Millisecond
	cfg.ElectionTimeout = 100 * time.Millisecond
	cfg.LeaderLeaseTimeout = 100 * time.Millisecond
	cfg.CommitTimeout = 5 * time.Millisecond
	cfg.RequestTimeout = 2 * time.Second
	cfg.MaxStaleness = time.Hour
	cfg.SweepInterval = time.Hour
	cfg.BalanceInterval = time.Hour
	cfg.Logger = memLogger()
	return cfg
}

// memLogger discards logs unless SESSIONRAFT_TEST_LOG is set (as
// testConfig does).
func memLogger() *slog.Logger {
	if os.Getenv("SESSIONRAFT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
}

// newMemCluster starts size nodes of the group, connected but not
// bootstrapped. tweak, if not nil, adjusts every node's config.
func newMemCluster(t testing.TB, size int, tweak func(*Config)) *memCluster {
	t.Helper()
	c := &memCluster{t: t, router: newMemRouter()}
	for range size {
		addr, tr := raft.NewInmemTransport("")
		c.addrs = append(c.addrs, addr)
		c.trans = append(c.trans, tr)
	}
	c.connectAll()
	// Registered first, so it runs last: after every gate is released.
	t.Cleanup(func() {
		for _, n := range c.nodes {
			if err := n.Close(); err != nil {
				t.Logf("close %s: %v", n.cfg.ID, err)
			}
		}
	})
	for i := range size {
		cfg := memConfig(fmt.Sprintf("m%d", i+1))
		if tweak != nil {
			tweak(&cfg)
		}
		n := newNode(cfg)
		// Admitted, as a bootstrapped member (membership.go); the
		// membership tests start unadmitted nodes of their own.
		_ = n.ident.update(func(id *identity) { id.Admitted, id.Member = true, true })
		n.self = meta{ID: cfg.ID, Raft: string(c.addrs[i]), Groups: 1}
		close(n.startDone) // built by hand: there is no start to wait for
		logs := newGatedLog(raft.NewInmemStore())
		g, err := newGroup(n, 0, groupLayer{
			trans:   c.trans[i],
			logs:    logs,
			stable:  raft.NewInmemStore(),
			snaps:   raft.NewInmemSnapshotStore(),
			peers:   c.router.from(string(c.addrs[i])),
			closers: []io.Closer{c.trans[i]},
		})
		if err != nil {
			t.Fatalf("node %s: %v", cfg.ID, err)
		}
		n.groups = []*group{g}
		ctx, cancel := context.WithCancel(context.Background())
		n.cancel = cancel
		g.run(ctx)
		c.router.handle(string(c.addrs[i]), n.handleRPC)
		c.nodes = append(c.nodes, n)
		c.logs = append(c.logs, logs)
	}
	// A held raft loop cannot shut down: release every gate first.
	t.Cleanup(func() {
		for _, l := range c.logs {
			l.release()
		}
	})
	return c
}

func (c *memCluster) group(i int) *group { return c.nodes[i].groups[0] }

func (c *memCluster) server(i int) raft.Server {
	return raft.Server{ID: raft.ServerID(c.nodes[i].cfg.ID), Address: c.addrs[i], Suffrage: raft.Voter}
}

// bootstrap bootstraps the group with the first voters nodes as its
// voters (all of them when voters is 0).
func (c *memCluster) bootstrap(voters int) {
	c.t.Helper()
	if voters == 0 {
		voters = len(c.nodes)
	}
	var servers []raft.Server
	for i := range voters {
		servers = append(servers, c.server(i))
	}
	for i := range voters {
		if err := c.group(i).raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
			c.t.Fatalf("bootstrap %s: %v", c.nodes[i].cfg.ID, err)
		}
	}
}

// readyLeader waits until one of the nodes (any, if none are named) is
// the group's ready leader in a term after minTerm, and returns it.
func (c *memCluster) readyLeader(minTerm uint64, among ...int) int {
	c.t.Helper()
	if len(among) == 0 {
		for i := range c.nodes {
			among = append(among, i)
		}
	}
	leader := -1
	eventually(c.t, "a ready leader", func() error {
		for _, i := range among {
			g := c.group(i)
			if _, ok := g.readyNow(); ok && g.raft.CurrentTerm() > minTerm {
				leader = i
				return nil
			}
		}
		return fmt.Errorf("none of nodes %v is a ready leader in a term after %d", among, minTerm)
	})
	return leader
}

func (c *memCluster) connectAll() {
	for i, t := range c.trans {
		for j, peer := range c.trans {
			if i != j {
				t.Connect(c.addrs[j], peer)
			}
		}
	}
}

// cutRaft cuts node i's raft transport off from every other node, both
// ways.
func (c *memCluster) cutRaft(i int) {
	c.trans[i].DisconnectAll()
	for j, t := range c.trans {
		if j != i {
			t.Disconnect(c.addrs[i])
		}
	}
}

// isolate cuts node i off from the others: raft and peer RPC.
func (c *memCluster) isolate(i int) {
	c.cutRaft(i)
	c.router.cut(string(c.addrs[i]))
}

// heal undoes every cut of raft and of the router.
func (c *memCluster) heal() {
	c.connectAll()
	c.router.heal()
}

// propose runs cmd through group i's batcher.
func (c *memCluster) propose(i int, cmd fsm.Command) (fsm.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.nodes[i].cfg.RequestTimeout)
	defer cancel()
	return c.group(i).propose(ctx, cmd, 64)
}

// mustPropose proposes cmd on node i and fails the test unless it applied
// without error.
func (c *memCluster) mustPropose(i int, cmd fsm.Command) fsm.Result {
	c.t.Helper()
	res, err := c.propose(i, cmd)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		c.t.Fatalf("write on %s: %v", c.nodes[i].cfg.ID, err)
	}
	return res
}

// has reports whether node i's state machine holds session id.
func (c *memCluster) has(i int, id string) bool {
	_, ok := c.group(i).fsm.Get(id, c.nodes[i].now())
	return ok
}

func createCmd(id string) fsm.Command {
	return fsm.Command{Type: fsm.CmdCreate, Create: &fsm.Create{
		ID: id, Subject: "subject", Fields: map[string][]byte{"f": []byte("v")},
	}}
}

// eventually polls cond until it holds, failing the test after a deadline
// that only a broken implementation reaches.
func eventually(t testing.TB, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %v", what, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// receive returns the next value from ch, failing the test with what
// ("no ... was sent") if none comes within d.
func receive[T any](t testing.TB, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatal(what)
		var zero T
		return zero
	}
}

// gatedLog is raft's in-memory log with a gate. While held, a StoreLogs
// with an entry that the hold matches waits until release: on a leader that
// stops raft's main loop where it writes its log, as a stalled disk or a
// paused process would, while its heartbeat goroutines go on.
type gatedLog struct {
	raft.LogStore
	mu      sync.Mutex
	match   func(*raft.Log) bool
	open    chan struct{}
	waiting atomic.Int32 // writes stopped at the gate now
}

func newGatedLog(s raft.LogStore) *gatedLog { return &gatedLog{LogStore: s} }

// hold stops every later write with an entry that match accepts.
func (l *gatedLog) hold(match func(*raft.Log) bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.match == nil {
		l.open = make(chan struct{})
	}
	l.match = match
}

// release lets every write through again.
func (l *gatedLog) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.match != nil {
		close(l.open)
		l.match = nil
	}
}

func (l *gatedLog) StoreLog(e *raft.Log) error { return l.StoreLogs([]*raft.Log{e}) }

func (l *gatedLog) StoreLogs(es []*raft.Log) error {
	l.mu.Lock()
	match, open := l.match, l.open
	l.mu.Unlock()
	if match != nil {
		for _, e := range es {
			if match(e) {
				l.waiting.Add(1)
				<-open
				l.waiting.Add(-1)
				break
			}
		}
	}
	return l.LogStore.StoreLogs(es)
}

// memRouter carries the internal RPC between the nodes of a memCluster as
// the mux does between processes: each address has the node's handleRPC;
// a call that cannot be delivered fails with mux.ErrUnreachable, and a
// handler's error comes back as a *mux.RemoteError with its code. An
// address can be cut off (calls from and to it fail at once) or made to
// hang (calls to it get no answer until their context ends).
type memRouter struct {
	mu       sync.Mutex
	handlers map[string]mux.RPCHandler
	cuts     map[string]bool
	hangs    map[string]bool
}

func newMemRouter() *memRouter {
	return &memRouter{handlers: map[string]mux.RPCHandler{}, cuts: map[string]bool{}, hangs: map[string]bool{}}
}

func (r *memRouter) handle(addr string, h mux.RPCHandler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handlers[addr] = h
}

func (r *memRouter) cut(addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cuts[addr] = true
}

func (r *memRouter) hang(addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hangs[addr] = true
}

func (r *memRouter) heal() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.cuts)
	clear(r.hangs)
}

// from is the peerCaller of the node at addr.
func (r *memRouter) from(addr string) peerCaller { return memCaller{r: r, from: addr} }

type memCaller struct {
	r    *memRouter
	from string
}

func (c memCaller) Call(ctx context.Context, addr string, method uint8, payload []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", mux.ErrUnreachable, err)
	}
	c.r.mu.Lock()
	h := c.r.handlers[addr]
	cut := c.r.cuts[c.from] || c.r.cuts[addr]
	hang := c.r.hangs[addr]
	c.r.mu.Unlock()
	switch {
	case cut || h == nil:
		return nil, fmt.Errorf("%w: %s cannot reach %s", mux.ErrUnreachable, c.from, addr)
	case hang:
		<-ctx.Done()
		return nil, fmt.Errorf("%w: %w", mux.ErrConnLost, ctx.Err())
	}
	out, err := h(ctx, method, bytes.Clone(payload))
	if err != nil {
		code := mux.CodeErr
		if ce, ok := errors.AsType[interface {
			error
			Code() string
		}](err); ok && ce.Code() != "" {
			code = ce.Code()
		}
		return nil, &mux.RemoteError{Code: code, Msg: err.Error()}
	}
	return bytes.Clone(out), nil
}
