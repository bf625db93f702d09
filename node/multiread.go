package node

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/sessionraft/sessionraft/fsm"
)

// Multi-key reads: MGET, EXISTS, WATCH and a transaction that only reads
// (cmd_txn.go) ask each group once for all of its keys, the groups in
// parallel, rather than once per key. A group answers locally or through
// its leader (rpcGetMany), by the same read rules as a single key
// (localOrForward), and reads its keys at one state (fsm.GetMany): never
// part way through a command or a transaction.

// keysMode says what a multi-key read wants of each key.
type keysMode byte

const (
	keysRecords  keysMode = 0 // the record (MGET, WATCH, transactions)
	keysPresence keysMode = 1 // only whether it exists (EXISTS): no record crosses the wire
)

// keysAnswer is a multi-key read's answer, one entry per key asked:
// recs[i] in keysRecords mode (nil: no key), found[i] in either.
type keysAnswer struct {
	recs  []*fsm.Record
	found []bool
}

// readReplyBudget bounds the records of one rpcGetMany reply (it stops
// after the record that passes it): a transaction's bound
// (fsm.Limits.TxnReadBytes, MaxRecordBytes), so that with one more record
// of the largest size it still fits the internal port's frame
// (rpcFrameCap). A transaction of reads only is refused past it wherever
// it runs, so that it answers alike on every node.
func readReplyBudget(f *fsm.FSM) int { return f.Limits().TxnReadBytes() }

// errReadTooLarge refuses a read that must be atomic (a transaction's)
// whose records exceed budget bytes.
func errReadTooLarge(budget int) error {
	return fmt.Errorf("%w: the transaction's reads exceed %d bytes", fsm.ErrTooLarge, budget)
}

// readKeys reads keys, in any groups, at o: one request per group, the
// groups concurrently. A key named twice is read once.
func (n *Node) readKeys(ctx context.Context, keys []string, o readOpts, mode keysMode) (keysAnswer, error) {
	ans := keysAnswer{found: make([]bool, len(keys))}
	if mode == keysRecords {
		ans.recs = make([]*fsm.Record, len(keys))
	}
	// Each group's distinct keys, and where each key's answer goes.
	type part struct {
		keys []string
		at   [][]int // at[j]: the positions in keys of part.keys[j]
	}
	parts := map[int]*part{}
	index := make(map[string][2]int, len(keys)) // key -> group, position in its part
	var gids []int
	for i, k := range keys {
		if p, ok := index[k]; ok {
			parts[p[0]].at[p[1]] = append(parts[p[0]].at[p[1]], i)
			continue
		}
		gid := n.ring.Group(k)
		p := parts[gid]
		if p == nil {
			p = &part{}
			parts[gid] = p
			gids = append(gids, gid)
		}
		index[k] = [2]int{gid, len(p.keys)}
		p.keys = append(p.keys, k)
		p.at = append(p.at, []int{i})
	}
	_, err := n.fanOut(ctx, gids, false, func(ctx context.Context, gid int) (int, error) {
		p := parts[gid]
		a, err := n.readGroupKeys(ctx, gid, p.keys, o, mode, false)
		if err != nil {
			return 0, err
		}
		// Each group writes only its own keys' positions.
		for j, at := range p.at {
			for _, i := range at {
				ans.found[i] = a.found[j]
				if mode == keysRecords {
					ans.recs[i] = a.recs[j]
				}
			}
		}
		return 0, nil
	})
	return ans, err
}

// readGroupKeys reads keys, all in group gid, at o. Local reads take them
// all at one state. A leader's reply holds records up to readReplyBudget
// (at least one), so that it fits a frame: the rest are asked for again,
// each request at one state of its own. An atomic read (a transaction's)
// whose records exceed the budget is errReadTooLarge instead, local or
// not.
func (n *Node) readGroupKeys(ctx context.Context, gid int, keys []string, o readOpts, mode keysMode, atomic bool) (keysAnswer, error) {
	var ans keysAnswer
	err := n.localOrForward(ctx, gid, o, func() error {
		f := n.groups[gid].fsm
		recs := n.fsmGetMany(f, keys)
		if atomic && recordBytes(recs) > readReplyBudget(f) {
			return errReadTooLarge(readReplyBudget(f))
		}
		ans = answerOf(recs, mode)
		return nil
	}, func(addr string) error {
		ans = keysAnswer{}
		for rest := keys; len(rest) > 0; {
			n.admin.met.Forwarded("read")
			out, err := n.mux.Call(ctx, addr, rpcGetMany, append(appendReadHeader(gid, o, ""), encodeKeysReq(mode, rest)...))
			if err != nil {
				return translateCallErr(err, false)
			}
			a, err := decodeKeysReply(out, mode, len(rest))
			if err != nil {
				return err
			}
			served := len(a.found)
			if served < len(rest) && atomic {
				return errReadTooLarge(readReplyBudget(n.groups[gid].fsm))
			}
			ans.found = append(ans.found, a.found...)
			ans.recs = append(ans.recs, a.recs...)
			rest = rest[served:]
		}
		return nil
	})
	return ans, err
}

