package fsm

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Apply tests of the Redis commands against Redis 7's documented
// semantics: replies, conditions, WRONGTYPE, overflow, deadlines, and what
// they do to sessions and tombstones.

// redisFSM applies one command per entry, at a log time the test moves.
type redisFSM struct {
	t   *testing.T
	f   *FSM
	idx uint64
	now int64
}

func newRedisFSM(t *testing.T) *redisFSM {
	return &redisFSM{t: t, f: New(Limits{DedupWindow: 60 * sec}), now: t0}
}

func (r *redisFSM) do(c Command) Result {
	r.t.Helper()
	r.idx++
	return applyOne(r.t, r.f, r.idx, r.now, c)
}

// ok applies c and fails on an error.
func (r *redisFSM) ok(c Command) Result {
	r.t.Helper()
	res := r.do(c)
	if res.Err != nil {
		r.t.Fatalf("%v: %v", c.Type, res.Err)
	}
	return res
}

func (r *redisFSM) get(key string) *Record {
	rec, _ := r.f.Get(key, r.now)
	return rec
}

// str returns a string key's value; "<nil>" if absent.
func (r *redisFSM) str(key string) string {
	r.t.Helper()
	rec := r.get(key)
	if rec == nil {
		return "<nil>"
	}
	v, ok := rec.Value()
	if !ok {
		r.t.Fatalf("%q is a %s", key, rec.Kind())
	}
	return string(v)
}

// ttl returns a key's deadline relative to now: -2 absent, -1 none.
func (r *redisFSM) ttl(key string) int64 {
	rec := r.get(key)
	switch {
	case rec == nil:
		return -2
	case rec.Deadline() == 0:
		return -1
	}
	return rec.Deadline() - r.now
}

func set(key, value string) Command { return cSetStr(key, value, 0, false, Expiry{}) }

func setEx(key, value string, ttl int64) Command {
	return cSetStr(key, value, 0, false, Expiry{ExpiryIn, ttl})
}

func hset(key string, kv ...string) Command {
	return Command{Type: CmdHSet, HSet: &HSet{Key: key, Fields: flds(kv...)}}
}

func cSAdd(key string, ms ...string) Command {
	return Command{Type: CmdSAdd, SAdd: &SAdd{Key: key, Members: ms}}
}

func cSetExpiry(key string, e Expiry, cond Cond) Command {
	return Command{Type: CmdSetExpiry, SetExpiry: &SetExpiry{Key: key, Expiry: e, Cond: cond}}
}

func incr(key string, by int64) Command {
	return Command{Type: CmdIncrBy, IncrBy: &IncrBy{Key: key, By: by}}
}

func wantRes(t *testing.T, what string, got Result, err error, count int) {
	t.Helper()
	if err == nil && got.Err != nil || err != nil && !errors.Is(got.Err, err) {
		t.Errorf("%s: error %v, want %v", what, got.Err, err)
	}
	if got.Count != count {
		t.Errorf("%s: count %d, want %d", what, got.Count, count)
	}
}

func wantValue(t *testing.T, what string, got Result, want string) {
	t.Helper()
	s := "<nil>"
	if got.Record != nil {
		v, ok := got.Record.Value()
		if !ok {
			t.Fatalf("%s: read a %s", what, got.Record.Kind())
		}
		s = string(v)
	}
	if s != want {
		t.Errorf("%s: value %q, want %q", what, s, want)
	}
}

