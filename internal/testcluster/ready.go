package testcluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/sessionraft/sessionraft/transport/resp"
)

// WaitReady polls TOPOLOGY on every running node that is not paused until
// each answers with the same number of groups, at least one, and sees for
// every group a leader that is a running, unpaused node of this cluster
// and itself answers that it leads the group. It fails at once if a node
// has exited without Kill.
func (c *Cluster) WaitReady(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := c.WaitReadyContext(ctx); err != nil {
		return fmt.Errorf("cluster not ready within %v: %w", timeout, err)
	}
	return nil
}

// WaitReadyContext is WaitReady until ctx ends.
func (c *Cluster) WaitReadyContext(ctx context.Context) error {
	for {
		for _, nd := range c.Nodes {
			if err := nd.unexpectedExit(); err != nil {
				return err
			}
		}
		why := c.notReady(ctx)
		if why == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s", ctx.Err(), why)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// notReady says why the cluster is not ready, or "" if it is.
func (c *Cluster) notReady(ctx context.Context) string {
	views := map[*Node][]Group{}
	ngroups := -1
	for _, nd := range c.Nodes {
		if !nd.Running() || nd.Paused() {
			continue // stopped on purpose (or caught by WaitReady)
		}
		groups, err := c.opts.Client.topology(ctx, nd.Client)
		if err != nil {
			return fmt.Sprintf("%s: %v", nd.ID, err)
		}
		if len(groups) == 0 {
			return fmt.Sprintf("%s has no groups yet", nd.ID)
		}
		if ngroups >= 0 && len(groups) != ngroups {
			return fmt.Sprintf("%s knows %d groups, another node %d", nd.ID, len(groups), ngroups)
		}
		ngroups = len(groups)
		views[nd] = groups
	}
	if len(views) == 0 {
		return "no node is running"
	}
	for nd, groups := range views {
		for _, g := range groups {
			if g.Leader == "" || g.LeaderClient == "" {
				return fmt.Sprintf("%s sees no leader for group %d", nd.ID, g.ID)
			}
			l := c.ByAddr(g.LeaderClient)
			switch {
			case l == nil:
				return fmt.Sprintf("%s sees %s, not a node of this cluster, as the leader of group %d", nd.ID, g.LeaderClient, g.ID)
			case !l.Running():
				return fmt.Sprintf("%s sees stopped %s as the leader of group %d", nd.ID, l.ID, g.ID)
			case l.Paused():
				return fmt.Sprintf("%s sees paused %s as the leader of group %d", nd.ID, l.ID, g.ID)
			case roleIn(views[l], g.ID) != "leader":
				return fmt.Sprintf("%s sees %s as the leader of group %d, which %s does not", nd.ID, l.ID, g.ID, l.ID)
			}
		}
	}
	return ""
}

// roleIn returns the role in group id of the node whose view is groups.
func roleIn(groups []Group, id int) string {
	for _, g := range groups {
		if g.ID == id {
			return g.Role
		}
	}
	return ""
}

// Group is one group in a node's TOPOLOGY answer.
type Group struct {
	ID           int
	Role         string // the node's role in the group: leader, follower, candidate
	Leader       string // the leader's node id, "" if none known
	LeaderClient string // the leader's client address
	Term         int64
	Commit       int64 // commit index
	Applied      int64 // applied index
}

// Topology asks the node at addr for TOPOLOGY, over a new connection, and
// returns its view of every group.
func Topology(addr string) ([]Group, error) {
	return ClientOptions{}.topology(context.Background(), addr)
}

func (o ClientOptions) topology(ctx context.Context, addr string) ([]Group, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	v, err := o.do(ctx, addr, "TOPOLOGY")
	if err != nil {
		return nil, err
	}
	return ParseTopology(v)
}

// ParseTopology reads a TOPOLOGY reply, for callers that send the command
// on a connection of their own.
func ParseTopology(v resp.Value) ([]Group, error) {
	m, err := asMap(v)
	if err != nil {
		return nil, fmt.Errorf("TOPOLOGY reply: %w", err)
	}
	var out []Group
	for _, gv := range m["groups"].Elems {
		g, err := asMap(gv)
		if err != nil {
			return nil, fmt.Errorf("TOPOLOGY reply: group: %w", err)
		}
		out = append(out, Group{
			ID:           int(g["group"].Int),
			Role:         g["role"].Str,
			Leader:       g["leader"].Str,
			LeaderClient: g["leader_client_addr"].Str,
			Term:         g["term"].Int,
			Commit:       g["commit_index"].Int,
			Applied:      g["applied_index"].Int,
		})
	}
	return out, nil
}

// WaitWrites waits until n rounds in a row succeed, each creating a
// session (TTL one minute) through one running node and reading it back,
// linearizably, through the next. A failed round starts the count again.
func (c *Cluster) WaitWrites(timeout time.Duration, n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for ok, round := 0, 0; ok < n; round++ {
		var running []*Node
		for _, nd := range c.Nodes {
			if nd.Running() && !nd.Paused() {
				running = append(running, nd)
			}
		}
		if len(running) == 0 {
			return errors.New("no node is running unpaused")
		}
		err := c.opts.Client.writeRound(ctx, running[round%len(running)].Client, running[(round+1)%len(running)].Client)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("cluster does not take writes within %v: %w", timeout, err)
			}
			ok = 0
			time.Sleep(100 * time.Millisecond)
			continue
		}
		ok++
	}
	return nil
}

