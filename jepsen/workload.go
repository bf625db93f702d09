package jepsen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/sessionraft/sessionraft/client"
	"github.com/sessionraft/sessionraft/internal/testcluster"
	"github.com/sessionraft/sessionraft/transport/resp"
)

// env is what workloads run against.
type env struct {
	c   *Cluster
	cl  *client.Client
	h   *History
	cfg RunConfig
}

// Workload generates operations and checks their history.
type Workload interface {
	Name() string
	// Setup runs once on the healthy cluster before the nemesis starts.
	Setup(ctx context.Context, e *env) error
	// Worker issues operations until ctx ends.
	Worker(ctx context.Context, e *env, process int)
	// Final runs after the cluster has healed (final reads).
	Final(ctx context.Context, e *env) error
	// Check judges the history.
	Check(e *env, ops []Op) []CheckResult
}

// NewWorkload returns a workload by name: register, set, ttl, cache.
func NewWorkload(name string) (Workload, error) {
	switch name {
	case "register":
		return &registerWorkload{}, nil
	case "set", "lifecycle":
		return &setWorkload{}, nil
	case "ttl":
		return &ttlWorkload{}, nil
	case "cache":
		return &cacheWorkload{}, nil // workload_cache.go
	}
	return nil, fmt.Errorf("unknown workload %q (register, set, ttl, cache)", name)
}