func TestSetString(t *testing.T) {
	r := newRedisFSM(t)
	res := r.ok(set("k", "v1"))
	wantRes(t, "SET", res, nil, 1)
	if res.Version != r.idx || r.get("k").Version != r.idx || r.get("k").Kind() != KindString {
		t.Fatalf("version %d, record %+v", res.Version, r.get("k"))
	}
	// NX on an existing key: nil reply; with GET the old value anyway.
	wantRes(t, "SET NX", r.do(cSetStr("k", "v2", CondNX, false, Expiry{})), nil, 0)
	res = r.do(cSetStr("k", "v2", CondNX, true, Expiry{}))
	wantRes(t, "SET NX GET", res, nil, 0)
	wantValue(t, "SET NX GET", res, "v1")
	// XX on a missing key: nil; GET of a missing key: nil.
	res = r.do(cSetStr("missing", "x", CondXX, true, Expiry{}))
	wantRes(t, "SET XX GET", res, nil, 0)
	wantValue(t, "SET XX GET", res, "<nil>")
	if r.get("missing") != nil {
		t.Fatal("XX created a key")
	}
	// GETSET: old value, new written.
	res = r.do(cSetStr("k", "", 0, true, Expiry{}))
	wantValue(t, "GETSET", res, "v1")
	if r.str("k") != "" {
		t.Fatal("empty value not written")
	}
	// An empty value read back is non-nil (an empty string, not nil).
	if res = r.do(cSetStr("k", "v3", 0, true, Expiry{})); res.Record == nil {
		t.Fatal("empty old value read as none")
	} else if v, _ := res.Record.Value(); v == nil || len(v) != 0 {
		t.Fatalf("empty old value: %#v", v)
	}

	// EX sets a deadline; plain SET clears it; KEEPTTL keeps it.
	r.ok(setEx("k", "v", 10*sec))
	if r.ttl("k") != 10*sec {
		t.Fatalf("ttl %d", r.ttl("k"))
	}
	r.ok(cSetStr("k", "w", 0, false, Expiry{Mode: ExpiryKeep}))
	if r.ttl("k") != 10*sec || r.str("k") != "w" {
		t.Fatalf("KEEPTTL: ttl %d", r.ttl("k"))
	}
	r.ok(set("k", "x"))
	if r.ttl("k") != -1 {
		t.Fatalf("SET kept ttl %d", r.ttl("k"))
	}
	r.ok(cSetStr("k", "y", 0, false, Expiry{ExpiryAt, t0 + 99*sec}))
	if r.get("k").Deadline() != t0+99*sec {
		t.Fatal("EXAT")
	}
	// A deadline in the past: written and gone.
	wantRes(t, "SET PXAT past", r.do(cSetStr("k", "z", 0, false, Expiry{ExpiryAt, t0 - 1})), nil, 1)
	if r.get("k") != nil || r.f.Len() != 0 {
		t.Fatal("SET with a past deadline left the key")
	}
	// Checks: a relative deadline beyond the end of time; bad condition.
	wantRes(t, "SET EX huge", r.do(setEx("k", "v", math.MaxInt64)), ErrInvalid, 0)
	wantRes(t, "SET NX XX", r.do(cSetStr("k", "v", CondNX|CondXX, false, Expiry{})), ErrInvalid, 0)
	wantRes(t, "SET GT", r.do(cSetStr("k", "v", CondGT, false, Expiry{})), ErrInvalid, 0)
}

func TestSetStringKinds(t *testing.T) {
	r := newRedisFSM(t)
	r.ok(cCreate("sess", "alice", flds("a", "1"), 30*sec, 0))
	r.ok(hset("h", "f", "v"))
	r.ok(cSAdd("s", "m"))
	// GET on another kind: WRONGTYPE, nothing written.
	for _, k := range []string{"sess", "h", "s"} {
		before := r.get(k)
		wantRes(t, "SET GET "+k, r.do(cSetStr(k, "x", 0, true, Expiry{})), ErrWrongType, 0)
		if r.get(k) != before {
			t.Fatalf("%s changed", k)
		}
	}
	// Plain SET overwrites any kind; a session it replaces is no longer
	// indexed by subject and leaves no tombstone (it was not removed).
	for _, k := range []string{"sess", "h", "s"} {
		r.ok(set(k, "x"))
		if r.str(k) != "x" {
			t.Fatal(k)
		}
	}
	if got := r.f.BySubject("alice", r.now); len(got) != 0 || r.get("sess").Subject() != "" || r.get("sess").IdleTimeout != 0 {
		t.Fatalf("session's subject or idle timeout survived SET: %v", got)
	}
	if r.f.state.Load().tombs.len() != 0 {
		t.Fatal("an overwrite left a tombstone")
	}
}

func TestMSet(t *testing.T) {
	r := newRedisFSM(t)
	r.ok(setEx("a", "old", 10*sec))
	res := r.ok(Command{Type: CmdMSet, MSet: &MSet{Keys: []string{"a", "b", "a"}, Values: [][]byte{[]byte("1"), []byte("2"), []byte("3")}}})
	wantRes(t, "MSET", res, nil, 1)
	if r.str("a") != "3" || r.str("b") != "2" || r.ttl("a") != -1 {
		t.Fatalf("a=%s b=%s ttl %d", r.str("a"), r.str("b"), r.ttl("a"))
	}
	wantRes(t, "MSETNX", r.do(Command{Type: CmdMSet, MSet: &MSet{Keys: []string{"c", "a"}, Values: [][]byte{{}, {}}, NX: true}}), nil, 0)
	if r.get("c") != nil {
		t.Fatal("MSETNX wrote a key")
	}
	wantRes(t, "MSETNX", r.do(Command{Type: CmdMSet, MSet: &MSet{Keys: []string{"c", "d"}, Values: [][]byte{{}, {}}, NX: true}}), nil, 1)
	wantRes(t, "MSET odd", r.do(Command{Type: CmdMSet, MSet: &MSet{Keys: []string{"c"}}}), ErrInvalid, 0)
}

