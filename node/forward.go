package node

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// Internal RPC methods on the mux port. Payloads start with the group id
// (uvarint); the rest is method specific. A node that receives a forwarded
// request never forwards it again: a follower answers NOTLEADER and the
// origin retries, so requests cannot loop between confused nodes.
// Every method number is in this one block, so two features cannot take
// the same one.
const (
	rpcWrite uint8 = 1 // fsm command → fsm result
	rpcGet   uint8 = 2 // level, maxStale, id → record
	rpcList  uint8 = 3 // level, maxStale, subject → records (older nodes; refused above one page)
	rpcTerm  uint8 = 4 // server id → this node's raft term in the group, if it is that server (leadercheck.go)
	// level, maxStale, limit, after, subject → one page of records (list.go)
	rpcListPage uint8 = 5
	// group id, op, server id, raft address → empty, run on the group's
	// leader (or on the named node for memberDrain/Admit) (membership_ops.go)
	rpcMember uint8 = 6
	// group id (ignored) → this node's view of each of its groups
	// (statReply), for MEMBER LIST and the promoter (membership_ops.go)
	rpcMemberStat uint8 = 7
	// channel, message → this node's receivers (pubsub_rpc.go). No group id.
	rpcPublish uint8 = 8
	// → a read index for a follower's linearizable reads, from the ready
	// leader (followerread.go)
	rpcReadIndex uint8 = 9
	// parts (term polls and read-index requests of several groups) →
	// their answers, one request per peer per read cycle (readcycles.go,
	// readround_rpc.go). No group id.
	rpcReadRound uint8 = 10
	// Redis keyspace reads (cmd_scan.go), numbered apart from the
	// methods other work may add next to these.
	rpcScan     uint8 = 20 // level, maxStale, cursor, count, kind, pattern → next cursor, keys
	rpcKeyCount uint8 = 21 // level, maxStale → the group's key count
	rpcGetMany  uint8 = 22 // level, maxStale, mode, keys → their records or presence, at one state (multiread.go)
)

var levelCodes = []string{wire.Linearizable, wire.Leader, wire.Stale}

func levelCode(level string) byte {
	for i, l := range levelCodes {
		if l == level {
			return byte(i)
		}
	}
	return 0
}

func (n *Node) forwardWrite(ctx context.Context, addr string, gid int, cmd *fsm.Command) (fsm.Result, error) {
	out, err := n.mux.Call(ctx, addr, rpcWrite, n.writeRequest(gid, cmd))
	return writeReply(out, err)
}

// writeRequest is rpcWrite's payload for cmd in group gid, counted as a
// forwarded write; forwardWrite and the fast path's forwardNow send it.
func (n *Node) writeRequest(gid int, cmd *fsm.Command) []byte {
	n.admin.met.Forwarded("write")
	return fsm.AppendCommand(binary.AppendUvarint(nil, uint64(gid)), cmd)
}

// writeReply reads the leader's answer to an rpcWrite call (out, or the
// call's error) as the write's outcome.
func writeReply(out []byte, callErr error) (fsm.Result, error) {
	if callErr != nil {
		return fsm.Result{}, translateCallErr(callErr, true)
	}
	res, err := fsm.DecodeResult(out)
	if err != nil {
		return fsm.Result{}, fmt.Errorf("%w: undecodable reply from leader: %v", ErrIndeterminate, err)
	}
	return *res, nil
}

func appendReadHeader(gid int, o readOpts, key string) []byte {
	b := binary.AppendUvarint(nil, uint64(gid))
	b = append(b, levelCode(o.level))
	b = binary.AppendUvarint(b, uint64(o.maxStale))
	return append(b, key...)
}

func (n *Node) forwardGet(ctx context.Context, addr string, gid int, id string, o readOpts) (*fsm.Record, error) {
	n.admin.met.Forwarded("read")
	out, err := n.mux.Call(ctx, addr, rpcGet, appendReadHeader(gid, o, id))
	if err != nil {
		return nil, translateCallErr(err, false)
	}
	rec, err := fsm.DecodeRecord(out)
	if err != nil {
		return nil, fmt.Errorf("%w: undecodable reply: %v", ErrUnavailable, err)
	}
	return rec, nil
}

func appendRecords(dst []byte, recs []*fsm.Record) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(recs)))
	for _, r := range recs {
		enc := fsm.AppendRecord(nil, r)
		dst = binary.AppendUvarint(dst, uint64(len(enc)))
		dst = append(dst, enc...)
	}
	return dst
}

func decodeRecords(b []byte) ([]*fsm.Record, error) {
	count, k := binary.Uvarint(b)
	if k <= 0 || count > uint64(len(b)) {
		return nil, fmt.Errorf("%w: bad record list", ErrUnavailable)
	}
	b = b[k:]
	recs := make([]*fsm.Record, 0, count)
	for i := uint64(0); i < count; i++ {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, fmt.Errorf("%w: bad record list", ErrUnavailable)
		}
		r, err := fsm.DecodeRecord(b[k : k+int(l)])
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		recs = append(recs, r)
		b = b[k+int(l):]
	}
	return recs, nil
}

