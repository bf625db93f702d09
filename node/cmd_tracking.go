package node

import (
	"slices"
	"strconv"
	"strings"

	"github.com/sessionraft/sessionraft/transport/resp"
)

// The client-side caching commands (Redis's CLIENT TRACKING, CACHING,
// GETREDIR, TRACKINGINFO), with Redis's replies and error texts
// (redis/src/networking.c, tracking.c). The tracking table and the
// invalidations are in tracking.go; trackHook below is the part of
// Dispatch that registers what a tracking connection reads.

// trackingOf returns the connection's tracking state, made on first use.
func (h *handler) trackingOf(q request) *trackClient {
	if q.st.track == nil {
		q.st.track = &trackClient{c: q.c}
	}
	return q.st.track
}

// clientTracking is CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...]
// [BCAST] [OPTIN] [OPTOUT] [NOLOOP].
func (h *handler) clientTracking(q request) {
	args, r := q.args, q.r
	on := flag(args, 2, "ON")
	if !on && !flag(args, 2, "OFF") {
		writeErr(r, ErrSyntax)
		return
	}
	m := &trackMode{}
	var redirect bool
	for i := 3; i < len(args); i++ {
		more := i+1 < len(args)
		switch strings.ToUpper(string(args[i])) {
		case "REDIRECT":
			if !more {
				writeErr(r, ErrSyntax)
				return
			}
			if redirect {
				writeErr(r, redisErr("A client can only redirect to a single other client"))
				return
			}
			i++
			id, err := strconv.ParseUint(string(args[i]), 10, 64)
			if err != nil {
				writeErr(r, redisErr("value is not an integer or out of range"))
				return
			}
			redirect, m.redirectID = true, id
		case "BCAST":
			m.bcast = true
		case "OPTIN":
			m.optin = true
		case "OPTOUT":
			m.optout = true
		case "NOLOOP":
			m.noloop = true
		case "PREFIX":
			if !more {
				writeErr(r, ErrSyntax)
				return
			}
			i++
			m.prefixes = append(m.prefixes, string(args[i]))
		default:
			writeErr(r, ErrSyntax)
			return
		}
	}
	tc := h.trackingOf(q)
	if !on {
		h.n.trk.disable(tc)
		r.WriteSimple("OK")
		return
	}
	if err := h.checkTrackMode(tc, m); err != nil {
		writeErr(r, err)
		return
	}
	if tc.on.Load() && m.bcast {
		// As Redis: prefixes accumulate over CLIENT TRACKING ON calls.
		for _, p := range tc.mode.Load().prefixes {
			if !slices.Contains(m.prefixes, p) {
				m.prefixes = append(m.prefixes, p)
			}
		}
	}
	if m.redirectID != 0 && m.redirectID != q.c.ID() {
		rc, rst := h.connByID(m.redirectID)
		if rc == nil {
			writeErr(r, redisErr("The client ID you want redirect to does not exist"))
			return
		}
		m.redirect, m.redirectSt = rc, rst
	}
	if m.redirect == nil {
		q.c.EnablePush() // invalidations come on this connection
	}
	h.n.trk.enable(tc, m)
	r.WriteSimple("OK")
}

// checkTrackMode applies Redis's rules for combining the options and for
// changing them while tracking is on.
func (h *handler) checkTrackMode(tc *trackClient, m *trackMode) error {
	switch {
	case len(m.prefixes) > 0 && !m.bcast:
		return redisErr("PREFIX option requires BCAST mode to be enabled")
	case m.bcast && (m.optin || m.optout):
		return redisErr("OPTIN and OPTOUT are not compatible with BCAST")
	case m.optin && m.optout:
		return redisErr("You can't use both OPTIN and OPTOUT")
	}
	if tc.on.Load() {
		old := tc.mode.Load()
		if old.bcast != m.bcast {
			return redisErr("You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.")
		}
		if old.optin != m.optin || old.optout != m.optout {
			return redisErr("You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.")
		}
	}
	var existing []string
	if tc.on.Load() {
		existing = tc.mode.Load().prefixes
	}
	for i, p := range m.prefixes {
		for _, o := range existing {
			if p != o && (strings.HasPrefix(p, o) || strings.HasPrefix(o, p)) {
				return redisErr("Prefix '%s' overlaps with an existing prefix '%s'. Prefixes for a single client must not overlap.", p, o)
			}
		}
		for _, o := range m.prefixes[i+1:] {
			if strings.HasPrefix(p, o) || strings.HasPrefix(o, p) {
				return redisErr("Prefix '%s' overlaps with another provided prefix '%s'. Prefixes for a single client must not overlap.", p, o)
			}
		}
	}
	return nil
}

// connByID finds one of this node's connections by its client id.
func (h *handler) connByID(id uint64) (*resp.Conn, *connState) {
	var rc *resp.Conn
	var rst *connState
	h.clients.Range(func(k, v any) bool {
		if c := k.(*resp.Conn); c.ID() == id {
			rc, rst = c, v.(*connState)
			return false
		}
		return true
	})
	return rc, rst
}