func TestGetDelGetEx(t *testing.T) {
	r := newRedisFSM(t)
	r.ok(set("k", "v"))
	r.ok(hset("h", "f", "v"))
	res := r.ok(Command{Type: CmdGetDel, GetDel: &GetDel{Key: "k"}})
	wantValue(t, "GETDEL", res, "v")
	if r.get("k") != nil {
		t.Fatal("GETDEL kept the key")
	}
	wantValue(t, "GETDEL missing", r.ok(Command{Type: CmdGetDel, GetDel: &GetDel{Key: "k"}}), "<nil>")
	wantRes(t, "GETDEL hash", r.do(Command{Type: CmdGetDel, GetDel: &GetDel{Key: "h"}}), ErrWrongType, 0)

	getex := func(e Expiry) Result {
		return r.do(Command{Type: CmdGetEx, GetEx: &GetEx{Key: "k", Expiry: e}})
	}
	r.ok(set("k", "v"))
	v := r.get("k").Version
	wantValue(t, "GETEX", getex(Expiry{Mode: ExpiryKeep}), "v")
	if r.get("k").Version != v {
		t.Fatal("GETEX without options wrote")
	}
	getex(Expiry{ExpiryIn, 5 * sec})
	if r.ttl("k") != 5*sec {
		t.Fatalf("GETEX EX: ttl %d", r.ttl("k"))
	}
	getex(Expiry{})
	if r.ttl("k") != -1 {
		t.Fatal("GETEX PERSIST")
	}
	wantValue(t, "GETEX EXAT past", getex(Expiry{ExpiryAt, t0 - sec}), "v")
	if r.get("k") != nil {
		t.Fatal("GETEX EXAT in the past kept the key")
	}
	wantRes(t, "GETEX hash", r.do(Command{Type: CmdGetEx, GetEx: &GetEx{Key: "h"}}), ErrWrongType, 0)
}

// TestSetExpiry: EXPIRE's NX, XX, GT, LT (Redis 7), where a key without a
// deadline counts as expiring never.
func TestSetExpiry(t *testing.T) {
	const cur = 100 * sec
	for _, tc := range []struct {
		name    string
		has     bool // the key has a deadline (cur) before
		cond    Cond
		ttl     int64
		applied bool
	}{
		{"plain, none", false, 0, 50 * sec, true},
		{"plain, has", true, 0, 50 * sec, true},
		{"NX, none", false, CondNX, 50 * sec, true},
		{"NX, has", true, CondNX, 50 * sec, false},
		{"XX, none", false, CondXX, 50 * sec, false},
		{"XX, has", true, CondXX, 50 * sec, true},
		{"GT, none (infinite)", false, CondGT, 50 * sec, false},
		{"GT, later", true, CondGT, 150 * sec, true},
		{"GT, equal", true, CondGT, cur, false},
		{"GT, earlier", true, CondGT, 50 * sec, false},
		{"LT, none (infinite)", false, CondLT, 50 * sec, true},
		{"LT, earlier", true, CondLT, 50 * sec, true},
		{"LT, equal", true, CondLT, cur, false},
		{"LT, later", true, CondLT, 150 * sec, false},
		{"XX GT, none", false, CondXX | CondGT, 150 * sec, false},
		{"XX LT, none", false, CondXX | CondLT, 50 * sec, false},
		{"XX LT, earlier", true, CondXX | CondLT, 50 * sec, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRedisFSM(t)
			if tc.has {
				r.ok(setEx("k", "v", cur))
			} else {
				r.ok(set("k", "v"))
			}
			want, wantTTL := 0, r.ttl("k")
			if tc.applied {
				want, wantTTL = 1, tc.ttl
			}
			wantRes(t, "EXPIRE", r.do(cSetExpiry("k", Expiry{ExpiryIn, tc.ttl}, tc.cond)), nil, want)
			if r.ttl("k") != wantTTL {
				t.Fatalf("ttl %d, want %d", r.ttl("k"), wantTTL)
			}
		})
	}
	r := newRedisFSM(t)
	wantRes(t, "EXPIRE missing", r.do(cSetExpiry("k", Expiry{ExpiryIn, sec}, 0)), nil, 0)
	wantRes(t, "PERSIST missing", r.do(cSetExpiry("k", Expiry{}, 0)), nil, 0)
	r.ok(set("k", "v"))
	wantRes(t, "PERSIST none", r.do(cSetExpiry("k", Expiry{}, 0)), nil, 0)
	r.ok(cSetExpiry("k", Expiry{ExpiryAt, t0 + sec}, 0))
	wantRes(t, "PERSIST", r.do(cSetExpiry("k", Expiry{}, 0)), nil, 1)
	if r.ttl("k") != -1 {
		t.Fatal("PERSIST left the deadline")
	}
	// A deadline not after now deletes the key, reply 1; a condition
	// that fails first leaves it.
	wantRes(t, "EXPIRE 0 GT", r.do(cSetExpiry("k", Expiry{ExpiryIn, 0}, CondGT)), nil, 0)
	wantRes(t, "EXPIRE -5", r.do(cSetExpiry("k", Expiry{ExpiryIn, -5 * sec}, 0)), nil, 1)
	if r.get("k") != nil {
		t.Fatal("EXPIRE -5 kept the key")
	}
	r.ok(set("k", "v"))
	wantRes(t, "EXPIREAT now", r.do(cSetExpiry("k", Expiry{ExpiryAt, r.now}, 0)), nil, 1)
	if r.get("k") != nil {
		t.Fatal("EXPIREAT now kept the key")
	}
	for _, c := range []Command{
		cSetExpiry("k", Expiry{}, CondNX),                         // PERSIST with a condition
		cSetExpiry("k", Expiry{Mode: ExpiryKeep}, 0),              // nothing to set
		cSetExpiry("k", Expiry{ExpiryIn, sec}, CondNX|CondGT),     // NX with GT
		cSetExpiry("k", Expiry{ExpiryIn, sec}, CondGT|CondLT),     // GT with LT
		cSetExpiry("k", Expiry{ExpiryIn, math.MaxInt64 - 1}, 0),   // overflow
		cSetExpiry("", Expiry{ExpiryIn, sec}, 0),                  // no key
		cSetExpiry("k", Expiry{ExpiryIn, sec}, Cond(16)),          // unknown bit
		cSetExpiry("k", Expiry{Mode: ExpiryMode(7), Value: 1}, 0), // unknown mode
	} {
		wantRes(t, "invalid EXPIRE", r.do(c), ErrInvalid, 0)
	}

	// On a session: the deadline compared is the effective one (idle),
	// the one set is the absolute one, and the idle timeout stays.
	r.ok(cCreate("sess", "u", nil, 30*sec, 0))
	wantRes(t, "EXPIRE GT session", r.do(cSetExpiry("sess", Expiry{ExpiryIn, 20 * sec}, CondGT)), nil, 0)
	wantRes(t, "EXPIRE XX session", r.do(cSetExpiry("sess", Expiry{ExpiryIn, 20 * sec}, CondXX)), nil, 1)
	if s := r.get("sess"); s.IdleTimeout != 30*sec || s.AbsDeadline != r.now+20*sec || r.ttl("sess") != 20*sec {
		t.Fatalf("session after EXPIRE: %+v", s)
	}
	// EXPIRE in the past on a session removes it and leaves a tombstone.
	r.ok(cSetExpiry("sess", Expiry{ExpiryIn, -1}, 0))
	wantRes(t, "create after EXPIRE -1", r.do(cCreate("sess", "", nil, 0, 0)), ErrExists, 0)
}

