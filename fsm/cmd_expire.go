package fsm

// Expire removes the listed records that are expired at the batch time (by
// the log clock), leaving tombstones. Ids not expired by then are left
// alone, so a sweeper with a fast clock can never cut a session short.
type Expire struct {
	IDs []string
}

// expireCmd is CmdExpire's entry in the command table (cmdtable.go).
//
// Body: strings IDs.
var expireCmd = cmdSpec{
	name:   "expire",
	has:    func(c *Command) bool { return c.Expire != nil },
	encode: func(dst []byte, c *Command) []byte { return appendStrings(dst, deref(c.Expire).IDs) },
	size:   func(c *Command) int { return sizeStrings(deref(c.Expire).IDs) },
	decode: func(d *decoder, c *Command) { c.Expire = &Expire{IDs: d.strs()} },
	shards: func(_ *state, c *Command) uint64 { return idsMask(c.Expire.IDs) },
	apply: func(_ *FSM, st *state, _ uint64, t int64, c *Command, _ []Field) Result {
		return expire(st, t, c.Expire)
	},
}

// expire removes the listed ids that are expired at t. Ids still live by
// the log clock stay, so a sweeper with a fast clock cannot cut a session
// short.
func expire(st *state, t int64, c *Expire) Result {
	n := 0
	for _, id := range c.IDs {
		if old := st.lookup(id); old != nil && old.ExpiredAt(t) {
			st.bury(id, old, t)
			st.note(EventExpired, old.ID())
			n++
		}
	}
	return Result{Count: n}
}
