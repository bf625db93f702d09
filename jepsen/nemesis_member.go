package jepsen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sessionraft/sessionraft/transport/resp"
)

// Membership nemeses: they change the cluster's voters while the workload
// runs, through MEMBER on the client port as an operator would.
//
//   - member-grow: Start adds one or two new servers (3 -> 4 or 3 -> 5),
//     each started with --join and no --bootstrap-expect, MEMBER ADD, and
//     waits until they vote in every group; Stop removes them again
//     (MEMBER REMOVE, live: their leaderships move first) and kills them.
//   - member-replace: Start kill -9s one voter, V, and MEMBER REPLACEs it
//     with a new server X (3 -> 4 -> 3, with V dead); then V's machine is
//     rebuilt: its data directory wiped, the server started again (a new
//     incarnation under the old id) and MEMBER ADDed (-> 4). Stop removes X
//     (live) and kills it: the original ids vote again, V with new state.
//   - member: both, in turn, replace first (so that the shortest run adds
//     a fresh server, replaces a killed voter and removes a live one).
//
// The new servers are known only to the nemesis (the workload's seeds are
// the original nodes; the Go client may still reach them through
// TOPOLOGY once they lead a group), and no other nemesis faults them
// directly. With -net netns each new server gets a new host: a namespace
// of its own on the lab's bridge, with the next address (netns.AddHost).
type memberNemesis struct {
	name   string // member-grow, member-replace or member
	starts int
	seq    int

	// mu guards added and repl: the fault during a change
	// (nemesis_member_fault.go) reads them.
	mu    sync.Mutex
	added []*Node // servers the grow nemesis added, removed by Stop
	repl  []*Node // servers the replace nemesis added, removed by Stop
}

// extra returns the servers the nemesis added and has not removed yet.
func (m *memberNemesis) extra() []*Node {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append(append([]*Node(nil), m.added...), m.repl...)
}

// track records a server the nemesis added (grow: to added, else repl).
func (m *memberNemesis) track(n *Node, grow bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if grow {
		m.added = append(m.added, n)
	} else {
		m.repl = append(m.repl, n)
	}
}

// next takes the next server to remove off the lists, or nil.
func (m *memberNemesis) next() *Node {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n *Node
	switch {
	case len(m.added) > 0:
		n, m.added = m.added[0], m.added[1:]
	case len(m.repl) > 0:
		n, m.repl = m.repl[0], m.repl[1:]
	}
	return n
}

func newMemberNemesis(name string) *memberNemesis {
	return &memberNemesis{name: name}
}

func (m *memberNemesis) Name() string { return m.name }

// isMemberNemesis says whether name is one of the membership nemeses.
func isMemberNemesis(name string) bool {
	return name == "member" || name == "member-grow" || name == "member-replace"
}

// memberArgs are the server flags a run with a membership nemesis needs:
// promotion after 1s caught up instead of 10s, so that a change fits in a
// fault period. They come before RunConfig.ExtraArgs, which may override.
func memberArgs(nemeses []string) []string {
	for _, n := range nemeses {
		if isMemberNemesis(n) {
			return []string{"--promote-stable-for", "1s"}
		}
	}
	return nil
}

// memberTimeout bounds one MEMBER command: a replace waits for a promotion.
const memberTimeout = 2 * time.Minute

// voters returns the live servers that vote, as far as the nemesis knows:
// the original nodes it did not replace, and their replacements.
func (m *memberNemesis) voters(c *Cluster) []*Node {
	var out []*Node
	m.mu.Lock()
	repl := append([]*Node(nil), m.repl...)
	m.mu.Unlock()
	for _, n := range append(live(c), repl...) {
		if n.Running() && !n.Paused() {
			out = append(out, n)
		}
	}
	return out
}

