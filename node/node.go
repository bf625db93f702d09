package node

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/sessionraft/sessionraft/transport/mux"
	"github.com/sessionraft/sessionraft/transport/resp"
	"github.com/sessionraft/sessionraft/transport/tlsconf"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// Version is the server version reported by HELLO and INFO.
const Version = "0.1.0"

// Node is one running server.
type Node struct {
	cfg        Config
	log        *slog.Logger
	self       meta
	clientAddr string
	started    time.Time
	// stopHeapGov releases this node's hold on the heap governor.
	stopHeapGov func()

	mux    *mux.Mux
	cycles readCycles // the read rounds' requests to the peers (readcycles.go)
	ml     *memberlist.Memberlist
	groups []*group
	ring   *wire.Ring
	touch  *touchBuffer

	respLn  net.Listener
	respSrv *resp.Server

	membershipKick chan struct{}
	memberMu       sync.Mutex
	memberTable    map[string]member // memberlist name → latest metadata
	// diskLowPeer is the lowest id of a live member gossiping a disk
	// alarm ("" none), kept by noteMember: every client write checks it
	// (diskAlarm), and copying and sorting the member table for that cost
	// a few percent of a create's CPU.
	diskLowPeer  atomic.Pointer[string]
	bootstrapped atomic.Bool
	ident        identityState     // membership.go
	refusing     atomic.Bool       // Drain: new client requests get ErrShutdown
	removedFrom  map[int]time.Time // group → last removal notice from its leader; under memberMu

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	startDone chan struct{} // closed when start returns, whatever the outcome
	closing   chan struct{}
	// writeWaits keeps the deadlines of writes whose replies the batches
	// complete (writenow.go).
	writeWaits *writeWaits
	// sweepStop ends writeWaits' loop (sweepWG), after the internal port
	// closed: forwarded writes keep their deadlines until then.
	sweepStop chan struct{}
	sweepWG   sync.WaitGroup
	// pendingWrites counts fast-path writes not yet answered (their
	// replies are deferred, so respSrv.Running does not see them).
	pendingWrites atomic.Int64
	done          chan struct{}

	test  testHooks // fault-injection hooks; used only in test mode (testmode.go)
	auth  nodeAuth  // client port users and the failed-AUTH log (auth.go)
	mem   memGuard  // the memory quota (memlimit.go)
	lists listGate  // turns for building SESSION.LIST pages (list.go)

	admin admin // metrics, admin HTTP port, leader changes (admin.go)
	// topo is the topology epoch and the TOPOLOGY WAITs (topowatch.go).
	topo *topoWatch

	// Security (security.go): the internal port's TLS identity (nil:
	// plaintext), the gossip keyring (nil: plaintext gossip), what is known
	// for certain about peers' ids and addresses, and identities proven
	// over TLS (guarded by memberMu).
	tls        *tlsconf.Store
	gossipKeys *gossipKeyring
	peers      atomic.Pointer[peerTable]
	peersAt    atomic.Int64 // unix ns of the last refreshPeers
	refusedAt  atomic.Int64 // unix ns of the last "refusing internal RPC" warning
	proven     map[string]string
	raftGuard  raftGuardStats // raft messages refused by the guard (raftguard.go)
	gates      portGates      // TLS handshake admission per port (handshakes.go)

	backups backupRegistry // open online backups (backup.go)
	disk    diskState      // free-space alarm and test-mode disk faults (disk.go)
	ps      pubsub         // pub/sub hub and keyspace notifications (pubsub.go, keyspace.go)
	trk     *tracker       // client-side caching's tracking table (tracking.go)

	mu        sync.Mutex
	fatalErr  error
	closeOnce sync.Once
	closeErr  error
}

