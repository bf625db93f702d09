package client

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"sync"

	"github.com/redis/rueidis"
)

// The calls below touch several groups. Rather than letting one node fan
// out and forward, the client sends one request per group straight to that
// group's node, concurrently, and merges the answers.

// Touch records an access to sessions now (resetting their idle timers)
// and returns how many live sessions it touched. It is idempotent, so it
// is retried freely; after a retry the count may miss sessions that the
// lost attempt touched.
func (c *Client) Touch(ctx context.Context, ids ...string) (int, error) {
	return c.perID(ctx, "touch", "SESSION.TOUCH", ids)
}

// Destroy deletes sessions and returns how many existed; missing ids are
// not an error. It is idempotent, so it is retried freely; after a retry
// the count may miss sessions that the lost attempt destroyed.
func (c *Client) Destroy(ctx context.Context, ids ...string) (int, error) {
	return c.perID(ctx, "destroy", "SESSION.DESTROY", ids)
}

// maxIDsPerRequest bounds the ids of one DESTROY or TOUCH request: the
// server refuses very long ones (one request is one raft entry per group),
// so a big call is sent as several.
const maxIDsPerRequest = 1000

// perID splits ids by group, and each group's part into requests of at
// most maxIDsPerRequest ids, and sends them to the groups' leaders.
func (c *Client) perID(ctx context.Context, op, cmd string, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	tp := c.topo.Load()
	byGroup := make([][]string, len(tp.groups))
	for _, id := range ids {
		g := tp.group(id)
		byGroup[g] = append(byGroup[g], id)
	}
	var parts [][]string
	for _, p := range byGroup {
		for len(p) > 0 {
			n := min(len(p), maxIDsPerRequest)
			parts = append(parts, p[:n])
			p = p[n:]
		}
	}
	counts := make([]int, len(parts))
	err := c.fanOut(len(parts), func(i int) error {
		// Route by the first id: every id of the part maps to its group.
		return c.call(ctx, &request{op: op, kind: idempotent, key: parts[i][0],
			args: append([]string{cmd}, parts[i]...), parse: intInto(&counts[i])})
	})
	return sum(counts), err
}

// List returns a subject's sessions from every group, sorted by id.
// Options: WithConsistency, WithMaxStaleness.
//
// It pages: each group is read listPageSize sessions at a time
// (SESSION.LIST ... LIMIT n CURSOR c), so no reply is large whatever the
// subject's size; the result holds them all. Each page is a read of its
// own: a session created or ended during the walk may or may not be in
// the result, and every session that lives through it is, once.
func (c *Client) List(ctx context.Context, subject string, opts ...Option) ([]*Session, error) {
	o, err := collect("List", listOpts, opts)
	if err != nil {
		return nil, err
	}
	level := c.level(o)
	tp := c.topo.Load()
	parts := make([][]*Session, len(tp.groups))
	err = c.fanOut(len(parts), func(g int) error {
		for cursor := "0"; ; {
			args := groupArgs("SESSION.LIST", g, []string{subject},
				c.appendReadArgs([]string{"LIMIT", listPageSize, "CURSOR", cursor}, o, level))
			var page []*Session
			err := c.call(ctx, &request{op: "list", kind: read, level: level, group: g, args: args,
				parse: func(m *rueidis.RedisMessage) (err error) {
					cursor, page, err = parseListPage(m)
					return err
				}})
			if err != nil {
				return err
			}
			parts[g] = append(parts[g], page...)
			if cursor == "0" {
				return nil
			}
		}
	})
	if err != nil {
		return nil, err
	}
	all := slices.Concat(parts...)
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	return all, nil
}

// listPageSize is the LIMIT of List's pages: the server's largest.
const listPageSize = "1000"

// parseListPage reads a SESSION.LIST page: [next-cursor, [record...]].
func parseListPage(m *rueidis.RedisMessage) (string, []*Session, error) {
	arr, err := m.ToArray()
	if err != nil {
		return "", nil, err
	}
	if len(arr) != 2 {
		return "", nil, fmt.Errorf("list page of %d elements, want 2", len(arr))
	}
	cursor, err := arr[0].ToString()
	if err != nil {
		return "", nil, err
	}
	recs, err := arr[1].ToArray()
	if err != nil {
		return "", nil, err
	}
	out := make([]*Session, 0, len(recs))
	for i := range recs {
		s, err := parseSession(&recs[i])
		if err != nil {
			return "", nil, err
		}
		out = append(out, s)
	}
	return cursor, out, nil
}

// Revoke destroys every session of a subject ("log out everywhere") and
// returns how many it destroyed. Options: WithExcept keeps one session. It
// is idempotent and retried freely; after a retry the count may miss
// sessions that the lost attempt destroyed.
func (c *Client) Revoke(ctx context.Context, subject string, opts ...Option) (int, error) {
	o, err := collect("Revoke", revokeOpts, opts)
	if err != nil {
		return 0, err
	}
	var extra []string
	if o.except != "" {
		extra = []string{"EXCEPT", o.except}
	}
	tp := c.topo.Load()
	counts := make([]int, len(tp.groups))
	err = c.fanOut(len(counts), func(g int) error {
		args := groupArgs("SESSION.REVOKE", g, []string{subject}, extra)
		return c.call(ctx, &request{op: "revoke", kind: idempotent, group: g, args: args,
			parse: intInto(&counts[g])})
	})
	return sum(counts), err
}

// groupArgs builds "cmd positional... GROUP g opts...". GROUP comes right
// after the subject, not last as in the usage line, because the server
// finds it by scanning the arguments that follow the subject: placed first,
// it is found before any later value spelled "group" (an EXCEPT id) could be
// taken for it.
func groupArgs(cmd string, g int, positional, opts []string) []string {
	return slices.Concat([]string{cmd}, positional, []string{"GROUP", strconv.Itoa(g)}, opts)
}

// fanOut runs fn for parts 0..n-1 (groups, or chunks of ids) concurrently.
// It returns the most telling error: an unknown outcome first (the caller
// must know part of the operation may have happened), else the first
// part's.
func (c *Client) fanOut(n int, fn func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for g := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[g] = fn(g)
		}()
	}
	wg.Wait()
	for _, e := range errs {
		if errors.Is(e, ErrIndeterminate) {
			return e
		}
	}
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func intInto(dst *int) func(m *rueidis.RedisMessage) error {
	return func(m *rueidis.RedisMessage) error {
		n, err := m.AsInt64()
		*dst = int(n)
		return err
	}
}

func sum(xs []int) int {
	t := 0
	for _, x := range xs {
		t += x
	}
	return t
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
