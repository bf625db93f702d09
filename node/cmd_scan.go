package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/transport/resp"
)

// The Redis commands over the whole keyspace (issue 14): SCAN, KEYS,
// DBSIZE, FLUSHDB, FLUSHALL; and RENAME, RENAMENX. A group's keys are read
// where the connection's consistency allows (localOrForward), through the
// rpcScan and rpcKeyCount methods when the group's leader is elsewhere.

// A SCAN cursor is the group in the bits above fsm.ScanCursorBits and
// that group's fsm cursor below: 0 starts at group 0, and a group's walk
// ending moves the cursor to the start of the next group, so a key
// present for the whole scan is returned at least once (fsm/scan.go gives
// that within a group).
func scanCursor(gid int, c uint64) uint64 { return uint64(gid)<<fsm.ScanCursorBits | c }

func splitCursor(c uint64) (gid int, fc uint64) {
	return int(c >> fsm.ScanCursorBits), c & (1<<fsm.ScanCursorBits - 1)
}

// scanGroup reads one page of group gid's keys.
func (n *Node) scanGroup(ctx context.Context, gid int, cursor uint64, so fsm.ScanOptions, o readOpts) (next uint64, keys []string, err error) {
	err = n.localOrForward(ctx, gid, o, func() error {
		next, keys = n.groups[gid].fsm.Scan(cursor, so, n.now())
		return nil
	}, func(addr string) error {
		out, err := n.mux.Call(ctx, addr, rpcScan, append(appendReadHeader(gid, o, ""), encodeScanReq(cursor, so)...))
		if err != nil {
			return translateCallErr(err, false)
		}
		next, keys, err = decodeScanPage(out)
		return err
	})
	return next, keys, err
}

// encodeScanReq is rpcScan's request after the read header: cursor,
// count, kind, then the pattern.
func encodeScanReq(cursor uint64, so fsm.ScanOptions) []byte {
	b := binary.AppendUvarint(nil, cursor)
	b = binary.AppendUvarint(b, uint64(max(so.Count, 0)))
	b = append(b, byte(so.Kind))
	return append(b, so.Match...)
}

func decodeScanReq(b []byte) (cursor uint64, so fsm.ScanOptions, err error) {
	cursor, k := binary.Uvarint(b)
	if k <= 0 {
		return 0, so, fmt.Errorf("%w: bad scan request", ErrBadArg)
	}
	b = b[k:]
	count, k := binary.Uvarint(b)
	if k <= 0 || count > maxScanCount || len(b) < k+1 {
		return 0, so, fmt.Errorf("%w: bad scan request", ErrBadArg)
	}
	so.Count, so.Kind, so.Match = int(count), fsm.Kind(b[k]), string(b[k+1:])
	return cursor, so, nil
}

// serveScan answers rpcScan on the group's leader (after the read rules).
func (n *Node) serveScan(g *group, req []byte) ([]byte, error) {
	cursor, so, err := decodeScanReq(req)
	if err != nil {
		return nil, err
	}
	next, keys := g.fsm.Scan(cursor, so, n.now())
	return encodeScanPage(next, keys), nil
}

// encodeScanPage is rpcScan's reply: the next cursor, then the keys.
func encodeScanPage(next uint64, keys []string) []byte {
	b := binary.AppendUvarint(nil, next)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
	}
	return b
}

func decodeScanPage(b []byte) (next uint64, keys []string, err error) {
	bad := fmt.Errorf("%w: undecodable scan reply", ErrUnavailable)
	next, k := binary.Uvarint(b)
	if k <= 0 {
		return 0, nil, bad
	}
	b = b[k:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return 0, nil, bad
	}
	b = b[k:]
	keys = make([]string, 0, n)
	for range n {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return 0, nil, bad
		}
		keys = append(keys, string(b[k:k+int(l)]))
		b = b[k+int(l):]
	}
	return next, keys, nil
}

// maxScanCount bounds SCAN's COUNT: one page is one read of one group.
const maxScanCount = 100000

// scan answers SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]: one page
// of one group per call.
func (h *handler) scan(ctx context.Context, o readOpts, args [][]byte, r *resp.Reply) {
	c, err := strconv.ParseUint(string(args[1]), 10, 64)
	if err != nil {
		writeErr(r, redisErr("invalid cursor"))
		return
	}
	var so fsm.ScanOptions
	for i := 2; i < len(args); i += 2 {
		if i+1 >= len(args) {
			writeErr(r, errSyntax)
			return
		}
		switch strings.ToUpper(string(args[i])) {
		case "MATCH":
			so.Match = string(args[i+1])
		case "COUNT":
			n, err := parseInt64(args[i+1])
			switch {
			case err != nil:
				writeErr(r, err)
				return
			case n < 1:
				writeErr(r, errSyntax)
				return
			}
			so.Count = int(min(n, maxScanCount))
		case "TYPE":
			switch strings.ToLower(string(args[i+1])) {
			case "string":
				so.Kind = fsm.KindString
			case "hash":
				so.Kind = fsm.KindHash
			case "set":
				so.Kind = fsm.KindSet
			default:
				// A type this server has no keys of (list, zset,
				// stream): nothing matches, as in Redis.
				so.Kind = fsm.Kind(255)
			}
		default:
			writeErr(r, errSyntax)
			return
		}
	}
	gid, fc := splitCursor(c)
	var keys []string
	next := uint64(0)
	if gid < len(h.n.groups) {
		var fnext uint64
		fnext, keys, err = h.n.scanGroup(ctx, gid, fc, so, o)
		if err != nil {
			writeErr(r, err)
			return
		}
		switch {
		case fnext != 0:
			next = scanCursor(gid, fnext)
		case gid+1 < len(h.n.groups):
			next = scanCursor(gid+1, 0)
		}
	}
	r.WriteArrayLen(2)
	r.WriteBulkString(strconv.FormatUint(next, 10))
	r.WriteArrayLen(len(keys))
	for _, k := range keys {
		r.WriteBulkString(k)
	}
}