func TestParseInt(t *testing.T) {
	for _, tc := range []struct {
		in string
		v  int64
		ok bool
	}{
		{"0", 0, true}, {"1", 1, true}, {"-1", -1, true}, {"10", 10, true},
		{"9223372036854775807", math.MaxInt64, true}, {"-9223372036854775808", math.MinInt64, true},
		{"9223372036854775808", 0, false}, {"-9223372036854775809", 0, false},
		{"", 0, false}, {"-", 0, false}, {"-0", 0, false}, {"007", 0, false}, {"+1", 0, false},
		{" 1", 0, false}, {"1 ", 0, false}, {"1a", 0, false}, {"0x1", 0, false}, {"1.0", 0, false},
		{"00", 0, false}, {"123456789012345678901", 0, false},
	} {
		if v, ok := parseInt([]byte(tc.in)); v != tc.v || ok != tc.ok {
			t.Errorf("parseInt(%q) = %d, %v; want %d, %v", tc.in, v, ok, tc.v, tc.ok)
		}
	}
}

func TestIncrBy(t *testing.T) {
	r := newRedisFSM(t)
	if res := r.ok(incr("n", 5)); res.Count != 5 || r.str("n") != "5" || r.ttl("n") != -1 {
		t.Fatalf("INCRBY missing: %+v", res)
	}
	if res := r.ok(incr("n", -7)); res.Count != -2 || r.str("n") != "-2" {
		t.Fatalf("DECRBY: %+v", res)
	}
	r.ok(cSetExpiry("n", Expiry{ExpiryIn, 10 * sec}, 0))
	r.ok(incr("n", 1))
	if r.ttl("n") != 10*sec {
		t.Fatal("INCRBY dropped the deadline")
	}
	r.ok(set("max", "9223372036854775807"))
	wantRes(t, "overflow", r.do(incr("max", 1)), ErrOverflow, 0)
	r.ok(set("min", "-9223372036854775808"))
	wantRes(t, "underflow", r.do(incr("min", -1)), ErrOverflow, 0)
	if res := r.ok(incr("min", math.MaxInt64)); res.Count != -1 {
		t.Fatalf("min + max = %d", res.Count)
	}
	for _, v := range []string{"abc", "", " 1", "1.5", "-0", "01"} {
		r.ok(set("bad", v))
		wantRes(t, "INCRBY "+v, r.do(incr("bad", 1)), ErrNotInteger, 0)
		if r.str("bad") != v {
			t.Fatal("a failed INCRBY wrote")
		}
	}
	r.ok(hset("h", "f", "1"))
	wantRes(t, "INCRBY hash", r.do(incr("h", 1)), ErrWrongType, 0)
}

