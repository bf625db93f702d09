package fsm

import (
	"math/rand/v2"
	"strconv"
)

// logGen produces a reproducible random raft log that exercises every
// command, error path, clock regressions, expiry, ReqID replays and
// tombstones: creates and rotates reuse ids, both earlier ones and a small
// pool of caller-chosen tokens (as scs would send), so they meet live
// records, live tombstones and ended ones. It applies what it generates
// to its own FSM, so its expire commands come from Expired like a real
// sweeper's.
type logGen struct {
	rng     *rand.Rand
	f       *FSM
	index   uint64
	now     int64
	nextID  int
	ids     []string  // every id ever created or rotated to (some dead)
	tokens  [30]bool  // which of the tokens k0..k29 are in ids
	replays []Command // earlier commands with a ReqID
	noRedis bool      // sessions only, as before issue 14 (version 2 and 3 snapshots)
}

func newLogGen(seed uint64) *logGen {
	return &logGen{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), f: New(Limits{DedupWindow: 30 * sec}), now: t0}
}

func (g *logGen) id() string {
	if len(g.ids) == 0 || g.rng.IntN(20) == 0 {
		return "missing-" + strconv.Itoa(g.rng.IntN(100))
	}
	if g.rng.IntN(4) > 0 { // recent ids are more likely alive
		return g.ids[max(0, len(g.ids)-1-g.rng.IntN(50))]
	}
	return g.ids[g.rng.IntN(len(g.ids))]
}

func (g *logGen) newID() string {
	g.nextID++
	id := "s" + strconv.Itoa(g.nextID)
	g.ids = append(g.ids, id)
	return id
}

// reusedID returns an id for a create or rotate that was probably used
// before: an earlier id, or one of a few caller-chosen tokens.
func (g *logGen) reusedID() string {
	if g.rng.IntN(2) == 0 {
		return g.id()
	}
	k := g.rng.IntN(len(g.tokens))
	id := "k" + strconv.Itoa(k)
	if !g.tokens[k] {
		g.tokens[k] = true
		g.ids = append(g.ids, id)
	}
	return id
}

func (g *logGen) subject() string {
	if g.rng.IntN(5) == 0 {
		return ""
	}
	return "u" + strconv.Itoa(g.rng.IntN(20))
}

func (g *logGen) fields() map[string][]byte {
	n := g.rng.IntN(4)
	if n == 0 {
		return nil
	}
	m := make(map[string][]byte, n)
	for range n {
		v := make([]byte, g.rng.IntN(16))
		for i := range v {
			v[i] = byte(g.rng.Uint32())
		}
		m["f"+strconv.Itoa(g.rng.IntN(6))] = v
	}
	return m
}

// key returns a Redis key: mostly from a small pool, so that commands of
// every kind meet each other's keys (WRONGTYPE), and sometimes a session
// id, so that they meet sessions and tombstones.
func (g *logGen) key() string {
	if g.rng.IntN(5) == 0 {
		return g.id()
	}
	return "r" + strconv.Itoa(g.rng.IntN(40))
}

func (g *logGen) value() []byte {
	if g.rng.IntN(3) == 0 {
		return []byte(strconv.Itoa(g.rng.IntN(200) - 100)) // INCRBY material
	}
	v := make([]byte, g.rng.IntN(8))
	for i := range v {
		v[i] = 'a' + byte(g.rng.IntN(26))
	}
	return v
}

func (g *logGen) expiry() Expiry {
	switch g.rng.IntN(6) {
	case 0:
		return Expiry{ExpiryIn, (1 + g.rng.Int64N(40)) * sec}
	case 1:
		return Expiry{ExpiryAt, g.now + g.rng.Int64N(60*sec) - 10*sec} // sometimes past
	case 2:
		return Expiry{Mode: ExpiryKeep}
	}
	return Expiry{}
}

func (g *logGen) members() []string {
	ms := make([]string, 1+g.rng.IntN(3))
	for i := range ms {
		ms[i] = "m" + strconv.Itoa(g.rng.IntN(8))
	}
	return ms
}