// member sends MEMBER args to the first live voter that answers.
func (m *memberNemesis) member(ctx context.Context, c *Cluster, args ...string) error {
	var errs []error
	for _, n := range m.voters(c) {
		v, err := memberCommand(ctx, c, n, args...)
		if err == nil {
			err = v.Err()
		}
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", n.ID, err))
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("MEMBER %s: %w", strings.Join(args, " "), errors.Join(errs...))
}

// memberCommand sends MEMBER args to n on a connection of its own, not
// the node's shared admin connection (Cluster.Admin): a change can take
// minutes (while a fault cuts n off, until it heals), and the heal itself
// goes through the admin connection, which would wait behind it.
func memberCommand(ctx context.Context, c *Cluster, n *Node, args ...string) (resp.Value, error) {
	ctx, cancel := context.WithTimeout(ctx, memberTimeout)
	defer cancel()
	cl, err := c.Cfg.Client.Dial(ctx, n.Client)
	if err != nil {
		return resp.Value{}, err
	}
	defer cl.Close()
	return cl.Do(ctx, append([]string{"MEMBER"}, args...)...)
}

// addServer starts a new server that waits to be added, and waits until
// the cluster's gossip sees it.
func (m *memberNemesis) addServer(ctx context.Context, c *Cluster) (*Node, error) {
	m.seq++
	n, err := c.tc.AddNode(fmt.Sprintf("x%d", m.seq))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, memberTimeout)
	defer cancel()
	for ctx.Err() == nil {
		if rows, err := m.list(ctx, c); err == nil && strings.Contains(rows, n.ID+" alive") {
			return n, nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	return n, fmt.Errorf("%s never seen alive in MEMBER LIST: %w", n.ID, ctx.Err())
}

// list returns "id health suffrage..." lines from MEMBER LIST.
func (m *memberNemesis) list(ctx context.Context, c *Cluster) (string, error) {
	vs := m.voters(c)
	if len(vs) == 0 {
		return "", errors.New("no live voter")
	}
	v, err := c.Admin(ctx, vs[rand.IntN(len(vs))], 5*time.Second, "MEMBER", "LIST")
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, row := range v.Elems {
		kv := map[string]resp.Value{}
		for i := 0; i+1 < len(row.Elems); i += 2 {
			kv[row.Elems[i].Str] = row.Elems[i+1]
		}
		fmt.Fprintf(&b, "%s %s", kv["id"].Str, kv["health"].Str)
		for _, g := range kv["groups"].Elems {
			for i := 0; i+1 < len(g.Elems); i += 2 {
				if g.Elems[i].Str == "suffrage" {
					fmt.Fprintf(&b, " %s", g.Elems[i+1].Str)
				}
			}
		}
		b.WriteString("\n")
	}
	return b.String(), nil
}

// waitVoter waits until MEMBER LIST shows id alive and a voter in every
// group (MEMBER ADD returns once it is a non-voter).
func (m *memberNemesis) waitVoter(ctx context.Context, c *Cluster, id string) error {
	for {
		rows, err := m.list(ctx, c)
		if err == nil {
			for _, line := range strings.Split(rows, "\n") {
				f := strings.Fields(line)
				if len(f) > 2 && f[0] == id && f[1] == "alive" && strings.Count(line, " voter") == len(f)-2 {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not a voter everywhere: %w (last: %v)", id, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (m *memberNemesis) Start(ctx context.Context, c *Cluster) (string, error) {
	replace := m.name == "member-replace" || (m.name == "member" && m.starts%2 == 0)
	m.starts++
	if !replace {
		return m.withFault(ctx, c, nil, changeFaultDelay, func() (string, error) { return m.grow(ctx, c) })
	}
	vs := live(c) // an original node: its data directory is rebuilt below
	if len(vs) < 3 {
		return "nothing (fewer than three live voters)", nil
	}
	victim := vs[rand.IntN(len(vs))]
	if err := c.Kill(victim); err != nil {
		return "", err
	}
	return m.withFault(ctx, c, victim, changeFaultDelay, func() (string, error) { return m.replace(ctx, c, victim) })
}

// replace replaces the dead victim with a new server, then rebuilds the
// victim empty under its id and adds it back.
func (m *memberNemesis) replace(ctx context.Context, c *Cluster, victim *Node) (string, error) {
	n, err := m.addServer(ctx, c)
	if err != nil {
		return "", err
	}
	m.track(n, false)
	if err := m.member(ctx, c, "REPLACE", victim.ID, n.ID); err != nil && !notMember(err) {
		return "", err
	}
	wctx, cancel := context.WithTimeout(ctx, memberTimeout)
	defer cancel()
	// A REPLACE retried on another node after the first one removed the
	// victim is refused ("in no group"): the replacement must vote anyway.
	if err := m.waitVoter(wctx, c, n.ID); err != nil {
		return "", err
	}
	// Rebuild the victim's machine: empty data directory, same id.
	if err := os.RemoveAll(victim.DataDir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(victim.DataDir, 0o755); err != nil {
		return "", err
	}
	if err := c.Restart(victim); err != nil {
		return "", err
	}
	for {
		err = m.member(wctx, c, "ADD", victim.ID) // refused until gossip shows the new incarnation
		if err == nil || wctx.Err() != nil {
			break
		}
		select {
		case <-wctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err != nil {
		return "", err
	}
	if err := m.waitVoter(wctx, c, victim.ID); err != nil {
		return "", err
	}
	return fmt.Sprintf("killed %s, replaced it with %s (%s), rebuilt %s empty and added it back", victim.ID, n.ID, n.Raft, victim.ID), nil
}

// grow adds one or two new servers and waits until they vote everywhere.
func (m *memberNemesis) grow(ctx context.Context, c *Cluster) (string, error) {
	k := 1 + rand.IntN(2)
	before := len(m.voters(c))
	var ids []string
	for range k {
		n, err := m.addServer(ctx, c)
		if err != nil {
			return "", err
		}
		m.track(n, true)
		if err := m.member(ctx, c, "ADD", n.ID); err != nil {
			return "", err
		}
		wctx, cancel := context.WithTimeout(ctx, memberTimeout)
		err = m.waitVoter(wctx, c, n.ID)
		cancel()
		if err != nil {
			return "", err
		}
		ids = append(ids, fmt.Sprintf("%s (%s)", n.ID, n.Raft))
	}
	return fmt.Sprintf("added %s, voters in every group (%d -> %d voters)", strings.Join(ids, ","), before, before+k), nil
}

// notMember says err is MEMBER's refusal of an id that is in no group: a
// REMOVE (or the REMOVE half of a REPLACE) that an earlier attempt, whose
// reply was lost, already did.
func notMember(err error) bool { return err != nil && strings.Contains(err.Error(), "is in no group") }

func (m *memberNemesis) Stop(ctx context.Context, c *Cluster) (string, error) {
	if len(m.extra()) == 0 {
		return "nothing", nil
	}
	return m.withFault(ctx, c, nil, removeFaultDelay, func() (string, error) {
		var ids []string
		for n := m.next(); n != nil; n = m.next() {
			if err := m.member(ctx, c, "REMOVE", n.ID); err != nil && !notMember(err) {
				m.track(n, true) // the next Stop tries again
				return "removed " + strings.Join(ids, ","), err
			}
			if err := c.Kill(n); err != nil {
				return "removed " + strings.Join(ids, ","), err
			}
			ids = append(ids, n.ID)
		}
		return "removed " + strings.Join(ids, ","), nil
	})
}