// pace waits between operations of one worker (a rate limit, not
// synchronisation). It reports false when ctx ended.
func pace(ctx context.Context, min, max time.Duration) bool {
	d := min + rand.N(max-min+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// direct holds one worker's own RESP connections to each node, for reads
// sent to a chosen node (which serves or forwards them) instead of the
// leader the Go client would pick.
type direct struct {
	client testcluster.ClientOptions // TLS and credentials of the client ports
	conns  map[string]*resp.Client
}

func (d *direct) do(ctx context.Context, n *Node, timeout time.Duration, args ...string) (resp.Value, error) {
	if d.conns == nil {
		d.conns = map[string]*resp.Client{}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cl := d.conns[n.ID]
	if cl == nil {
		var err error
		if cl, err = d.client.Dial(ctx, n.Client); err != nil {
			return resp.Value{}, err
		}
		d.conns[n.ID] = cl
	}
	v, err := cl.Do(ctx, args...)
	var se *resp.ServerError
	if err != nil && !errors.As(err, &se) {
		cl.Close()
		delete(d.conns, n.ID)
	}
	return v, err
}

func (d *direct) close() {
	for _, c := range d.conns {
		c.Close()
	}
}

// directGet reads id on node n: found, version, field value.
func (d *direct) get(ctx context.Context, n *Node, id, level, field string) (found bool, ver uint64, val string, err error) {
	v, err := d.do(ctx, n, 2*time.Second, "SESSION.GET", id, "CONSISTENCY", level, "NOTOUCH")
	var se *resp.ServerError
	if errors.As(err, &se) && se.Code == "NOTFOUND" {
		return false, 0, "", nil
	}
	if err != nil {
		return false, 0, "", err
	}
	m := asMap(v)
	return true, uint64(m["version"].Int), asMap(m["fields"])[field].Str, nil
}

func randomNode(c *Cluster) *Node { return c.Nodes[rand.IntN(len(c.Nodes))] }

func opCtx(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	// Operations started before the end of the run finish on their own
	// deadline, so their outcome is recorded.
	return context.WithTimeout(context.WithoutCancel(ctx), d)
}

// ---------------------------------------------------------------- register

// registerWorkload: a few sessions, each a register in field "v": unique
// writes, compare-and-set with IfVersion, linearizable reads (through the
// Go client, and straight to a random node that serves or forwards them)
// and stale reads (checked against the staleness bound).
type registerWorkload struct {
	keys []string
	init map[string]regState
}

func (w *registerWorkload) Name() string { return "register" }

func (w *registerWorkload) Setup(ctx context.Context, e *env) error {
	w.init = map[string]regState{}
	for i := range e.cfg.Keys {
		var s *client.Session
		var err error
		for try := 0; try < 10; try++ {
			octx, cancel := context.WithTimeout(ctx, 3*time.Second)
			s, err = e.cl.Create(octx, client.WithSubject("jepsen-register"), client.WithField("v", []byte(fmt.Sprint("init-", i))))
			cancel()
			if err == nil {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("register setup: %w", err)
		}
		w.keys = append(w.keys, s.ID)
		w.init[s.ID] = regState{val: fmt.Sprint("init-", i), ver: s.Version}
	}
	return nil
}

func (w *registerWorkload) Worker(ctx context.Context, e *env, p int) {
	d := direct{client: e.c.Cfg.Client}
	defer d.close()
	seen := map[string]uint64{}
	for n := 0; pace(ctx, 2*time.Millisecond, 15*time.Millisecond); n++ {
		key := w.keys[rand.IntN(len(w.keys))]
		op := Op{Process: p, Workload: "register", Key: key, Node: "client"}
		octx, cancel := opCtx(ctx, 3*time.Second)
		r := rand.IntN(100)
		op.Call = e.h.Now()
		switch {
		case r < 30: // write
			op.F, op.Value = "write", fmt.Sprintf("p%d-%d", p, n)
			v, err := e.cl.Set(octx, key, map[string][]byte{"v": []byte(op.Value)})
			op.Return, op.Outcome, op.Version = e.h.Now(), writeOutcome(err), v
			setErr(&op, err)
		case r < 45: // compare-and-set
			if seen[key] == 0 {
				seen[key] = w.init[key].ver
			}
			op.F, op.Value, op.IfVer = "cas", fmt.Sprintf("p%d-%d", p, n), seen[key]
			v, err := e.cl.Set(octx, key, map[string][]byte{"v": []byte(op.Value)}, client.IfVersion(op.IfVer))
			op.Return, op.Outcome, op.Version = e.h.Now(), writeOutcome(err), v
			if errors.Is(err, client.ErrConflict) {
				op.Outcome, op.Conflict = OK, true
			}
			setErr(&op, err)
		case r < 80: // linearizable read
			op.F = "read"
			w.read(octx, e, &d, &op, r%2 == 0, "linearizable")
		default: // stale read
			op.F = "stale-read"
			w.read(octx, e, &d, &op, r%2 == 0, "stale")
		}
		cancel()
		if op.Outcome == OK && op.Version != 0 && !op.Conflict {
			seen[key] = op.Version
		}
		e.h.add(op)
	}
}

func (w *registerWorkload) read(ctx context.Context, e *env, d *direct, op *Op, viaNode bool, level string) {
	var err error
	if viaNode {
		n := randomNode(e.c)
		op.Node = n.ID
		op.Found, op.Version, op.Value, err = d.get(ctx, n, op.Key, level, "v")
	} else {
		var s *client.Session
		s, err = e.cl.Get(ctx, op.Key, client.WithConsistency(client.Consistency(level)), client.WithoutTouch())
		if errors.Is(err, client.ErrNotFound) {
			err = nil
		} else if err == nil {
			op.Found, op.Version = true, s.Version
			op.Value, _ = s.String("v")
		}
	}
	op.Return = e.h.Now()
	op.Outcome = OK
	if err != nil {
		op.Outcome = Fail // a read without an answer has no effect
		setErr(op, err)
	}
}

func (w *registerWorkload) Final(context.Context, *env) error { return nil }

func (w *registerWorkload) Check(e *env, ops []Op) []CheckResult {
	return []CheckResult{
		checkLinearizable(ops, w.init, e.cfg.OutDir),
		checkStaleness(ops, e.cfg.staleBound()),
	}
}

func setErr(op *Op, err error) {
	if err != nil {
		op.Err = err.Error()
		if len(op.Err) > 200 {
			op.Err = op.Err[:200]
		}
	}
}

// ---------------------------------------------------------------- set

// setWorkload (also "lifecycle"): create many sessions of one subject,
// destroy and rotate some of them; at the end every acknowledged session
// is present, and every destroyed or rotated-away id is gone.
type setWorkload struct {
	mu    sync.Mutex
	live  []string // acknowledged, not being destroyed or rotated
	final map[string]bool
}

const setSubject = "jepsen-set"

func (w *setWorkload) Name() string                            { return "set" }
func (w *setWorkload) Setup(ctx context.Context, e *env) error { return nil }
func (w *setWorkload) Check(e *env, ops []Op) []CheckResult {
	return []CheckResult{checkSet(ops, w.final)}
}
func (w *setWorkload) take() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.live) < 20 {
		return ""
	}
	i := rand.IntN(len(w.live))
	id := w.live[i]
	w.live[i] = w.live[len(w.live)-1]
	w.live = w.live[:len(w.live)-1]
	return id
}

func (w *setWorkload) put(id string) {
	w.mu.Lock()
	w.live = append(w.live, id)
	w.mu.Unlock()
}

func (w *setWorkload) Worker(ctx context.Context, e *env, p int) {
	for n := 0; pace(ctx, 2*time.Millisecond, 10*time.Millisecond); n++ {
		op := Op{Process: p, Workload: "set", Node: "client"}
		octx, cancel := opCtx(ctx, 3*time.Second)
		r := rand.IntN(100)
		var id string
		if r >= 70 {
			id = w.take()
		}
		op.Call = e.h.Now()
		switch {
		case id == "": // create
			op.F, op.Value = "create", fmt.Sprintf("p%d-%d", p, n)
			s, err := e.cl.Create(octx, client.WithSubject(setSubject), client.WithField("i", []byte(op.Value)))
			op.Return, op.Outcome = e.h.Now(), writeOutcome(err)
			setErr(&op, err)
			if err == nil {
				op.Key, op.Version = s.ID, s.Version
				w.put(s.ID)
			}
		case r < 85: // destroy
			op.F, op.Key = "destroy", id
			_, err := e.cl.Destroy(octx, id)
			op.Return, op.Outcome = e.h.Now(), writeOutcome(err)
			setErr(&op, err)
		default: // rotate
			op.F, op.Key = "rotate", id
			nid, err := e.cl.Rotate(octx, id)
			op.Return, op.Outcome = e.h.Now(), writeOutcome(err)
			setErr(&op, err)
			switch {
			case err == nil:
				op.NewKey = nid
				w.put(nid)
			case op.Outcome == Fail && !errors.Is(err, client.ErrNotFound):
				w.put(id) // not applied: still live
			}
		}
		cancel()
		e.h.add(op)
	}
}

// Final lists the subject's sessions, linearizably, once the cluster is
// healthy again (retrying for a bounded time).
func (w *setWorkload) Final(ctx context.Context, e *env) error {
	deadline := time.Now().Add(30 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		octx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var ss []*client.Session
		ss, err = e.cl.List(octx, setSubject, client.WithConsistency(client.Linearizable))
		cancel()
		if err == nil {
			w.final = map[string]bool{}
			for _, s := range ss {
				w.final[s.ID] = true
			}
			return nil
		}
		if !pace(ctx, 200*time.Millisecond, 300*time.Millisecond) {
			break
		}
	}
	return fmt.Errorf("set: final list: %w", err)
}

// ---------------------------------------------------------------- ttl

// ttlWorkload: sessions with short TTLs, read repeatedly (linearizable
// through the client and on random nodes, stale on random nodes) until
// well past their deadline.
type ttlWorkload struct{}

func (w *ttlWorkload) Name() string                            { return "ttl" }
func (w *ttlWorkload) Setup(ctx context.Context, e *env) error { return nil }
func (w *ttlWorkload) Final(context.Context, *env) error       { return nil }
func (w *ttlWorkload) Check(e *env, ops []Op) []CheckResult {
	return []CheckResult{checkTTL(ops, e.cfg.ttlBound())}
}

func (w *ttlWorkload) Worker(ctx context.Context, e *env, p int) {
	d := direct{client: e.c.Cfg.Client}
	defer d.close()
	for n := 0; pace(ctx, 5*time.Millisecond, 50*time.Millisecond); n++ {
		ttl := 800*time.Millisecond + rand.N(1200*time.Millisecond)
		ttl = ttl.Truncate(time.Millisecond)
		op := Op{Process: p, Workload: "ttl", F: "create", TTL: int64(ttl), Node: "client"}
		octx, cancel := opCtx(ctx, 3*time.Second)
		op.Call = e.h.Now()
		s, err := e.cl.Create(octx, client.WithTTL(ttl), client.WithField("t", []byte("x")))
		cancel()
		op.Return, op.Outcome = e.h.Now(), writeOutcome(err)
		setErr(&op, err)
		if err != nil {
			e.h.add(op)
			continue
		}
		op.Key = s.ID
		e.h.add(op)
		// Read until two consecutive NOTFOUNDs past deadline + bound.
		until := op.Return + int64(ttl) + int64(e.cfg.ttlBound()) + int64(500*time.Millisecond)
		misses := 0
		for e.h.Now() < until && misses < 2 {
			if !pace(ctx, 30*time.Millisecond, 120*time.Millisecond) {
				return
			}
			r := Op{Process: p, Workload: "ttl", Key: s.ID, Node: "client"}
			rctx, cancel := opCtx(ctx, 2*time.Second)
			r.Call = e.h.Now()
			switch k := rand.IntN(3); k {
			case 0:
				r.F = "read"
				var got *client.Session
				got, err = e.cl.Get(rctx, s.ID, client.WithoutTouch())
				r.Found = err == nil
				if got != nil {
					r.Version = got.Version
				}
			default:
				nd := randomNode(e.c)
				r.Node = nd.ID
				r.F = "read"
				level := "linearizable"
				if k == 2 {
					r.F, level = "stale-read", "stale"
				}
				r.Found, r.Version, _, err = d.get(rctx, nd, s.ID, level, "t")
			}
			cancel()
			r.Return, r.Outcome = e.h.Now(), OK
			if errors.Is(err, client.ErrNotFound) {
				err = nil
			}
			if err != nil {
				r.Outcome = Fail
				setErr(&r, err)
			}
			e.h.add(r)
			// Misses count only past the checker's bound: reads there are
			// the ones that can catch a session served late.
			if r.Outcome == OK && !r.Found && r.Call > op.Return+int64(ttl)+int64(e.cfg.ttlBound()) {
				misses++
			}
		}
	}
}

// asMap turns a RESP2 flat array or RESP3 map into a map.
func asMap(v resp.Value) map[string]resp.Value {
	m := map[string]resp.Value{}
	for i := 0; i+1 < len(v.Elems); i += 2 {
		m[v.Elems[i].Str] = v.Elems[i+1]
	}
	return m
}
