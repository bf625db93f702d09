package jepsen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
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
//   - member-replace: Start kill -9s one voter for good and MEMBER
//     REPLACEs it with a new server, back to the same number of voters;
//     Stop has nothing to heal.
//
// The new servers are known only to the nemesis (the workload keeps its
// clients on the original nodes), and no other nemesis faults them.
type memberNemesis struct {
	replace bool
	seq     int
	added   []*Node // servers the grow nemesis added, removed by Stop
	gone    map[string]bool
}

func newMemberNemesis(replace bool) *memberNemesis {
	return &memberNemesis{replace: replace, gone: map[string]bool{}}
}

func (m *memberNemesis) Name() string {
	if m.replace {
		return "member-replace"
	}
	return "member-grow"
}

// memberTimeout bounds one MEMBER command: a replace waits for a promotion.
const memberTimeout = 2 * time.Minute

// voters returns the ids of the live original nodes that still vote, as
// far as the nemesis knows (it removed the others).
func (m *memberNemesis) voters(c *Cluster) []*Node {
	var out []*Node
	for _, n := range live(c) {
		if !m.gone[n.ID] {
			out = append(out, n)
		}
	}
	return out
}

// member sends MEMBER args to the first live voter that answers.
func (m *memberNemesis) member(ctx context.Context, c *Cluster, args ...string) error {
	var errs []error
	for _, n := range m.voters(c) {
		v, err := c.Admin(ctx, n, memberTimeout, append([]string{"MEMBER"}, args...)...)
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

// addServer starts a new server that waits to be added, and waits until
// the cluster's gossip sees it.
func (m *memberNemesis) addServer(ctx context.Context, c *Cluster) (*Node, error) {
	m.seq++
	n, err := c.tc.AddNode(fmt.Sprintf("x%d", m.seq))
	if err != nil {
		return nil, err
	}
	for ctx.Err() == nil {
		if rows, err := m.list(ctx, c); err == nil && strings.Contains(rows, n.ID+" alive") {
			return n, nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	return n, ctx.Err()
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

func (m *memberNemesis) Start(ctx context.Context, c *Cluster) (string, error) {
	if m.replace {
		vs := m.voters(c)
		if len(vs) < 3 {
			return "nothing (fewer than three live voters)", nil
		}
		victim := vs[rand.IntN(len(vs))]
		if err := c.Kill(victim); err != nil {
			return "", err
		}
		m.gone[victim.ID] = true
		n, err := m.addServer(ctx, c)
		if err != nil {
			return "", err
		}
		if err := m.member(ctx, c, "REPLACE", victim.ID, n.ID); err != nil {
			return "", err
		}
		return fmt.Sprintf("killed %s for good, replaced it with %s", victim.ID, n.ID), nil
	}
	k := 1 + rand.IntN(2)
	var ids []string
	for range k {
		n, err := m.addServer(ctx, c)
		if err != nil {
			return "", err
		}
		m.added = append(m.added, n)
		if err := m.member(ctx, c, "ADD", n.ID); err != nil {
			return "", err
		}
		ids = append(ids, n.ID)
	}
	return fmt.Sprintf("added %s (%d -> %d voters)", strings.Join(ids, ","), len(m.voters(c)), len(m.voters(c))+k), nil
}

func (m *memberNemesis) Stop(ctx context.Context, c *Cluster) (string, error) {
	if m.replace || len(m.added) == 0 {
		return "nothing", nil
	}
	var ids []string
	for _, n := range m.added {
		if err := m.member(ctx, c, "REMOVE", n.ID); err != nil {
			return "", err
		}
		if err := c.tc.Kill(n); err != nil {
			return "", err
		}
		ids = append(ids, n.ID)
	}
	m.added = nil
	return "removed " + strings.Join(ids, ","), nil
}
