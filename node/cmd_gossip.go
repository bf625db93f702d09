package node

import (
	"fmt"
	"strings"
)

// GOSSIP.KEYS: the local node's gossip keyring (gossipkeys.go). A rotation
// is install everywhere, use everywhere, remove everywhere; `sessionraft
// gossip-keys` runs each step on every member. The command acts on this
// node only and is an operator's (@admin @dangerous): LIST shows the keys.

// gossipKeys answers GOSSIP.KEYS LIST | INSTALL key | USE key | REMOVE key.
func (h *handler) gossipKeys(q request) {
	r, args := q.r, q.args
	kr := h.n.gossipKeys
	if kr == nil {
		writeErr(r, fmt.Errorf("%w: gossip encryption is off on this node (start it with --gossip-key)", ErrBadArg))
		return
	}
	sub := strings.ToUpper(string(args[1]))
	if sub == "LIST" {
		if len(args) != 2 {
			writeErr(r, fmt.Errorf("%w: GOSSIP.KEYS LIST takes no argument", ErrBadArg))
			return
		}
		keys := kr.list()
		r.WriteArrayLen(len(keys))
		for _, k := range keys {
			r.WriteBulkString(k)
		}
		return
	}
	ops := map[string]func(string) error{"INSTALL": kr.install, "USE": kr.use, "REMOVE": kr.remove}
	op, ok := ops[sub]
	if !ok || len(args) != 3 {
		writeErr(r, fmt.Errorf("%w: want GOSSIP.KEYS LIST | INSTALL key | USE key | REMOVE key", ErrBadArg))
		return
	}
	if err := op(string(args[2])); err != nil {
		writeErr(r, err)
		return
	}
	h.n.log.Info("gossip keyring changed", "op", strings.ToLower(sub), "keys", len(kr.list()))
	r.WriteSimple("OK")
}