// recordBytes is the size of recs (Record.Size summed).
func recordBytes(recs []*fsm.Record) int {
	n := 0
	for _, r := range recs {
		if r != nil {
			n += r.Size()
		}
	}
	return n
}

// answerOf turns the records of GetMany into an answer in mode.
func answerOf(recs []*fsm.Record, mode keysMode) keysAnswer {
	a := keysAnswer{found: make([]bool, len(recs))}
	for i, r := range recs {
		a.found[i] = r != nil
	}
	if mode == keysRecords {
		a.recs = recs
	}
	return a
}

// fsmGetMany is fsmGet (testmode.go) for many keys at one state. With
// DEBUG.UNSAFE EXPIRY on (test mode only) it reads key by key as fsmGet
// does.
func (n *Node) fsmGetMany(f *fsm.FSM, keys []string) []*fsm.Record {
	if n.test.unsafeExpiry.Load() {
		recs := make([]*fsm.Record, len(keys))
		for i, k := range keys {
			recs[i], _ = n.fsmGet(f, k)
		}
		return recs
	}
	return f.GetMany(make([]*fsm.Record, 0, len(keys)), keys, n.now())
}

// serveGetMany answers rpcGetMany on the group's leader (after the read
// rules): the keys' records or presence, at one state of the group.
func (n *Node) serveGetMany(g *group, req []byte) ([]byte, error) {
	mode, keys, err := decodeKeysReq(req)
	if err != nil {
		return nil, err
	}
	return encodeKeysReply(mode, n.fsmGetMany(g.fsm, keys), readReplyBudget(g.fsm)), nil
}

// encodeKeysReq is rpcGetMany's request after the read header: the mode,
// then the keys (uvarint count, each uvarint length and bytes).
func encodeKeysReq(mode keysMode, keys []string) []byte {
	b := append([]byte{byte(mode)}, binary.AppendUvarint(nil, uint64(len(keys)))...)
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
	}
	return b
}

func decodeKeysReq(b []byte) (keysMode, []string, error) {
	bad := fmt.Errorf("%w: bad multi-key read request", ErrBadArg)
	if len(b) < 1 || keysMode(b[0]) > keysPresence {
		return 0, nil, bad
	}
	mode := keysMode(b[0])
	count, k := binary.Uvarint(b[1:])
	if k <= 0 || count > maxIDsPerCommand || count > uint64(len(b)) {
		return 0, nil, bad
	}
	b = b[1+k:]
	keys := make([]string, 0, count)
	for range count {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return 0, nil, bad
		}
		keys = append(keys, string(b[k:k+int(l)]))
		b = b[k+int(l):]
	}
	if len(b) != 0 {
		return 0, nil, bad
	}
	return mode, keys, nil
}

// encodeKeysReply is rpcGetMany's reply: uvarint served (the keys
// answered, from the first), then per key a byte, 1 if it exists, and in
// keysRecords mode its record (uvarint length, fsm.AppendRecord). It
// stops after the record that takes it past budget bytes, so a reply
// always answers at least one key.
func encodeKeysReply(mode keysMode, recs []*fsm.Record, budget int) []byte {
	var body []byte
	served := 0
	for _, r := range recs {
		if mode == keysRecords && served > 0 && len(body) > budget {
			break
		}
		served++
		if r == nil {
			body = append(body, 0)
			continue
		}
		body = append(body, 1)
		if mode == keysRecords {
			enc := fsm.AppendRecord(nil, r)
			body = binary.AppendUvarint(body, uint64(len(enc)))
			body = append(body, enc...)
		}
	}
	return append(binary.AppendUvarint(nil, uint64(served)), body...)
}

// decodeKeysReply reads an rpcGetMany reply to a request of asked keys.
func decodeKeysReply(b []byte, mode keysMode, asked int) (keysAnswer, error) {
	bad := fmt.Errorf("%w: undecodable multi-key read reply", ErrUnavailable)
	served, k := binary.Uvarint(b)
	if k <= 0 || served > uint64(asked) || (served == 0 && asked > 0) {
		return keysAnswer{}, bad
	}
	b = b[k:]
	a := keysAnswer{found: make([]bool, served)}
	if mode == keysRecords {
		a.recs = make([]*fsm.Record, served)
	}
	for i := range a.found {
		if len(b) == 0 || b[0] > 1 {
			return keysAnswer{}, bad
		}
		a.found[i] = b[0] == 1
		b = b[1:]
		if !a.found[i] || mode != keysRecords {
			continue
		}
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return keysAnswer{}, bad
		}
		r, err := fsm.DecodeRecord(b[k : k+int(l)])
		if err != nil {
			return keysAnswer{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		a.recs[i] = r
		b = b[k+int(l):]
	}
	if len(b) != 0 {
		return keysAnswer{}, bad
	}
	return a, nil
}
