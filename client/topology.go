package client

import (
	"fmt"
	"slices"
	"sort"

	"github.com/redis/rueidis"

	"github.com/sessionraft/sessionraft/transport/wire"
)

// ringHash is the hash the server names in TOPOLOGY. The client routes with
// the same wire.Ring code as the server; the name is checked so that a
// server built with a different ring is refused instead of misrouted.
const ringHash = "fnv1a64-splitmix64"

// report is one node's answer to TOPOLOGY.
type report struct {
	addr   string // the address we asked
	node   string
	client string // the node's advertised client address
	vnodes int64
	hash   string
	epoch  uint64 // the node's topology epoch; 0 from servers without one
	groups []groupReport
}

type groupReport struct {
	id           int
	role         string
	leader       string
	leaderClient string
	term         uint64
	members      []memberReport
}

type memberReport struct {
	id, client, suffrage string
	alive                bool
}

// parseTopology decodes a TOPOLOGY reply (see node/topology.go).
func parseTopology(addr string, m *rueidis.RedisMessage) (*report, error) {
	kv, err := m.AsMap()
	if err != nil {
		return nil, fmt.Errorf("TOPOLOGY reply: %w", err)
	}
	r := &report{addr: addr}
	r.node = msgString(kv["node"])
	r.client = msgString(kv["client_addr"])
	r.hash = msgString(kv["hash"])
	r.vnodes = msgInt(kv["vnodes"])
	r.epoch = uint64(msgInt(kv["epoch"]))
	gs, err := arrayOf(kv, "groups")
	if err != nil {
		return nil, fmt.Errorf("TOPOLOGY reply: %w", err)
	}
	for i := range gs {
		g, err := gs[i].AsMap()
		if err != nil {
			return nil, fmt.Errorf("TOPOLOGY reply: group: %w", err)
		}
		gr := groupReport{
			id:           int(msgInt(g["group"])),
			role:         msgString(g["role"]),
			leader:       msgString(g["leader"]),
			leaderClient: msgString(g["leader_client_addr"]),
			term:         uint64(msgInt(g["term"])),
		}
		ms, err := arrayOf(g, "members")
		if err != nil {
			return nil, fmt.Errorf("TOPOLOGY reply: group %d: %w", gr.id, err)
		}
		for j := range ms {
			mm, err := ms[j].AsMap()
			if err != nil {
				return nil, fmt.Errorf("TOPOLOGY reply: group %d member: %w", gr.id, err)
			}
			am := mm["alive"]
			alive, _ := am.AsBool()
			gr.members = append(gr.members, memberReport{
				id:       msgString(mm["id"]),
				client:   msgString(mm["client_addr"]),
				suffrage: msgString(mm["suffrage"]),
				alive:    alive,
			})
		}
		r.groups = append(r.groups, gr)
	}
	if r.vnodes != wire.DefaultVNodes || r.hash != ringHash {
		return nil, fmt.Errorf("TOPOLOGY: server ring is %s with %d vnodes, this client uses %s with %d: incompatible versions",
			r.hash, r.vnodes, ringHash, wire.DefaultVNodes)
	}
	if len(r.groups) == 0 {
		return nil, fmt.Errorf("TOPOLOGY: node %s reports no groups (still starting?)", r.node)
	}
	for i, g := range r.groups {
		if g.id != i {
			return nil, fmt.Errorf("TOPOLOGY: group %d listed at position %d", g.id, i)
		}
	}
	return r, nil
}

func msgString(m rueidis.RedisMessage) string {
	s, _ := m.ToString()
	return s
}

func msgInt(m rueidis.RedisMessage) int64 {
	n, _ := m.AsInt64()
	return n
}

func arrayOf(kv map[string]rueidis.RedisMessage, key string) ([]rueidis.RedisMessage, error) {
	v, ok := kv[key]
	if !ok {
		return nil, fmt.Errorf("no %q", key)
	}
	return v.ToArray()
}