// clientCaching is CLIENT CACHING YES|NO: whether the next command's
// reads are tracked, in OPTIN or OPTOUT mode.
func (h *handler) clientCaching(q request) {
	args, r := q.args, q.r
	tc := q.st.track
	var m *trackMode
	if tc != nil && tc.on.Load() {
		m = tc.mode.Load()
	}
	if m == nil || (!m.optin && !m.optout) {
		writeErr(r, redisErr("CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"))
		return
	}
	switch {
	case flag(args, 2, "YES"):
		if !m.optin {
			writeErr(r, redisErr("CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode."))
			return
		}
		tc.caching = cachingYes
	case flag(args, 2, "NO"):
		if !m.optout {
			writeErr(r, redisErr("CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode."))
			return
		}
		tc.caching = cachingNo
	default:
		writeErr(r, ErrSyntax)
		return
	}
	r.WriteSimple("OK")
}

// clientGetredir is CLIENT GETREDIR: -1 with tracking off, 0 without a
// redirect, else the redirect's client id.
func (h *handler) clientGetredir(q request) {
	tc := q.st.track
	switch {
	case tc == nil || !tc.on.Load():
		q.r.WriteInt(-1)
	default:
		q.r.WriteInt(int64(tc.mode.Load().redirectID))
	}
}

// clientTrackingInfo is CLIENT TRACKINGINFO: flags, redirect, prefixes.
func (h *handler) clientTrackingInfo(q request) {
	r, tc := q.r, q.st.track
	r.WriteMapLen(3)
	r.WriteBulkString("flags")
	if tc == nil || !tc.on.Load() {
		r.WriteSetLen(1)
		r.WriteBulkString("off")
		r.WriteBulkString("redirect")
		r.WriteInt(-1)
		r.WriteBulkString("prefixes")
		r.WriteArrayLen(0)
		return
	}
	m := tc.mode.Load()
	flags := []string{"on"}
	for _, f := range []struct {
		on   bool
		name string
	}{
		{m.bcast, "bcast"}, {m.optin, "optin"}, {m.optout, "optout"},
		{tc.caching == cachingYes, "caching-yes"}, {tc.caching == cachingNo, "caching-no"},
		{m.noloop, "noloop"}, {tc.redirBroken.Load(), "broken_redirect"},
	} {
		if f.on {
			flags = append(flags, f.name)
		}
	}
	r.WriteSetLen(len(flags))
	for _, f := range flags {
		r.WriteBulkString(f)
	}
	r.WriteBulkString("redirect")
	r.WriteInt(int64(m.redirectID))
	r.WriteBulkString("prefixes")
	r.WriteArrayLen(len(m.prefixes))
	for _, p := range m.prefixes {
		r.WriteBulkString(p)
	}
}

// trackHook runs in Dispatch for a connection with tracking state, before
// its command runs: a read's keys are registered now, so a change applied
// after this point is invalidated, and its push is queued after the
// read's reply. A PING is the client's probe (tracker.probe). CLIENT
// CACHING's answer holds for the next command (a transaction counts as
// one: MULTI and the queued commands keep it for EXEC).
func (h *handler) trackHook(q request, cmd *cmdSpec) {
	tc := q.st.track
	if !tc.on.Load() {
		return
	}
	t := h.n.trk
	switch cmd.name {
	case "CLIENT", "MULTI":
		return
	case "PING":
		t.probe(tc, q.r.Writer)
	case "EXEC":
		// The transaction's queued reads (txn_read.go) are registered
		// now, before EXEC runs them, as Redis tracks the keys a
		// transaction reads; queued commands passed no hook of their own.
		if tx := q.st.txn; tx != nil && tx.multi && !tx.dirty && tc.wants() {
			var keys []string
			for _, op := range tx.ops {
				keys = append(keys, op.reads...)
			}
			if len(keys) > 0 {
				t.remember(tc, keys)
			}
		}
	case "WATCH": // flagged read-only for ACLs, but reads nothing it answers
	default:
		if cmd.flags&flagReadOnly != 0 && tc.wants() {
			if pos := cmd.keyPositions(q.args); len(pos) > 0 {
				keys := make([]string, len(pos))
				for i, p := range pos {
					keys[i] = string(q.args[p])
				}
				t.remember(tc, keys)
			}
		}
	}
	tc.caching = 0
}

// wants reports whether the command being dispatched is tracked: never in
// BCAST mode (every change matching a prefix is sent anyway), in OPTIN
// mode after CLIENT CACHING YES, in OPTOUT mode unless CLIENT CACHING NO.
func (tc *trackClient) wants() bool {
	m := tc.mode.Load()
	switch {
	case m.bcast:
		return false
	case m.optin:
		return tc.caching == cachingYes
	case m.optout:
		return tc.caching != cachingNo
	}
	return true
}

// trackingClosed forgets a closing connection's tracking.
func (h *handler) trackingClosed(st *connState) {
	if st.track != nil {
		h.n.trk.disable(st.track)
	}
}
