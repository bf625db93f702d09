package client

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// Client is a sessionraft client. It is safe for concurrent use; create one
// per process and share it.
type Client struct {
	cfg   Config
	log   *slog.Logger
	conns *conns
	topo  atomic.Pointer[topology]

	ctx       context.Context // cancelled by Close; bounds background work
	cancel    context.CancelFunc
	refreshc  chan struct{} // capacity 1: pending refresh requests coalesce
	wg        sync.WaitGroup
	closeOnce sync.Once
	closed    atomic.Bool

	rr atomic.Uint64 // round-robin counter for replicas and create targets
	// home is the rendezvous seed that picks the replica of each group
	// that takes this client's stale reads (home.go).
	home maphash.Seed
	// createPhase shifts this client's create slices (createGroup).
	createPhase uint64
	// lagging holds replicas that recently refused a stale read; they go
	// last in the home order (home.go).
	lagging lagging
	// wrote holds, per group, when this client's last write to it ended
	// (unix ns): its linearizable reads go to the leader for
	// leaderAfterWrite after that (pick).
	wrote [maxGroups]atomic.Int64

	// sharedDL is the attempts' shared deadline context (deadline.go).
	sharedDL atomic.Pointer[sharedDeadline]

	// maxStale is Config.MaxStaleness as sent with stale reads ("" to
	// leave it to the server), formatted once rather than per read.
	maxStale string

	// cache is the client-side session cache; nil without
	// Config.CacheSize (cache.go, tracking.go).
	cache *cache

	// packedGet and packedCreate remember the nodes that refused
	// SESSION.GET's and SESSION.CREATE's PACKED (packed.go).
	packedGet, packedCreate packedSupport

	// unknownRetries counts writes resent after an attempt whose outcome
	// was unknown; the tests use it to show the failover path ran.
	unknownRetries atomic.Int64
}

// minRefreshGap debounces topology refreshes: during a leader change every
// failing request asks for one, and one per gap is plenty.
const minRefreshGap = 50 * time.Millisecond

// New connects to the cluster: it asks the seeds for the topology (all at
// once, so a seed that is down, hung or wrong costs little while another
// answers), then connects to every node. It fails, naming every seed and
// its error, if no seed answers within DialTimeout (or before ctx ends).
func New(ctx context.Context, cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, log: cfg.Logger, refreshc: make(chan struct{}, 1), home: maphash.MakeSeed(), createPhase: rand.Uint64()}
	if cfg.MaxStaleness > 0 {
		c.maxStale = wireDuration(cfg.MaxStaleness)
	}
	c.conns = newConns(&c.cfg)
	c.ctx, c.cancel = context.WithCancel(context.Background())

	reports, errs := c.fetch(ctx, cfg.Seeds, false)
	if len(reports) == 0 {
		c.Close()
		var b strings.Builder
		for i, s := range cfg.Seeds {
			if i > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "%s: %v", s, errs[s])
		}
		return nil, fmt.Errorf("%w: no seed answered TOPOLOGY (%s)", seedsErr(errs), b.String())
	}
	tp, err := buildTopology(reports, failedSet(errs), nil)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("sessionraft: %w", err)
	}
	c.setTopology(tp)
	c.log.Debug("sessionraft: topology", "routes", tp.summary())
	c.syncConns(tp)

	c.wg.Add(1)
	go c.refreshLoop()
	if cfg.TopologyWait > 0 {
		c.wg.Add(1)
		go c.watchLoop() // topowatch.go
	}
	if cfg.CacheSize > 0 {
		c.cache = newCache(cfg.CacheSize, cfg.CacheLease)
		c.wg.Add(1)
		go c.trackLoop(c.ctx)
	}
	return c, nil
}

// Close stops the background refresh and closes every connection. Calls in
// flight fail with ErrClosed (a write among them may have been applied);
// later calls fail with ErrClosed at once.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.cancel()
		c.wg.Wait()
		c.conns.close()
	})
	return nil
}

// fetchGrace is how long fetch waits for the other nodes once one has
// answered: one report is enough to route, and a node that is hung must not
// hold up New or a refresh for a whole DialTimeout.
const fetchGrace = 100 * time.Millisecond

// fetch asks every addr for TOPOLOGY concurrently and returns the reports
// of those that answered and the errors of those that failed. Once one has
// answered it waits only fetchGrace for the rest; those still pending are
// in neither result, and finish in the background (Close waits for them).
//
// known says the addresses are nodes of the current topology, whose pooled
// connections are used. Others (seeds) get a connection for the question
// only: a seed may be a wrong address, or another spelling of a node, and
// one that answers late must not leave a connection behind.
func (c *Client) fetch(ctx context.Context, addrs []string, known bool) ([]*report, map[string]error) {
	type result struct {
		addr string
		r    *report
		err  error
	}
	ch := make(chan result, len(addrs)) // buffered: stragglers never block
	for _, a := range addrs {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			r, err := c.fetchOne(ctx, a, known)
			ch <- result{a, r, err}
		}()
	}
	var (
		reports []*report
		errs    = map[string]error{}
		grace   <-chan time.Time
	)
	for range addrs {
		var res result
		select {
		case res = <-ch:
		case <-grace:
			return reports, errs
		}
		if res.err != nil {
			errs[res.addr] = res.err
			continue
		}
		reports = append(reports, res.r)
		if grace == nil {
			t := time.NewTimer(fetchGrace)
			defer t.Stop()
			grace = t.C
		}
	}
	return reports, errs
}

