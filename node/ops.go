package node

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// The session operations below are what the RESP handlers call. Each routes
// by the ring, runs through write or localOrForward, and returns fsm or node
// sentinel errors.

// createReq is a parsed SESSION.CREATE.
type createReq struct {
	id      string // caller-chosen id (stores that own their ids, e.g. scs); "" = server-made
	subject string
	fields  map[string][]byte
	idle    int64
	ttl     int64
	reqID   string
}

// createCmd routes a create and makes its command.
func (n *Node) createCmd(r createReq) (gid int, cmd fsm.Command, err error) {
	id := r.id
	switch {
	case id != "":
		gid = n.ring.Group(id)
	case r.reqID != "":
		// A retry of this request must reach the same group's dedup table,
		// whichever node it arrives at: route by the request id.
		gid = n.ring.Group(r.reqID)
	default:
		gid = n.createGroup()
	}
	if id == "" {
		if id, err = n.newID(gid); err != nil {
			return 0, fsm.Command{}, err
		}
	}
	return gid, fsm.Command{Type: fsm.CmdCreate, ReqID: r.reqID, Create: &fsm.Create{
		ID: id, Subject: r.subject, Fields: r.fields, IdleTimeout: r.idle, AbsTTL: r.ttl,
	}}, nil
}

// createReplayed reports a create's outcome that carries no record: a
// deduplicated retry, whose session createResult reads back.
func createReplayed(res fsm.Result, err error) bool {
	return err == nil && res.Err == nil && res.Record == nil
}

// createResult is the session a create's write outcome made.
func (n *Node) createResult(ctx context.Context, res fsm.Result, err error) (*fsm.Record, error) {
	if err != nil {
		return nil, err
	}
	if res.Err != nil {
		return nil, res.Err
	}
	if res.Record == nil {
		// A deduplicated retry: the original result names the id but
		// carries no record; read it back (it may have changed or ended).
		if res.ID == "" {
			return nil, fmt.Errorf("%w: replayed create without an id", ErrIndeterminate)
		}
		return n.get(ctx, res.ID, readOpts{level: wire.Linearizable, maxStale: n.cfg.MaxStaleness})
	}
	return res.Record, nil
}

func (n *Node) get(ctx context.Context, id string, o readOpts) (*fsm.Record, error) {
	gid := n.ring.Group(id)
	var rec *fsm.Record
	err := n.localOrForward(ctx, gid, o, func() error {
		r, ok := n.fsmGet(n.groups[gid].fsm, id)
		if !ok {
			return errSessionNotFound
		}
		rec = r
		return nil
	}, func(addr string) error {
		r, err := n.forwardGet(ctx, addr, gid, id, o)
		rec = r
		return err
	})
	return rec, err
}

// setCmd is a set/unset command; setVersion reads its outcome: the new
// version.
func (n *Node) setCmd(s *fsm.Set, reqID string) (gid int, cmd fsm.Command) {
	return n.ring.Group(s.ID), fsm.Command{Type: fsm.CmdSet, ReqID: reqID, Set: s}
}

func setVersion(res fsm.Result, err error) (uint64, error) {
	if err != nil {
		return 0, err
	}
	return res.Version, res.Err
}

// rotateCmd makes a rotate command; rotateResult reads its outcome: the
// new id.
func (n *Node) rotateCmd(oldID string, ifVersion uint64, reqID string) (gid int, cmd fsm.Command, err error) {
	gid = n.ring.Group(oldID)
	newID, err := n.newID(gid)
	if err != nil {
		return 0, fsm.Command{}, err
	}
	return gid, fsm.Command{Type: fsm.CmdRotate, ReqID: reqID, Rotate: &fsm.Rotate{
		OldID: oldID, NewID: newID, IfVersion: ifVersion,
	}}, nil
}

