package fsm

// Destroy removes records of any kind: SESSION.DESTROY, and Redis's DEL
// and UNLINK. Sessions leave tombstones, other keys nothing (kind.go).
// Missing ids are not an error (Result.Count says how many existed, as
// DEL replies; an id named twice counts once). Event: "del" per record.
type Destroy struct {
	IDs []string
}

// destroyCmd is CmdDestroy's entry in the command table (cmdtable.go).
//
// Body: strings IDs.
var destroyCmd = cmdSpec{
	name:   "destroy",
	has:    func(c *Command) bool { return c.Destroy != nil },
	encode: func(dst []byte, c *Command) []byte { return appendStrings(dst, deref(c.Destroy).IDs) },
	size:   func(c *Command) int { return sizeStrings(deref(c.Destroy).IDs) },
	decode: func(d *decoder, c *Command) { c.Destroy = &Destroy{IDs: d.strs()} },
	shards: func(_ *state, c *Command) uint64 { return idsMask(c.Destroy.IDs) },
	apply: func(_ *FSM, st *state, _ uint64, t int64, c *Command, _ []Field) Result {
		return destroy(st, t, c.Destroy)
	},
}

// destroy removes ids; Count is how many were live. Expired ones go too
// but are not counted, as they were already absent.
func destroy(st *state, t int64, c *Destroy) Result {
	n := 0
	for _, id := range c.IDs {
		if old := live(st, id, t); old != nil {
			st.del(old, t)
			n++
		}
	}
	return Result{Count: n}
}