// redisCmd returns a Redis command (issue 14) of any type.
func (g *logGen) redisCmd(depth int) Command {
	k := g.key()
	switch g.rng.IntN(16) {
	case 0, 1:
		return Command{Type: CmdSetString, SetString: &SetString{Key: k, Value: g.value(),
			Cond: []Cond{0, 0, CondNX, CondXX}[g.rng.IntN(4)], Get: g.rng.IntN(3) == 0, Expiry: g.expiry()}}
	case 2:
		n := 1 + g.rng.IntN(3)
		x := &MSet{NX: g.rng.IntN(3) == 0}
		for range n {
			x.Keys, x.Values = append(x.Keys, g.key()), append(x.Values, g.value())
		}
		return Command{Type: CmdMSet, MSet: x}
	case 3:
		return Command{Type: CmdGetDel, GetDel: &GetDel{Key: k}}
	case 4:
		e := g.expiry()
		return Command{Type: CmdGetEx, GetEx: &GetEx{Key: k, Expiry: e}}
	case 5:
		e := g.expiry()
		if e.Mode == ExpiryKeep {
			e.Mode = ExpiryNone
		}
		var cond Cond
		if e.Mode != ExpiryNone {
			cond = []Cond{0, CondNX, CondXX, CondGT, CondLT, CondXX | CondGT}[g.rng.IntN(6)]
		}
		return Command{Type: CmdSetExpiry, SetExpiry: &SetExpiry{Key: k, Expiry: e, Cond: cond}}
	case 6:
		return Command{Type: CmdIncrBy, IncrBy: &IncrBy{Key: k, By: g.rng.Int64N(21) - 10}}
	case 7:
		return Command{Type: CmdAppend, Append: &Append{Key: k, Value: g.value()}}
	case 8:
		return Command{Type: CmdHSet, HSet: &HSet{Key: k, Fields: g.fieldsAtLeastOne(), NX: g.rng.IntN(4) == 0}}
	case 9:
		return Command{Type: CmdHDel, HDel: &HDel{Key: k, Fields: []string{"f" + strconv.Itoa(g.rng.IntN(6)), "f" + strconv.Itoa(g.rng.IntN(6))}}}
	case 10:
		return Command{Type: CmdHIncrBy, HIncrBy: &HIncrBy{Key: k, Field: "f" + strconv.Itoa(g.rng.IntN(6)), By: g.rng.Int64N(9) - 4}}
	case 11:
		return Command{Type: CmdSAdd, SAdd: &SAdd{Key: k, Members: g.members()}}
	case 12:
		return Command{Type: CmdSRem, SRem: &SRem{Key: k, Members: g.members()}}
	case 13:
		return Command{Type: CmdRename, Rename: &Rename{Key: k, NewKey: g.key(), NX: g.rng.IntN(3) == 0}}
	case 14:
		if depth == 0 && g.rng.IntN(50) == 0 {
			return Command{Type: CmdFlush, Flush: &Flush{}}
		}
		return cDestroy(k, g.key())
	default:
		if depth > 0 {
			return cDestroy(k)
		}
		x := &Txn{}
		for range g.rng.IntN(3) {
			w := g.key()
			var v uint64
			if r, ok := g.f.Get(w, g.now); ok {
				v = r.Version
			}
			if g.rng.IntN(4) == 0 {
				v++ // a change since WATCH
			}
			x.Watch = append(x.Watch, Watch{Key: w, Version: v})
		}
		for range 1 + g.rng.IntN(4) {
			x.Cmds = append(x.Cmds, g.redisCmd(depth+1))
		}
		return Command{Type: CmdTxn, Txn: x}
	}
}

func (g *logGen) fieldsAtLeastOne() map[string][]byte {
	m := g.fields()
	if len(m) == 0 {
		m = map[string][]byte{"f" + strconv.Itoa(g.rng.IntN(6)): g.value()}
	}
	return m
}

