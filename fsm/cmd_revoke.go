package fsm

// Revoke destroys all records of Subject, except the id Except if non-empty,
// leaving tombstones.
type Revoke struct {
	Subject string
	Except  string
}

// revokeCmd is CmdRevoke's entry in the command table (cmdtable.go).
//
// Body: string Subject, string Except.
var revokeCmd = cmdSpec{
	name: "revoke",
	has:  func(c *Command) bool { return c.Revoke != nil },
	encode: func(dst []byte, c *Command) []byte {
		x := deref(c.Revoke)
		dst = appendString(dst, x.Subject)
		return appendString(dst, x.Except)
	},
	size: func(c *Command) int {
		x := deref(c.Revoke)
		return sizeString(x.Subject) + sizeString(x.Except)
	},
	decode: func(d *decoder, c *Command) {
		c.Revoke = &Revoke{Subject: d.str(), Except: d.str()}
	},
	check: func(_ Limits, c *Command, _ []Field, _ int64) error {
		if c.Revoke.Subject == "" {
			return errf(ErrInvalid, "revoke without a subject")
		}
		return nil
	},
	// The subject's records, as the subject index holds them now (Apply
	// is the only writer), and Except, which apply looks up.
	anyShard: true,
	shards: func(st *state, c *Command) uint64 {
		var m uint64
		for id := range st.subjects[c.Revoke.Subject] {
			m |= shardBit(id)
		}
		return m | shardBit(c.Revoke.Except)
	},
	apply: func(f *FSM, st *state, _ uint64, t int64, c *Command, _ []Field) Result {
		return f.revoke(st, t, c.Revoke)
	},
}

// revoke removes every live record of a subject except c.Except. It walks
// the subject's index set while burying from it (Go allows deleting the
// entries of a map being ranged over), so a subject of millions of ids
// costs no copy of its ids. Iteration order varies, but the outcome does
// not: every id is either removed or kept, Count is a sum, and the
// tombstones are a set (the order they enter their heap in is never
// observable, see tombTable).
func (f *FSM) revoke(st *state, t int64, c *Revoke) Result {
	n := 0
	for id := range st.subjects[c.Subject] {
		old := live(st, id, t)
		if old == nil || id == c.Except {
			continue
		}
		st.del(old, t)
		n++
	}
	return Result{Count: n}
}