// start is Start. ctx is checked between the steps of start-up (and
// before each group opens): once it ends, whatever was opened is closed and
// start returns its error. A step in progress, such as a group restoring
// its snapshot, finishes first.
func start(ctx context.Context, cfg Config) (_ *Node, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	n := newNode(cfg)
	// Runs last: after a failed start's shutdown (see fatal).
	defer close(n.startDone)
	aborted := func() error {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("start aborted: %w", err)
		}
		return nil
	}
	if err := aborted(); err != nil {
		return nil, err
	}
	if err := n.ReloadACL(); err != nil { // a bad ACL file fails before any port opens
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, err
	}
	G := cfg.groupCount()
	if n.ring, err = wire.NewRing(G, wire.DefaultVNodes); err != nil {
		return nil, err
	}
	// Undo whatever was started if a later step fails.
	defer func() {
		if err != nil {
			n.shutdown()
		}
	}()

	n.stopHeapGov = startHeapGovernor(gcHeadroom{percent: cfg.GCHeadroomPercent, min: cfg.GCHeadroomMin})
	if n.tls, err = loadTLS(&n.cfg); err != nil {
		return nil, err
	}
	if n.gossipKeys, err = openKeyring(&n.cfg); err != nil {
		return nil, err
	}
	mcfg := mux.DefaultConfig()
	mcfg.Logger = n.log.With("component", "mux")
	mcfg.Advertise = cfg.AdvertiseRaft
	mcfg.MaxRPCBytes = cfg.rpcFrameCap() // a peer's frame is no larger than a client's request
	if n.tls != nil {
		mcfg.TLS = n.tls
		mcfg.PeerID = n.peerID
		mcfg.RaftPeer = n.raftPeerOK
		mcfg.Admit = n.gates.internalGate(cfg.Handshakes) // handshakes.go
	}
	if cfg.MaxInternalConns > 0 {
		mcfg.MaxInboundConns = cfg.MaxInternalConns
	}
	if n.mux, err = mux.Listen(cfg.RaftAddr, mcfg); err != nil {
		return nil, fmt.Errorf("listen raft: %w", err)
	}
	if err = aborted(); err != nil {
		return nil, err
	}
	n.trk = newTracker(n, G)
	if n.groups, err = openGroups(ctx, n, G); err != nil {
		if abortErr := aborted(); abortErr != nil {
			return nil, abortErr
		}
		return nil, err
	}
	n.refreshPeers()
	// Only now: the handler reads n.groups.
	n.mux.HandleRPC(n.handleRPC)
	// A term poll answers from memory; the mux's reader runs it without a
	// goroutine per request (leadercheck.go).
	n.mux.HandleInline(rpcTerm)
	n.mux.HandleInline(rpcReadRound)
	// A forwarded write joins the batcher as a client's does, its reply
	// written by the batch (writeforward.go).
	n.mux.HandleDeferred(rpcWrite, n.handleWriteRPC)
	n.mux.HandleDeferred(rpcReadIndex, n.handleReadIndexRPC)
	if err = aborted(); err != nil {
		return nil, err
	}

	if n.respLn, err = net.Listen("tcp", cfg.ClientAddr); err != nil {
		return nil, fmt.Errorf("listen client: %w", err)
	}
	if cfg.ClientTLS != nil {
		// Handshakes run before Accept returns, bounded (handshakes.go).
		n.respLn = n.gates.clientListener(n.respLn, cfg.ClientTLS, cfg.Handshakes)
	}
	n.clientAddr = orDefault(cfg.AdvertiseClient, n.respLn.Addr().String())
	if err = n.listenAdmin(); err != nil {
		return nil, err
	}
	n.self = meta{
		ID:     cfg.ID,
		Raft:   orDefault(cfg.AdvertiseRaft, n.mux.Addr().String()),
		Client: n.clientAddr,
		HTTP:   n.advertisedHTTP(),
		Groups: G,
		Proto:  envelopeProto,
	}
	for _, g := range n.groups {
		if has, err := g.hasState(); err == nil && has {
			n.self.State = true
		}
	}
	if err = n.ident.load(cfg.DataDir, n.self.State); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if id := n.ident.get(); id.Removed {
		n.log.Error("this node was removed from the cluster and serves no requests; wipe its data directory, start it and run MEMBER ADD "+cfg.ID+" to use it again", "incarnation", id.Incarnation)
	} else if !id.Admitted {
		n.log.Info("waiting to be added to a cluster (bootstrap-expect, or MEMBER ADD "+cfg.ID+" on a member)", "incarnation", id.Incarnation)
	}
	n.gossipSelf()
	if err = n.startGossip(); err != nil {
		return nil, err
	}
	if err = aborted(); err != nil {
		return nil, err
	}

	// The node's own lifetime, ended by Close; not Start's ctx.
	runCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.touch = newTouchBuffer(n)
	for _, g := range n.groups {
		g.run(runCtx)
	}
	n.wg.Add(4)
	go func() { defer n.wg.Done(); n.memberLoop(runCtx) }()
	go func() { defer n.wg.Done(); n.joinLoop(runCtx) }()
	go func() { defer n.wg.Done(); n.membershipLoop(runCtx) }()
	go func() { defer n.wg.Done(); n.touch.loop(runCtx) }()
	n.watchLeaders(runCtx)
	n.wg.Add(4)
	go func() { defer n.wg.Done(); n.topoWatchLoop(runCtx) }()
	go func() { defer n.wg.Done(); n.diskLoop(runCtx) }()
	go func() { defer n.wg.Done(); n.logSizeLoop(runCtx) }()
	go func() { defer n.wg.Done(); n.trk.loop(runCtx) }()

	n.sweepWG.Add(1)
	go func() { defer n.sweepWG.Done(); n.writeWaits.loop(n.closing, n.sweepStop) }()

	n.respSrv = resp.NewServer(cfg.RESP, &handler{n: n}, n.log.With("component", "resp"))
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.respSrv.Serve(n.respLn); err != nil {
			n.fatal(fmt.Errorf("client port: %w", err))
		}
	}()
	n.log.Info("node started", "client", n.clientAddr, "raft", n.self.Raft, "gossip", cfg.GossipAddr, "groups", G,
		"internal_tls", n.tls != nil, "gossip_encrypted", n.gossipKeys != nil)
	n.warnInsecure()
	return n, nil
}