func (o ClientOptions) writeRound(ctx context.Context, createAt, readAt string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := o.do(ctx, createAt, "SESSION.CREATE", "TTL", "60")
	if err != nil {
		return fmt.Errorf("%s SESSION.CREATE: %w", createAt, err)
	}
	m, err := asMap(v)
	if err != nil || m["id"].Str == "" {
		return fmt.Errorf("%s SESSION.CREATE: reply %v (%v)", createAt, v, err)
	}
	id := m["id"].Str
	v, err = o.do(ctx, readAt, "SESSION.GET", id, "CONSISTENCY", "linearizable", "NOTOUCH")
	if err != nil {
		return fmt.Errorf("%s SESSION.GET %s: %w", readAt, id, err)
	}
	if m, err = asMap(v); err != nil || m["id"].Str != id {
		return fmt.Errorf("%s SESSION.GET %s: reply %v (%v)", readAt, id, v, err)
	}
	return nil
}

// do sends one command on a new connection; an error reply is an error.
func (o ClientOptions) do(ctx context.Context, addr string, args ...string) (resp.Value, error) {
	cl, err := o.Dial(ctx, addr)
	if err != nil {
		return resp.Value{}, err
	}
	defer cl.Close()
	return cl.Do(ctx, args...)
}

// ClientOptions are how the cluster's own probes (readiness, writes)
// reach a node's client port: over TLS when TLS is set, authenticated
// when Password is set (as Username, or the default user).
type ClientOptions struct {
	TLS                *tls.Config
	Username, Password string
}

// Dial connects to the client port at addr as o says, authenticated.
func (o ClientOptions) Dial(ctx context.Context, addr string) (*resp.Client, error) {
	var (
		nc  net.Conn
		err error
	)
	if o.TLS != nil {
		d := tls.Dialer{Config: o.TLS}
		nc, err = d.DialContext(ctx, "tcp", addr)
	} else {
		var d net.Dialer
		nc, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	cl := resp.NewClient(nc)
	if o.Password != "" {
		args := []string{"AUTH", o.Password}
		if o.Username != "" {
			args = []string{"AUTH", o.Username, o.Password}
		}
		if _, err := cl.Do(ctx, args...); err != nil {
			cl.Close()
			return nil, err
		}
	}
	return cl, nil
}

// asMap reads a RESP3 map, or its RESP2 form (a key/value array).
func asMap(v resp.Value) (map[string]resp.Value, error) {
	if v.Kind != resp.Map && v.Kind != resp.Array {
		return nil, fmt.Errorf("got a %s, want a map", v.Kind)
	}
	if len(v.Elems)%2 != 0 {
		return nil, fmt.Errorf("map with %d elements", len(v.Elems))
	}
	m := make(map[string]resp.Value, len(v.Elems)/2)
	for i := 0; i < len(v.Elems); i += 2 {
		m[v.Elems[i].Str] = v.Elems[i+1]
	}
	return m, nil
}