// maxKeysReply bounds KEYS's reply; beyond it, SCAN is the way.
const maxKeysReply = 1 << 20

// keys answers KEYS pattern: every group's matching keys.
func (h *handler) keys(ctx context.Context, o readOpts, args [][]byte, r *resp.Reply) {
	so := fsm.ScanOptions{Match: string(args[1]), Count: 1000}
	var all []string
	for gid := range h.n.groups {
		c := uint64(0)
		for {
			next, keys, err := h.n.scanGroup(ctx, gid, c, so, o)
			if err != nil {
				writeErr(r, err)
				return
			}
			all = append(all, keys...)
			if len(all) > maxKeysReply {
				writeErr(r, fmt.Errorf("%w: more than %d keys match; use SCAN", fsm.ErrTooLarge, maxKeysReply))
				return
			}
			if next == 0 {
				break
			}
			c = next
		}
	}
	// A group's walk may return a key twice (fsm/scan.go); KEYS names each
	// once.
	all = dedupKeys(all)
	r.WriteArrayLen(len(all))
	for _, k := range all {
		r.WriteBulkString(k)
	}
}

// dbsize answers DBSIZE: the sum of every group's key count (sessions
// included; keys past their deadline count until swept, as in Redis).
func (h *handler) dbsize(ctx context.Context, o readOpts, _ [][]byte, r *resp.Reply) {
	total, err := h.n.fanOut(ctx, h.n.allGroups(), false, func(ctx context.Context, gid int) (int, error) {
		var c int
		err := h.n.localOrForward(ctx, gid, o, func() error {
			c = h.n.groups[gid].fsm.Len()
			return nil
		}, func(addr string) error {
			out, err := h.n.mux.Call(ctx, addr, rpcKeyCount, appendReadHeader(gid, o, ""))
			if err != nil {
				return translateCallErr(err, false)
			}
			v, k := binary.Uvarint(out)
			if k <= 0 {
				return fmt.Errorf("%w: undecodable key count", ErrUnavailable)
			}
			c = int(v)
			return nil
		})
		return c, err
	})
	replyInt(r, total, err)
}

// flush answers FLUSHDB and FLUSHALL [ASYNC|SYNC] (one database): every
// group is emptied, each in one raft entry.
func (h *handler) flush(ctx context.Context, args [][]byte, r *resp.Reply) {
	if len(args) == 2 {
		if m := strings.ToUpper(string(args[1])); m != "ASYNC" && m != "SYNC" {
			writeErr(r, errSyntax)
			return
		}
	}
	_, err := h.n.fanOut(ctx, h.n.allGroups(), true, func(ctx context.Context, gid int) (int, error) {
		res, err := h.n.write(ctx, gid, fsm.Command{Type: fsm.CmdFlush, Flush: &fsm.Flush{}})
		if err == nil {
			err = res.Err
		}
		return 0, err
	})
	if err != nil {
		writeErr(r, err)
		return
	}
	r.WriteSimple("OK")
}

// renameErr is Redis's reply to a RENAME of a key that does not exist.
func renameErr(err error) error {
	if errors.Is(err, fsm.ErrNotFound) {
		return redisErr("no such key")
	}
	return err
}

// renameCmd makes RENAME (+OK) and RENAMENX (1 or 0). Both keys must be
// in one group (CROSSSLOT otherwise, as in Redis Cluster).
func renameCmd(nx bool) func(h *handler, ctx context.Context, args [][]byte, r *resp.Reply) {
	return func(h *handler, ctx context.Context, args [][]byte, r *resp.Reply) {
		from, to := string(args[1]), string(args[2])
		gid, err := h.n.sameGroup([]string{from, to})
		if err != nil {
			writeErr(r, err)
			return
		}
		res, err := h.n.write(ctx, gid, fsm.Command{Type: fsm.CmdRename, Rename: &fsm.Rename{Key: from, NewKey: to, NX: nx}})
		if err == nil {
			err = res.Err
		}
		switch {
		case err != nil:
			writeErr(r, renameErr(err))
		case nx:
			r.WriteInt(int64(res.Count))
		default:
			r.WriteSimple("OK")
		}
	}
}