func TestAppend(t *testing.T) {
	r := newRedisFSM(t)
	wantRes(t, "APPEND new", r.ok(Command{Type: CmdAppend, Append: &Append{Key: "k", Value: []byte("ab")}}), nil, 2)
	r.ok(cSetExpiry("k", Expiry{ExpiryIn, 10 * sec}, 0))
	wantRes(t, "APPEND", r.ok(Command{Type: CmdAppend, Append: &Append{Key: "k", Value: []byte("cde")}}), nil, 5)
	if r.str("k") != "abcde" || r.ttl("k") != 10*sec {
		t.Fatalf("%q ttl %d", r.str("k"), r.ttl("k"))
	}
	r.ok(cSAdd("s", "m"))
	wantRes(t, "APPEND set", r.do(Command{Type: CmdAppend, Append: &Append{Key: "s", Value: []byte("x")}}), ErrWrongType, 0)
	small := &redisFSM{t: t, f: New(smallLimits), now: t0}
	small.ok(Command{Type: CmdAppend, Append: &Append{Key: "k", Value: []byte("12345")}})
	wantRes(t, "APPEND too large", small.do(Command{Type: CmdAppend, Append: &Append{Key: "k", Value: []byte("6789")}}), ErrTooLarge, 0)
}

func TestHashCommands(t *testing.T) {
	r := newRedisFSM(t)
	// HSET creates a plain hash; Count is the fields added.
	wantRes(t, "HSET", r.ok(hset("h", "a", "1", "b", "2")), nil, 2)
	wantRes(t, "HSET again", r.ok(hset("h", "a", "9", "c", "3")), nil, 1)
	h := r.get("h")
	if h.Kind() != KindHash || h.Session() || h.NumFields() != 3 || val(h, "a") != "9" {
		t.Fatalf("hash %+v", h.FieldMap())
	}
	// HSETNX: only a missing field.
	wantRes(t, "HSETNX existing", r.do(Command{Type: CmdHSet, HSet: &HSet{Key: "h", Fields: flds("a", "x"), NX: true}}), nil, 0)
	wantRes(t, "HSETNX new", r.do(Command{Type: CmdHSet, HSet: &HSet{Key: "h", Fields: flds("d", "4"), NX: true}}), nil, 1)
	if val(r.get("h"), "a") != "9" || val(r.get("h"), "d") != "4" {
		t.Fatal("HSETNX")
	}
	// HINCRBY.
	if res := r.ok(Command{Type: CmdHIncrBy, HIncrBy: &HIncrBy{Key: "h", Field: "a", By: -10}}); res.Count != -1 || val(r.get("h"), "a") != "-1" {
		t.Fatalf("HINCRBY: %+v", res)
	}
	if res := r.ok(Command{Type: CmdHIncrBy, HIncrBy: &HIncrBy{Key: "new", Field: "n", By: 3}}); res.Count != 3 || r.get("new").Session() {
		t.Fatalf("HINCRBY new: %+v", res)
	}
	r.ok(hset("h", "s", "x"))
	wantRes(t, "HINCRBY text", r.do(Command{Type: CmdHIncrBy, HIncrBy: &HIncrBy{Key: "h", Field: "s", By: 1}}), ErrNotInteger, 0)
	r.ok(hset("h", "m", "9223372036854775807"))
	wantRes(t, "HINCRBY overflow", r.do(Command{Type: CmdHIncrBy, HIncrBy: &HIncrBy{Key: "h", Field: "m", By: 1}}), ErrOverflow, 0)
	// HDEL: count of fields removed; the last one takes the key along.
	hdel := func(key string, fs ...string) Result {
		return r.do(Command{Type: CmdHDel, HDel: &HDel{Key: key, Fields: fs}})
	}
	wantRes(t, "HDEL", hdel("h", "a", "a", "zz"), nil, 1)
	wantRes(t, "HDEL rest", hdel("h", "b", "c", "d", "s", "m"), nil, 5)
	if r.get("h") != nil {
		t.Fatal("a hash without fields exists")
	}
	wantRes(t, "HDEL missing", hdel("h", "a"), nil, 0)
	if r.f.state.Load().tombs.len() != 0 {
		t.Fatal("a plain hash left a tombstone")
	}
	// Wrong kinds.
	r.ok(set("k", "v"))
	wantRes(t, "HSET string", r.do(hset("k", "a", "1")), ErrWrongType, 0)
	wantRes(t, "HDEL string", hdel("k", "a"), ErrWrongType, 0)
	wantRes(t, "HINCRBY string", r.do(Command{Type: CmdHIncrBy, HIncrBy: &HIncrBy{Key: "k", Field: "a", By: 1}}), ErrWrongType, 0)
	wantRes(t, "SESSION.SET string", r.do(cSet("k", 0, flds("a", "1"))), ErrWrongType, 0)
	// Limits.
	small := &redisFSM{t: t, f: New(smallLimits), now: t0}
	wantRes(t, "HSET too many", small.do(hset("h", "a", "1", "b", "2", "c", "3", "d", "4")), ErrTooLarge, 0)
	small.ok(hset("h", "a", "1", "b", "2", "c", "3"))
	wantRes(t, "HSET one too many", small.do(hset("h", "d", "4")), ErrTooLarge, 0)
}