func (g *logGen) cmd() Command {
	if !g.noRedis && g.rng.IntN(10) < 3 {
		c := g.redisCmd(0)
		if g.rng.IntN(8) == 0 {
			c.ReqID = "r" + strconv.Itoa(g.rng.IntN(1_000_000))
		}
		return c
	}
	r := g.rng.IntN(100)
	var c Command
	switch {
	case r < 35:
		idle, ttl := int64(0), int64(0)
		if g.rng.IntN(3) > 0 {
			idle = (1 + g.rng.Int64N(20)) * sec
		}
		if g.rng.IntN(3) > 0 {
			ttl = (1 + g.rng.Int64N(60)) * sec
		}
		id := g.newID()
		if g.rng.IntN(6) == 0 {
			id = g.reusedID() // collide with a record or a tombstone, or not
		}
		c = cCreate(id, g.subject(), g.fields(), idle, ttl)
	case r < 50:
		var unset []string
		if g.rng.IntN(3) == 0 {
			unset = []string{"f" + strconv.Itoa(g.rng.IntN(6))}
		}
		var ifv uint64
		if g.rng.IntN(4) == 0 {
			ifv = g.index - uint64(g.rng.IntN(3))
		}
		c = cSet(g.id(), ifv, g.fields(), unset...)
		if g.rng.IntN(5) == 0 {
			c.Set.AbsTTL = int64(1+g.rng.IntN(120)) * sec
		}
	case r < 65:
		n := 1 + g.rng.IntN(8)
		ids, times := make([]string, n), make([]int64, n)
		for i := range ids {
			ids[i] = g.id()
			times[i] = g.now + g.rng.Int64N(4*sec) - 2*sec
		}
		c = cTouch(ids, times)
	case r < 72:
		c = cDestroy(g.id(), g.id())
	case r < 80:
		nid := g.newID()
		if g.rng.IntN(8) == 0 {
			nid = g.reusedID()
		}
		c = cRotate(g.id(), nid, 0)
	case r < 84:
		except := ""
		if g.rng.IntN(2) == 0 {
			except = g.id()
		}
		c = cRevoke("u"+strconv.Itoa(g.rng.IntN(20)), except)
	case r < 92:
		ids := g.f.Expired(g.now, 1+g.rng.IntN(20))
		if g.rng.IntN(3) == 0 {
			ids = append(ids, g.id()) // not necessarily expired
		}
		c = cExpire(ids...)
	default:
		if len(g.replays) > 0 {
			return g.replays[g.rng.IntN(len(g.replays))]
		}
		c = cDestroy(g.id())
	}
	if g.rng.IntN(4) == 0 {
		c.ReqID = "r" + strconv.Itoa(g.rng.IntN(1_000_000))
		if len(g.replays) < 64 {
			g.replays = append(g.replays, c)
		} else {
			g.replays[g.rng.IntN(len(g.replays))] = c
		}
	}
	return c
}

// next returns the next entry's index and batch, and applies it to g.f.
func (g *logGen) next() (uint64, *Batch) {
	g.index++
	g.now += g.rng.Int64N(2 * sec)
	at := g.now
	if g.rng.IntN(20) == 0 {
		at -= g.rng.Int64N(5 * sec) // a leader with a slow clock
	}
	b := &Batch{Time: at, Cmds: make([]Command, 1+g.rng.IntN(12))}
	for i := range b.Cmds {
		b.Cmds[i] = g.cmd()
	}
	g.f.ApplyDecoded(g.index, b)
	return g.index, b
}

type entry struct {
	index uint64
	data  []byte
	batch *Batch
}

func genLog(seed uint64, n int) ([]entry, *FSM) {
	return genLogWith(newLogGen(seed), n)
}

func genLogWith(g *logGen, n int) ([]entry, *FSM) {
	log := make([]entry, n)
	for i := range log {
		idx, b := g.next()
		log[i] = entry{idx, EncodeBatch(b), b}
	}
	return log, g.f
}