// handleRPC serves requests forwarded by other nodes. It only ever acts
// locally (see the method constants). Its errors carry the reply the
// client will read (asReply), decided here where the request ran.
// Forwarded writes (rpcWrite) do not come here: the mux hands them to
// handleWriteRPC (writeforward.go).
func (n *Node) handleRPC(ctx context.Context, method uint8, payload []byte) ([]byte, error) {
	if err := n.checkCaller(ctx); err != nil {
		return nil, asReply(err)
	}
	switch method {
	case rpcPublish:
		return n.handlePublishRPC(payload)
	case rpcReadRound:
		return n.handleReadRoundRPC(ctx, payload) // readround_rpc.go
	}
	g, payload, err := n.rpcGroup(payload)
	if err != nil {
		return nil, err
	}
	if method == rpcTerm {
		// The rest of the payload is the server id the poll is meant for.
		t, err := n.termAnswer(g, payload)
		if err != nil {
			return nil, asReply(err)
		}
		return binary.AppendUvarint(nil, t), nil
	}
	if method == rpcMember || method == rpcMemberStat {
		return n.handleMemberRPC(ctx, g, method, payload) // membership_ops.go
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
	defer cancel()
	switch method {
	case rpcGet, rpcList, rpcListPage, rpcScan, rpcKeyCount, rpcGetMany:
		if len(payload) < 1 {
			return nil, asReply(fmt.Errorf("%w: bad read header", ErrBadArg))
		}
		lc := int(payload[0])
		if lc >= len(levelCodes) {
			return nil, asReply(fmt.Errorf("%w: bad level", ErrBadArg))
		}
		ms, k := binary.Uvarint(payload[1:])
		if k <= 0 {
			return nil, asReply(fmt.Errorf("%w: bad read header", ErrBadArg))
		}
		o := readOpts{level: levelCodes[lc], maxStale: time.Duration(ms)}
		key := string(payload[1+k:])
		if err := g.readBarrier(ctx, o.level, o.maxStale); err != nil {
			return nil, asReply(err)
		}
		if method == rpcGet {
			rec, ok := n.fsmGet(g.fsm, key)
			if !ok {
				return nil, asReply(errSessionNotFound)
			}
			return fsm.AppendRecord(nil, rec), nil
		}
		switch method {
		case rpcScan:
			out, err := n.serveScan(g, []byte(key))
			return out, asReply(err)
		case rpcKeyCount:
			return binary.AppendUvarint(nil, uint64(g.fsm.Len())), nil
		case rpcGetMany:
			out, err := n.serveGetMany(g, []byte(key))
			return out, asReply(err)
		}
		if method == rpcListPage {
			out, err := n.serveListPage(g, []byte(key), n.now())
			return out, asReply(err)
		}
		// An older node's unpaged list: one page at most.
		p := g.fsm.SubjectPage(key, "", maxListLimit, maxListBytes, n.now())
		if p.More {
			return nil, asReply(errListTooLarge)
		}
		return appendRecords(nil, p.Records), nil
	default:
		return nil, asReply(fmt.Errorf("%w: unknown rpc method %d", ErrBadArg, method))
	}
}

// rpcGroup reads the group id that starts an internal RPC's payload and
// returns the group and the rest of the payload; its error is a reply.
func (n *Node) rpcGroup(payload []byte) (*group, []byte, error) {
	gid, k := binary.Uvarint(payload)
	if k <= 0 {
		return nil, nil, asReply(fmt.Errorf("%w: bad rpc header", ErrBadArg))
	}
	g, err := n.group(int(gid))
	if err != nil {
		return nil, nil, asReply(err)
	}
	return g, payload[k:], nil
}

// termAnswer is this node's answer to a term poll of group g meant for
// server id (rpcTerm, and a read cycle's term part): its raft term, read
// now.
func (n *Node) termAnswer(g *group, id []byte) (uint64, error) {
	if string(id) != n.cfg.ID {
		return 0, fmt.Errorf("%w: term poll for server %q reached %q", ErrBadArg, clipID(id), n.cfg.ID)
	}
	// A data directory the cluster has not admitted (wiped, or removed)
	// does not know the votes its id cast: its term is no answer for the
	// voter (see leadercheck.go), as its raft traffic is refused
	// (gateTransport).
	if !n.ident.admitted.Load() || n.ident.removed.Load() {
		return 0, errNotAdmitted
	}
	// Read straight from raft, never from a cache: the answer must be the
	// term at the instant it is given (see leadercheck.go).
	return g.raft.CurrentTerm(), nil
}

// clipID shortens a server id for an error message.
func clipID(b []byte) string {
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}