func TestHashCommandsOnSessions(t *testing.T) {
	r := newRedisFSM(t)
	r.ok(cCreate("sess", "alice", flds("a", "1"), 30*sec, 3600*sec))
	r.now += 5 * sec
	wantRes(t, "HSET session", r.ok(hset("sess", "b", "2")), nil, 1)
	s := r.get("sess")
	if !s.Session() || s.Subject() != "alice" || s.IdleTimeout != 30*sec || s.AbsDeadline != t0+3600*sec || s.LastAccess != r.now || val(s, "b") != "2" {
		t.Fatalf("session after HSET: %+v", s)
	}
	if got := r.f.BySubject("alice", r.now); len(got) != 1 || got[0] != s {
		t.Fatal("subject index lost the session")
	}
	// HGETALL reads the same fields SESSION.GET does.
	if m := s.FieldMap(); len(m) != 2 || string(m["a"]) != "1" {
		t.Fatalf("fields %v", m)
	}
	// SESSION.UNSET of every field keeps a session; HDEL of the last
	// field removes it, with its tombstone.
	r.ok(cSet("sess", 0, nil, "a", "b"))
	if s := r.get("sess"); s == nil || s.NumFields() != 0 {
		t.Fatal("a session without fields went")
	}
	r.ok(hset("sess", "a", "1"))
	r.ok(Command{Type: CmdHDel, HDel: &HDel{Key: "sess", Fields: []string{"a"}}})
	if r.get("sess") != nil {
		t.Fatal("HDEL of the last field kept the session")
	}
	wantRes(t, "create after HDEL", r.do(cCreate("sess", "", nil, 0, 0)), ErrExists, 0)
	// Redis writes ignore the tombstone, as SET after DEL works in Redis.
	r.ok(hset("sess", "x", "y"))
	if s := r.get("sess"); s.Session() || s.Subject() != "" {
		t.Fatal("HSET on a tombstoned id made a session")
	}
}

func TestSetCommands(t *testing.T) {
	r := newRedisFSM(t)
	wantRes(t, "SADD", r.ok(cSAdd("s", "b", "a", "b", "c")), nil, 3)
	wantRes(t, "SADD again", r.ok(cSAdd("s", "a", "d")), nil, 1)
	v := r.get("s").Version
	wantRes(t, "SADD nothing new", r.ok(cSAdd("s", "a")), nil, 0)
	s := r.get("s")
	if s.Version != v || s.Kind() != KindSet || s.NumMembers() != 4 || !slices.Equal(slices.Collect(s.Members()), []string{"a", "b", "c", "d"}) {
		t.Fatalf("set %v", slices.Collect(s.Members()))
	}
	if !s.IsMember("c") || s.IsMember("e") || s.IsMember("") || s.Size() != 1+4 {
		t.Fatal("IsMember or Size")
	}
	srem := func(ms ...string) Result { return r.do(Command{Type: CmdSRem, SRem: &SRem{Key: "s", Members: ms}}) }
	wantRes(t, "SREM", srem("a", "x", "a"), nil, 1)
	wantRes(t, "SREM rest", srem("b", "c", "d"), nil, 3)
	if r.get("s") != nil {
		t.Fatal("an empty set exists")
	}
	wantRes(t, "SREM missing", srem("a"), nil, 0)
	r.ok(set("k", "v"))
	wantRes(t, "SADD string", r.do(cSAdd("k", "a")), ErrWrongType, 0)
	wantRes(t, "SREM string", r.do(Command{Type: CmdSRem, SRem: &SRem{Key: "k", Members: []string{"a"}}}), ErrWrongType, 0)
	wantRes(t, "SADD no members", r.do(cSAdd("s")), ErrInvalid, 0)
	// Binary members, and members that are prefixes of each other.
	r.ok(cSAdd("b", "\x00", "", "ab", "a", "\xff"))
	if got := slices.Collect(r.get("b").Members()); !slices.Equal(got, []string{"", "\x00", "a", "ab", "\xff"}) {
		t.Fatalf("members %q", got)
	}
}

func TestDelAndTombstones(t *testing.T) {
	r := newRedisFSM(t)
	r.ok(cCreate("sess", "u", nil, 0, 0))
	r.ok(set("k", "v"))
	r.ok(cSAdd("s", "m"))
	wantRes(t, "DEL", r.ok(cDestroy("sess", "k", "k", "missing", "s")), nil, 3)
	if r.f.Len() != 0 {
		t.Fatal("DEL left records")
	}
	// Only the session left a tombstone.
	if n := r.f.state.Load().tombs.len(); n != 1 {
		t.Fatalf("%d tombstones, want 1", n)
	}
	wantRes(t, "create a deleted key", r.do(cCreate("k", "", nil, 0, 0)), nil, 0)
	wantRes(t, "create a deleted session", r.do(cCreate("sess", "", nil, 0, 0)), ErrExists, 0)
	// SET recreates the deleted session's id as Redis lets it; deleting
	// it again leaves the old tombstone in force.
	r.ok(set("sess", "v"))
	r.ok(cDestroy("sess"))
	wantRes(t, "create after SET and DEL", r.do(cCreate("sess", "", nil, 0, 0)), ErrExists, 0)
	r.ok(set("sess", "v2"))
	// The coexisting record and tombstone survive a snapshot.
	g := New(Limits{DedupWindow: 60 * sec})
	if err := g.Restore(strings.NewReader(string(snapshotBytes(t, r.f)))); err != nil {
		t.Fatal(err)
	}
	if g.Hash() != r.f.Hash() {
		t.Fatal("restored state differs")
	}
	// Past the window the id is free for Create again.
	r.ok(cDestroy("sess"))
	r.now += 61 * sec
	r.ok(cCreate("sess", "", nil, 0, 0))
}