// newNode is a node that has opened nothing yet.
func newNode(cfg Config) *Node {
	n := &Node{
		cfg:            cfg,
		log:            cfg.Logger.With("node", cfg.ID),
		started:        time.Now(),
		membershipKick: make(chan struct{}, 1),
		startDone:      make(chan struct{}),
		closing:        make(chan struct{}),
		done:           make(chan struct{}),
		writeWaits:     newWriteWaits(cfg.RequestTimeout),
		sweepStop:      make(chan struct{}),
	}
	// A cycle's request is a term poll's, and gets its time
	// (leadercheck.go).
	n.cycles.timeout = min(cfg.HeartbeatTimeout, cfg.RequestTimeout/2)
	n.cycles.hedge = cycleHedge
	n.newAdmin()
	n.topo = newTopoWatch(n.started)
	n.disk.fakeFree.Store(-1)
	f, _ := parseNotifyFlags(cfg.NotifyKeyspaceEvents) // Validate checked it
	n.ps.notify.Store(f)
	return n
}

// Close stops the node: client port first (no new requests), gossip, then
// the background loops and every goroutine waiting on a raft future (raft
// still runs, so each gets its answer), then raft itself, then the internal
// port. Raft must go after its waiters: a future submitted just as raft
// shuts down is never answered.
func (n *Node) Close() error {
	n.closeOnce.Do(func() { n.closeErr = n.shutdown() })
	return n.closeErr
}

func (n *Node) shutdown() error {
	var errs []error
	select {
	case <-n.closing:
	default:
		close(n.closing)
	}
	if n.respSrv != nil {
		errs = append(errs, n.respSrv.Close())
	} else if n.respLn != nil {
		errs = append(errs, n.respLn.Close())
	}
	errs = append(errs, n.stopAdmin())
	if n.ml != nil {
		_ = n.ml.Leave(time.Second)
		errs = append(errs, n.ml.Shutdown())
	}
	if n.cancel != nil {
		n.cancel()
	}
	n.wg.Wait()
	for _, g := range n.groups {
		g.rounds.close() // no read round starts once Wait may be returning
		g.wg.Wait()
	}
	// raft's notify sends give up once it shuts down, so the stopped
	// leadership loops cannot block it.
	for _, g := range n.groups {
		errs = append(errs, g.close())
	}
	if n.mux != nil {
		errs = append(errs, n.mux.Close())
	}
	select {
	case <-n.sweepStop:
	default:
		close(n.sweepStop)
	}
	n.sweepWG.Wait()
	n.backups.closeAll()
	if n.stopHeapGov != nil {
		n.stopHeapGov()
	}
	select {
	case <-n.done:
	default:
		close(n.done)
	}
	var first error
	for _, e := range errs {
		if e != nil && first == nil {
			first = e
		}
	}
	return first
}

// fatal records an unrecoverable error and stops the node.
func (n *Node) fatal(err error) {
	n.log.Error("fatal", "err", err)
	n.mu.Lock()
	if n.fatalErr == nil {
		n.fatalErr = err
	}
	n.mu.Unlock()
	// A fatal error can come while start still runs (a group applying its
	// log as it opens meets an entry it cannot apply): closing then would
	// race with start building the node, so wait for start to finish. A
	// start that failed has shut everything down itself.
	go func() {
		<-n.startDone
		select {
		case <-n.done:
		default:
			n.Close()
		}
	}()
}

// now is the node's wall clock, Unix ns: the one place node reads time for
// stamping commands and hiding expired records. The offset is zero unless a
// test-mode DEBUG.CLOCK skews it.
func (n *Node) now() int64 { return time.Now().UnixNano() + n.test.clockOffset.Load() }

func (n *Node) group(gid int) (*group, error) {
	if gid < 0 || gid >= len(n.groups) {
		return nil, fmt.Errorf("%w: no group %d", ErrBadArg, gid)
	}
	return n.groups[gid], nil
}