// topology is the client's routing table, built from the reports of the
// nodes that answered one refresh. It is immutable; refreshes replace it.
type topology struct {
	ring    *wire.Ring
	groups  []groupRoute
	nodes   []string         // every known node's client address, sorted
	leaders []string         // nodes leading at least one group, sorted
	led     map[string][]int // leader address → the groups it leads
	// staleHome, when not "", is the client's home replica (home.go) of
	// every group (setTopology): a stale read that avoids no node, while
	// no replica lags, goes there whatever its key, with no ring lookup
	// and no scoring of the replicas. Whenever the groups have the same
	// replicas, a cluster of as many nodes as a group has voters, they
	// share their home.
	staleHome string
}

type groupRoute struct {
	leader   string   // client address of the leader; "" if unknown or unreachable
	term     uint64   // the term the leader was seen in
	replicas []string // alive voters' client addresses (the leader included), sorted
}

// buildTopology merges reports into a routing table. Each node only knows
// its own view, so per group the report with the highest term that names a
// leader wins: a deposed leader cut off from the others still claims an old
// term. failed lists addresses that did not answer this refresh; they are
// not used as leaders or stale-read replicas until they answer again (the
// node that gossips them alive may not have noticed yet), and requests for
// their groups go through the other replicas, which forward.
func buildTopology(reports []*report, failed map[string]bool, prev *topology) (*topology, error) {
	if len(reports) == 0 {
		return nil, fmt.Errorf("no TOPOLOGY reports")
	}
	ngroups := len(reports[0].groups)
	for _, r := range reports[1:] {
		if len(r.groups) != ngroups {
			return nil, fmt.Errorf("nodes disagree on the group count: %s has %d, %s has %d",
				reports[0].node, ngroups, r.node, len(r.groups))
		}
	}
	t := &topology{led: map[string][]int{}}
	if prev != nil && prev.ring.Groups() == ngroups {
		t.ring = prev.ring // the ring depends only on the group count
	} else {
		ring, err := wire.NewRing(ngroups, wire.DefaultVNodes)
		if err != nil {
			return nil, err
		}
		t.ring = ring
	}
	nodes := map[string]bool{}
	for _, r := range reports {
		if r.client != "" {
			nodes[r.client] = true
		}
	}
	t.groups = make([]groupRoute, ngroups)
	for g := range ngroups {
		var best *groupReport
		for _, r := range reports {
			gr := &r.groups[g]
			for _, m := range gr.members {
				if m.client != "" {
					nodes[m.client] = true
				}
			}
			if gr.leaderClient == "" {
				continue
			}
			if best == nil || gr.term > best.term || (gr.term == best.term && gr.role == "leader") {
				best = gr
			}
		}
		if best == nil { // no node knows a leader: take any view for its members
			best = &reports[0].groups[g]
		}
		route := groupRoute{term: best.term}
		if best.leaderClient != "" && !failed[best.leaderClient] {
			route.leader = best.leaderClient
			t.led[route.leader] = append(t.led[route.leader], g)
		}
		for _, m := range best.members {
			if m.client != "" && m.alive && m.suffrage != "nonvoter" && !failed[m.client] {
				route.replicas = append(route.replicas, m.client)
			}
		}
		if route.leader != "" && !slices.Contains(route.replicas, route.leader) {
			route.replicas = append(route.replicas, route.leader)
		}
		sort.Strings(route.replicas)
		t.groups[g] = route
	}
	for n := range nodes {
		t.nodes = append(t.nodes, n)
	}
	sort.Strings(t.nodes)
	for n := range t.led {
		t.leaders = append(t.leaders, n)
	}
	sort.Strings(t.leaders)
	return t, nil
}

// group returns the group that owns id: the very function the server uses.
func (t *topology) group(id string) int { return t.ring.Group(id) }

// summary is a one-line description for logs.
func (t *topology) summary() string {
	s := fmt.Sprintf("%d nodes", len(t.nodes))
	for g, r := range t.groups {
		s += fmt.Sprintf("; group %d leader %q term %d replicas %v", g, r.leader, r.term, r.replicas)
	}
	return s
}

// sameRoutes reports whether two tables route every request alike, so an
// unchanged refresh is not logged.
func (t *topology) sameRoutes(o *topology) bool {
	if o == nil || len(t.groups) != len(o.groups) || !slices.Equal(t.nodes, o.nodes) {
		return false
	}
	for g := range t.groups {
		a, b := t.groups[g], o.groups[g]
		if a.leader != b.leader || !slices.Equal(a.replicas, b.replicas) {
			return false
		}
	}
	return true
}