func TestRename(t *testing.T) {
	r := newRedisFSM(t)
	rename := func(a, b string, nx bool) Result {
		return r.do(Command{Type: CmdRename, Rename: &Rename{Key: a, NewKey: b, NX: nx}})
	}
	wantRes(t, "RENAME missing", rename("a", "b", false), ErrNotFound, 0)
	r.ok(setEx("a", "1", 10*sec))
	r.ok(cSAdd("b", "m"))
	wantRes(t, "RENAMENX onto existing", rename("a", "b", true), nil, 0)
	wantRes(t, "RENAME onto existing", rename("a", "b", false), nil, 1)
	if r.get("a") != nil || r.str("b") != "1" || r.ttl("b") != 10*sec || r.get("b").Version != r.idx {
		t.Fatalf("after RENAME: %+v", r.get("b"))
	}
	wantRes(t, "RENAME same", rename("b", "b", false), nil, 1)
	wantRes(t, "RENAMENX same", rename("b", "b", true), nil, 0)
	// A session moves with its subject; its old id leaves a tombstone,
	// and a tombstone on the new key does not stop RENAME.
	r.ok(cCreate("s1", "u", flds("a", "1"), 0, 0))
	r.ok(cCreate("s2", "u", nil, 0, 0))
	r.ok(cDestroy("s2"))
	wantRes(t, "RENAME session onto tombstone", rename("s1", "s2", false), nil, 1)
	if s := r.get("s2"); s == nil || !s.Session() || s.Subject() != "u" || val(s, "a") != "1" {
		t.Fatalf("moved session %+v", s)
	}
	if got := ids(r.f.BySubject("u", r.now)); !slices.Equal(got, []string{"s2"}) {
		t.Fatalf("subject index %v", got)
	}
	wantRes(t, "create old id", r.do(cCreate("s1", "", nil, 0, 0)), ErrExists, 0)
}

func TestFlush(t *testing.T) {
	r := newRedisFSM(t)
	r.ok(cCreate("sess", "u", nil, 0, 10*sec))
	r.ok(set("k", "v"))
	r.ok(cSAdd("s", "m"))
	wantRes(t, "FLUSHDB", r.ok(Command{Type: CmdFlush, Flush: &Flush{}}), nil, 3)
	if r.f.Len() != 0 || r.get("k") != nil || len(r.f.BySubject("u", r.now)) != 0 || len(r.f.Expired(r.now+20*sec, 10)) != 0 {
		t.Fatal("FLUSHDB left something")
	}
	if next, keys := r.f.Scan(0, ScanOptions{Count: 100}, r.now); next != 0 || len(keys) != 0 {
		t.Fatal("SCAN after FLUSHDB")
	}
	r.ok(set("k", "v2"))
	r.ok(cCreate("sess", "u", nil, 0, 0)) // no tombstone
	if r.f.Len() != 2 {
		t.Fatal("writes after FLUSHDB")
	}
}

