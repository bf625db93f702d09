package node

import (
	"fmt"
	"strings"

	"github.com/sessionraft/sessionraft/transport/resp"
)

// The pub/sub commands (Redis's pubsub.c): SUBSCRIBE, PSUBSCRIBE,
// UNSUBSCRIBE, PUNSUBSCRIBE, PUBLISH and PUBSUB. The hub is pubsub.go;
// PUBLISH's fan-out to the other nodes is pubsub_rpc.go.
//
// Confirmations are written as the command's reply, one element per
// channel (a push in RESP3, an array in RESP2), and messages as pushes
// (resp.Conn.Push): a message never precedes the confirmation of the
// subscription that brought it, since the connection holds pushes made
// while it dispatches a request until that request's reply is queued.

// fullName is the command's name as Redis's errors give it: with the
// subcommand ("pubsub|numsub") for a command that has them.
func fullName(cmd *cmdSpec, args [][]byte) string {
	switch cmd.name {
	case "CLIENT", "CONFIG", "PUBSUB", "COMMAND":
		if len(args) > 1 {
			return cmd.lowerName() + "|" + strings.ToLower(string(args[1]))
		}
	}
	return cmd.lowerName()
}

// subscribeModeOK reports whether cmd may run: in RESP2, a connection
// with subscriptions may only send (un)subscribe commands, PING, QUIT and
// RESET (Redis's processCommand); in RESP3 anything.
func subscribeModeOK(c *resp.Conn, st *connState, cmd *cmdSpec) bool {
	if st.sub.count() == 0 || c.Proto() != 2 {
		return true
	}
	switch cmd.name {
	case "SUBSCRIBE", "PSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "PING", "QUIT", "RESET":
		return true
	}
	return false
}

// subscriberOf returns the connection's subscriber, making it (and
// readying the connection for pushes) on first use.
func (h *handler) subscriberOf(q request) *subscriber {
	if q.st.sub == nil {
		q.st.sub = newSubscriber(q.c)
		q.c.EnablePush() // (connClosed drops the subscriptions)
	}
	return q.st.sub
}

func (h *handler) subscribe(q request)  { h.subscribeCmd(q, false) }
func (h *handler) psubscribe(q request) { h.subscribeCmd(q, true) }

func (h *handler) subscribeCmd(q request, pattern bool) {
	s := h.subscriberOf(q)
	kind := "subscribe"
	if pattern {
		kind = "psubscribe"
	}
	for _, name := range q.args[1:] {
		n := h.n.ps.subscribe(s, string(name), pattern)
		q.r.WritePushLen(3)
		q.r.WriteBulkString(kind)
		q.r.WriteBulk(name)
		q.r.WriteInt(int64(n))
	}
	h.countSubs(q.st)
}

func (h *handler) unsubscribe(q request)  { h.unsubscribeCmd(q, false) }
func (h *handler) punsubscribe(q request) { h.unsubscribeCmd(q, true) }

func (h *handler) unsubscribeCmd(q request, pattern bool) {
	kind := "unsubscribe"
	if pattern {
		kind = "punsubscribe"
	}
	s := q.st.sub
	var names []string
	switch {
	case len(q.args) > 1:
		for _, a := range q.args[1:] {
			names = append(names, string(a))
		}
	case s != nil:
		names = h.n.ps.names(s, pattern) // all of them
	}
	if len(names) == 0 {
		// Nothing to leave: Redis still confirms, with a null name.
		q.r.WritePushLen(3)
		q.r.WriteBulkString(kind)
		q.r.WriteNull()
		n := 0
		if s != nil {
			n = s.count()
		}
		q.r.WriteInt(int64(n))
		return
	}
	for _, name := range names {
		n := 0
		if s != nil {
			n = h.n.ps.unsubscribe(s, name, pattern)
		}
		q.r.WritePushLen(3)
		q.r.WriteBulkString(kind)
		q.r.WriteBulkString(name)
		q.r.WriteInt(int64(n))
	}
	h.countSubs(q.st)
}

// countSubs publishes the connection's counts for CLIENT LIST.
func (h *handler) countSubs(st *connState) {
	if st.sub == nil {
		st.subs.Store(0)
		st.psubs.Store(0)
		return
	}
	h.n.ps.mu.RLock()
	st.subs.Store(int32(len(st.sub.channels)))
	st.psubs.Store(int32(len(st.sub.patterns)))
	h.n.ps.mu.RUnlock()
}

// leaveAll drops every subscription of the connection (RESET).
func (h *handler) leaveAll(st *connState) {
	if st.sub != nil {
		h.n.ps.drop(st.sub)
		h.countSubs(st)
	}
}

// publish answers the number of receivers on this node, as Redis Cluster
// answers those on the node the client is connected to; the message also
// goes, best effort, to every other alive member's subscribers.
func (h *handler) publish(q request) {
	n := h.n.ps.publish(q.args[1], q.args[2])
	h.n.fanOutPublish(q.args[1], q.args[2])
	q.r.WriteInt(int64(n))
}

// pubsubCmd is PUBSUB CHANNELS [pattern] | NUMSUB [channel ...] | NUMPAT,
// about this node's subscribers.
func (h *handler) pubsubCmd(q request) {
	args, r := q.args, q.r
	sub := strings.ToUpper(string(args[1]))
	switch {
	case sub == "CHANNELS" && len(args) <= 3:
		pattern := ""
		if len(args) == 3 {
			pattern = string(args[2])
		}
		chs := h.n.ps.activeChannels(pattern)
		r.WriteArrayLen(len(chs))
		for _, ch := range chs {
			r.WriteBulkString(ch)
		}
	case sub == "NUMSUB":
		// A flat array in RESP3 too, as Redis answers it.
		r.WriteArrayLen(2 * (len(args) - 2))
		for _, ch := range args[2:] {
			r.WriteBulk(ch)
			r.WriteInt(int64(h.n.ps.numSub(string(ch))))
		}
	case sub == "NUMPAT" && len(args) == 2:
		r.WriteInt(int64(h.n.ps.numPat()))
	case sub == "CHANNELS" || sub == "NUMPAT":
		writeErr(r, fmt.Errorf("%w: wrong number of arguments for 'pubsub|%s' command", ErrArity, strings.ToLower(sub)))
	default:
		writeErr(r, fmt.Errorf("%w: unknown subcommand '%s'. Try PUBSUB HELP.", ErrRedis, redisArg(args[1])))
	}
}