func (c *Client) fetchOne(ctx context.Context, addr string, known bool) (*report, error) {
	r, err := c.askTopology(ctx, addr, known)
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no answer within %v (hung, or not a sessionraft node?): %w", c.cfg.DialTimeout, err)
	}
	return r, err
}

func (c *Client) askTopology(ctx context.Context, addr string, known bool) (*report, error) {
	var (
		nc  rueidis.Client
		err error
	)
	if known {
		nc, err = c.conns.get(addr)
	} else {
		nc, err = c.conns.dial(addr)
		if nc != nil {
			defer nc.Close()
		}
	}
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	m, err := nc.Do(ctx, nc.B().Arbitrary("TOPOLOGY").Build()).ToMessage()
	if err != nil {
		return nil, err
	}
	return parseTopology(addr, &m)
}

// seedsErr is the sentinel of New's failure: ErrAuth or ErrNoPerm when a
// seed refused the credentials (retrying cannot help), else
// ErrUnavailable.
func seedsErr(errs map[string]error) error {
	for _, err := range errs {
		if code, _, ok := redisCode(err); ok {
			if s := sentinelFor(code); s == ErrAuth || s == ErrNoPerm {
				return s
			}
		}
	}
	return ErrUnavailable
}

func failedSet(errs map[string]error) map[string]bool {
	f := make(map[string]bool, len(errs))
	for a := range errs {
		f[a] = true
	}
	return f
}

// syncConns connects to nodes that appeared (all at once, so a node that
// is down delays nothing) and closes the clients of nodes that left.
func (c *Client) syncConns(tp *topology) {
	var wg sync.WaitGroup
	for _, a := range tp.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = c.conns.get(a) // a node that is down is redialled on use
		}()
	}
	wg.Wait()
	c.conns.retain(tp.nodes)
}

// requestRefresh asks for a topology refresh soon, without waiting for it.
func (c *Client) requestRefresh() {
	select {
	case c.refreshc <- struct{}{}:
	default: // one is already pending
	}
}

// refreshLoop keeps the topology fresh: every RefreshInterval, and when a
// request saw a sign that it changed (a node unreachable, NOTLEADER,
// UNAVAILABLE), at most once per minRefreshGap.
func (c *Client) refreshLoop() {
	defer c.wg.Done()
	tick := time.NewTicker(c.cfg.RefreshInterval)
	defer tick.Stop()
	gap := time.NewTimer(minRefreshGap)
	gap.Stop()
	defer gap.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-tick.C:
		case <-c.refreshc:
		}
		c.refresh()
		gap.Reset(minRefreshGap)
		select {
		case <-c.ctx.Done():
			return
		case <-gap.C:
		}
	}
}

// refresh re-reads the topology from every known node, falling back to the
// seeds when none answers (the whole cluster may have moved or restarted).
// On total failure the old table stays: it is the best guess there is.
func (c *Client) refresh() {
	ctx, cancel := context.WithTimeout(c.ctx, 2*c.cfg.DialTimeout)
	defer cancel()
	old := c.topo.Load()
	reports, errs := c.fetch(ctx, old.nodes, true)
	if len(reports) == 0 {
		var seeds []string
		for _, s := range c.cfg.Seeds {
			if _, tried := errs[s]; !tried {
				seeds = append(seeds, s)
			}
		}
		var serrs map[string]error
		reports, serrs = c.fetch(ctx, seeds, false)
		for a, e := range serrs {
			errs[a] = e
		}
	}
	if c.ctx.Err() != nil {
		return
	}
	if len(reports) == 0 {
		c.log.Warn("sessionraft: topology refresh failed: no node answered", "errors", fmt.Sprint(errs))
		return
	}
	tp, err := buildTopology(reports, failedSet(errs), old)
	if err != nil {
		c.log.Warn("sessionraft: topology refresh failed", "err", err)
		return
	}
	c.setTopology(tp)
	if !tp.sameRoutes(old) {
		c.log.Debug("sessionraft: topology changed", "routes", tp.summary())
	}
	c.syncConns(tp)
}

// conn returns the rueidis client for addr. Its error means the request
// cannot have been sent (closed client, or the node refused the
// connection).
func (c *Client) conn(addr string) (rueidis.Client, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	nc, err := c.conns.get(addr)
	if nc == nil && err == nil {
		err = errors.New("no connection")
	}
	return nc, err
}