func TestTxn(t *testing.T) {
	r := newRedisFSM(t)
	r.ok(set("a", "1"))
	r.ok(hset("h", "f", "v"))
	va := r.get("a").Version
	txn := func(w []Watch, cs ...Command) Result {
		return r.ok(Command{Type: CmdTxn, Txn: &Txn{Watch: w, Cmds: cs}})
	}
	// Commands apply in order, each with its own result; a failing one
	// undoes nothing.
	res := txn([]Watch{{"a", va}, {"nope", 0}}, incr("a", 1), incr("h", 1), incr("a", 10), cSetStr("b", "x", 0, true, Expiry{}))
	if res.Txn == nil || res.Txn.Aborted || len(res.Txn.Results) != 4 || res.Txn.Results[0].Count != 2 || !errors.Is(res.Txn.Results[1].Err, ErrWrongType) ||
		res.Txn.Results[2].Count != 12 || res.Txn.Results[3].Record != nil || r.str("b") != "x" {
		t.Fatalf("EXEC: %+v", res)
	}
	if r.get("a").Version != r.idx || r.get("b").Version != r.idx {
		t.Fatal("writes in a transaction take its index as version")
	}
	// WATCH: a changed version, a key that appeared, a key that went, a
	// key that expired: nothing applies.
	r.ok(setEx("e", "v", sec))
	ve := r.get("e").Version
	for name, w := range map[string]Watch{
		"changed":  {"a", va},
		"appeared": {"b", 0},
		"removed":  {"nope", 7},
	} {
		res := txn([]Watch{w}, set("a", "zzz"))
		if !res.Txn.Aborted || res.Txn.Results != nil || r.str("a") != "12" {
			t.Fatalf("%s: %+v", name, res)
		}
	}
	r.now += 2 * sec
	if res := txn([]Watch{{"e", ve}}, set("a", "zzz")); !res.Txn.Aborted {
		t.Fatal("an expired watched key did not abort")
	}
	// Nesting and request ids inside are refused.
	nested := Command{Type: CmdTxn, Txn: &Txn{Cmds: []Command{{Type: CmdTxn, Txn: &Txn{}}}}}
	wantRes(t, "nested", r.do(nested), ErrInvalid, 0)
	wantRes(t, "reqid inside", r.do(Command{Type: CmdTxn, Txn: &Txn{Cmds: []Command{withReq(set("a", "1"), "r")}}}), ErrInvalid, 0)
	if _, err := DecodeCommand(AppendCommand(nil, &nested)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("nested transaction decodes: %v", err)
	}
	// Session commands inside, a revoke among them (it locks every
	// shard: the create before it adds to the subject's records).
	res = txn(nil, cCreate("s1", "u", flds("k", "v"), 0, 0), cCreate("s2", "u", nil, 0, 0), cRevoke("u", "s2"))
	if res.Txn.Results[2].Count != 1 || r.get("s1") != nil || r.get("s2") == nil {
		t.Fatalf("revoke in a transaction: %+v", res)
	}
}

func TestEvents(t *testing.T) {
	r := newRedisFSM(t)
	var got []string
	var idx uint64
	r.f.SetNotify(func(index uint64, events []Event) {
		idx = index
		if r.f.AppliedIndex() != index {
			t.Errorf("notified of %d while applied is %d", index, r.f.AppliedIndex())
		}
		for _, e := range events {
			got = append(got, strconv.Itoa(e.Cmd)+":"+e.Type.String()+":"+e.Key+":"+string(e.Type.Class()))
		}
	})
	r.ok(setEx("x", "v", sec)) // expires below
	r.idx++
	r.f.ApplyDecoded(r.idx, &Batch{Time: r.now, Cmds: []Command{
		setEx("k", "v", 10*sec),
		incr("n", 1),
		{Type: CmdAppend, Append: &Append{Key: "k", Value: []byte("w")}},
		hset("h", "f", "v"),
		{Type: CmdHDel, HDel: &HDel{Key: "h", Fields: []string{"f"}}},
		cSAdd("s", "m"),
		{Type: CmdSRem, SRem: &SRem{Key: "s", Members: []string{"m"}}},
		cSetExpiry("k", Expiry{ExpiryIn, 20 * sec}, 0),
		cSetExpiry("k", Expiry{}, 0),
		{Type: CmdRename, Rename: &Rename{Key: "k", NewKey: "k2"}},
		cDestroy("k2", "missing"),
		{Type: CmdHIncrBy, HIncrBy: &HIncrBy{Key: "h", Field: "f", By: 1}},
		{Type: CmdTxn, Txn: &Txn{Cmds: []Command{set("t", "1"), cDestroy("t")}}},
		{Type: CmdFlush, Flush: &Flush{}},
		cCreate("sess", "u", nil, 0, 0),
		cRotate("sess", "sess2", 0),
	}})
	want := []string{
		"0:set:x:$", "0:expire:x:g",
		"0:set:k:$", "0:expire:k:g", "1:incrby:n:$", "2:append:k:$", "3:hset:h:h", "4:hdel:h:h", "4:del:h:g",
		"5:sadd:s:s", "6:srem:s:s", "6:del:s:g", "7:expire:k:g", "8:persist:k:g",
		"9:rename_from:k:g", "9:rename_to:k2:g", "10:del:k2:g", "11:hincrby:h:h", "12:set:t:$", "12:del:t:g",
		"13:flushdb::g", "14:hset:sess:h", "15:rename_from:sess:g", "15:rename_to:sess2:g",
	}
	if idx != r.idx {
		t.Fatalf("notified of %d", idx)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events\n got %q\nwant %q", got, want)
	}
	// A record found expired is reported "expired"; none without Notify.
	r.ok(setEx("x", "v", sec))
	got = nil
	r.now += 2 * sec
	r.ok(set("x", "again"))
	if !slices.Equal(got, []string{"0:expired:x:x", "0:set:x:$"}) {
		t.Fatalf("lazy expiry: %q", got)
	}
	r.f.SetNotify(nil)
	got = nil
	r.ok(set("x", "again"))
	if got != nil || len(r.f.evlog.events) != 0 {
		t.Fatal("events without a listener")
	}
	for e := EventSet; e <= EventFlush; e++ {
		if e.String() == "unknown" {
			t.Errorf("event %d has no name", e)
		}
	}
}