func rotateResult(res fsm.Result, err error) (string, error) {
	if err != nil {
		return "", err
	}
	if res.Err != nil {
		return "", res.Err
	}
	if res.ID == "" {
		return "", fmt.Errorf("%w: rotate result without an id", ErrIndeterminate)
	}
	// On a deduplicated retry this is the original new id, not ours.
	return res.ID, nil
}

// byGroup splits ids by owning group.
func (n *Node) byGroup(ids []string) map[int][]string {
	m := map[int][]string{}
	for _, id := range ids {
		g := n.ring.Group(id)
		m[g] = append(m[g], id)
	}
	return m
}

// fanOut runs fn for the given groups concurrently and sums the counts. For
// writes, a failure in some groups after others succeeded is reported as
// indeterminate, since part of the operation was applied; for reads the
// first error is returned.
func (n *Node) fanOut(ctx context.Context, gids []int, write bool, fn func(ctx context.Context, gid int) (int, error)) (int, error) {
	if len(gids) == 1 {
		// One group (a single-group command, or GROUP g): no goroutine,
		// so a request holds one goroutine, which the RESP server's
		// running cap counts.
		c, err := fn(ctx, gids[0])
		if err != nil {
			err = fmt.Errorf("group %d: %w", gids[0], err)
		}
		return c, err
	}
	var (
		mu    sync.Mutex
		total int
		errs  []error
		wg    sync.WaitGroup
	)
	for _, gid := range gids {
		wg.Add(1)
		go func(gid int) {
			defer wg.Done()
			c, err := fn(ctx, gid)
			mu.Lock()
			defer mu.Unlock()
			total += c
			if err != nil {
				errs = append(errs, fmt.Errorf("group %d: %w", gid, err))
			}
		}(gid)
	}
	wg.Wait()
	if len(errs) == 0 {
		return total, nil
	}
	if !write {
		return total, errs[0]
	}
	for _, e := range errs {
		if errors.Is(e, ErrIndeterminate) {
			return total, e
		}
	}
	if len(errs) < len(gids) {
		// Some groups applied their part: the operation as a whole is
		// partially done, which the caller must treat as unknown.
		return total, fmt.Errorf("%w: %v", ErrIndeterminate, errs[0])
	}
	return total, errs[0]
}

func (n *Node) allGroups() []int {
	ids := make([]int, len(n.groups))
	for i := range ids {
		ids[i] = i
	}
	return ids
}

// multiID runs a per-group command over ids (destroy, touch).
func (n *Node) multiID(ctx context.Context, ids []string, mk func(ids []string) fsm.Command) (int, error) {
	parts := n.byGroup(ids)
	gids := make([]int, 0, len(parts))
	for g := range parts {
		gids = append(gids, g)
	}
	return n.fanOut(ctx, gids, true, func(ctx context.Context, gid int) (int, error) {
		res, err := n.write(ctx, gid, mk(parts[gid]))
		if err != nil {
			return 0, err
		}
		return res.Count, res.Err
	})
}

func (n *Node) destroy(ctx context.Context, ids []string) (int, error) {
	return n.multiID(ctx, ids, func(ids []string) fsm.Command {
		return fsm.Command{Type: fsm.CmdDestroy, Destroy: &fsm.Destroy{IDs: ids}}
	})
}

func (n *Node) touchNow(ctx context.Context, ids []string) (int, error) {
	now := n.now()
	return n.multiID(ctx, ids, func(ids []string) fsm.Command {
		times := make([]int64, len(ids))
		for i := range times {
			times[i] = now
		}
		return fsm.Command{Type: fsm.CmdTouch, Touch: &fsm.Touch{IDs: ids, Times: times}}
	})
}

func (n *Node) revoke(ctx context.Context, subject, except string, gids []int) (int, error) {
	return n.fanOut(ctx, gids, true, func(ctx context.Context, gid int) (int, error) {
		res, err := n.write(ctx, gid, fsm.Command{Type: fsm.CmdRevoke, Revoke: &fsm.Revoke{Subject: subject, Except: except}})
		if err != nil {
			return 0, err
		}
		return res.Count, res.Err
	})
}
