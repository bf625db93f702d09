package fsm

import (
	"math"
	"slices"
	"testing"
)

type want struct {
	err     error
	version uint64
	count   int
	// id is the expected Result.ID. Empty means: the command's own id
	// for a successful create (Create.ID) or rotate (Rotate.NewID), and
	// "" for anything else; set it where a dedup replay must answer with
	// the original command's id instead.
	id string
}

type step struct {
	index uint64
	at    int64
	cmds  []Command
	want  []want
}

func one(index uint64, at int64, c Command, w want) step {
	return step{index: index, at: at, cmds: []Command{c}, want: []want{w}}
}

type applyCase struct {
	name   string
	limits Limits
	steps  []step
	check  func(t *testing.T, f *FSM)
	// decodedOnly marks commands that cannot survive encoding (unknown
	// types, nil payloads), so the case runs through ApplyDecoded only.
	decodedOnly bool
}

// base creates s1 (subject u1, field a=1, idle 30s, ttl 1h) at index 1.
var base = one(1, t0, cCreate("s1", "u1", flds("a", "1"), 30*sec, 3600*sec), want{version: 1})

func TestApply(t *testing.T) {
	tooLarge := want{err: ErrTooLarge}
	cases := []applyCase{
		// Create
		{name: "create", steps: []step{base}, check: func(t *testing.T, f *FSM) {
			r := mustGet(t, f, "s1", t0)
			want := mkRecord("s1", "u1", encFields(fl("a", "1")), Record{Version: 1, Created: t0, LastAccess: t0, IdleTimeout: 30 * sec, AbsDeadline: t0 + 3600*sec})
			if !sameRecord(r, want) {
				t.Errorf("got %+v, want %+v", r, want)
			}
			if f.Len() != 1 || f.AppliedIndex() != 1 || f.Clock() != t0 {
				t.Errorf("len %d applied %d clock %d", f.Len(), f.AppliedIndex(), f.Clock())
			}
		}},
		{name: "create without deadlines lives forever",
			steps: []step{one(1, t0, cCreate("s1", "", nil, 0, 0), want{version: 1})},
			check: func(t *testing.T, f *FSM) {
				r := mustGet(t, f, "s1", math.MaxInt64)
				if r.Deadline() != 0 || r.NumFields() != 0 {
					t.Errorf("deadline %d fields %v", r.Deadline(), r.FieldMap())
				}
			}},
		{name: "create existing id", steps: []step{base,
			one(2, t0+sec, cCreate("s1", "u2", nil, 0, 0), want{err: ErrExists})},
			check: func(t *testing.T, f *FSM) {
				if r := mustGet(t, f, "s1", t0+sec); r.Subject() != "u1" || r.Version != 1 {
					t.Errorf("record changed: %s", dump(r))
				}
			}},
		// s1 expired at t0+30s; the create removes it at t0+31s, which
		// leaves a tombstone until t0+31s+DedupWindow (10 minutes).
		{name: "create over expired id waits for its tombstone", steps: []step{base,
			one(2, t0+31*sec, cCreate("s1", "u2", nil, 0, 0), want{err: ErrExists}),
			one(3, t0+631*sec-1, cCreate("s1", "u2", nil, 0, 0), want{err: ErrExists}),
			one(4, t0+631*sec, cCreate("s1", "u2", nil, 0, 0), want{version: 4})},
			check: func(t *testing.T, f *FSM) {
				r := mustGet(t, f, "s1", t0+631*sec)
				if r.Subject() != "u2" || r.NumFields() != 0 || r.Created != t0+631*sec {
					t.Errorf("got %s", dump(r))
				}
				if got := f.BySubject("u1", t0); len(got) != 0 {
					t.Errorf("old subject still indexed: %v", ids(got))
				}
				if f.Len() != 1 {
					t.Errorf("len %d", f.Len())
				}
			}},
		{name: "create empty id", steps: []step{one(1, t0, cCreate("", "", nil, 0, 0), want{err: ErrInvalid})}},
		{name: "create negative idle", steps: []step{one(1, t0, cCreate("s1", "", nil, -1, 0), want{err: ErrInvalid})}},
		{name: "create negative ttl", steps: []step{one(1, t0, cCreate("s1", "", nil, 0, -1), want{err: ErrInvalid})}},
		{name: "create ttl overflow", steps: []step{one(1, t0, cCreate("s1", "", nil, 0, math.MaxInt64), want{err: ErrInvalid})}},
		{name: "create idle overflow", steps: []step{one(1, t0, cCreate("s1", "", nil, math.MaxInt64-t0+1, 0), want{err: ErrInvalid})}},
		{name: "create too large", limits: smallLimits, steps: []step{
			one(1, t0, cCreate("123456789", "", nil, 0, 0), tooLarge),                                                  // id
			one(2, t0, cCreate("s1", "123456789", nil, 0, 0), tooLarge),                                                // subject
			one(3, t0, cCreate("s1", "", flds("a", "", "b", "", "c", "", "d", ""), 0, 0), tooLarge),                    // fields
			one(4, t0, cCreate("s1", "", flds("abcde", ""), 0, 0), tooLarge),                                           // field name
			one(5, t0, cCreate("s1", "", flds("a", "123456789"), 0, 0), tooLarge),                                      // value
			one(6, t0, cCreate("s1", "subj", flds("a", "12345678", "b", "12345678", "c", "12345678"), 0, 0), tooLarge), // record
			one(7, t0, withReq(cCreate("s1", "", nil, 0, 0), "12345"), tooLarge),                                       // req id
			one(8, t0, cCreate("12345678", "subj", flds("a", "12345678", "b", "1234567"), 0, 0), want{version: 8}),     // exactly at the limits
		}, check: func(t *testing.T, f *FSM) {
			if f.Len() != 1 {
				t.Errorf("len %d, want 1", f.Len())
			}
		}},

		// Set
		{name: "set", steps: []step{base,
			one(2, t0+5*sec, cSet("s1", 0, flds("b", "2", "c", "3"), "a", "zz"), want{version: 2})},
			check: func(t *testing.T, f *FSM) {
				r := mustGet(t, f, "s1", t0+5*sec)
				want := mkRecord("s1", "u1", encFields(fl("b", "2", "c", "3")), Record{Version: 2, Created: t0, LastAccess: t0 + 5*sec, IdleTimeout: 30 * sec, AbsDeadline: t0 + 3600*sec})
				if !sameRecord(r, want) {
					t.Errorf("got %+v, want %+v", r, want)
				}
			}},
		{name: "set unsets after setting", steps: []step{base,
			one(2, t0, cSet("s1", 0, flds("b", "2"), "b"), want{version: 2})},
			check: func(t *testing.T, f *FSM) {
				if r := mustGet(t, f, "s1", t0); r.NumFields() != 1 {
					t.Errorf("fields %v", r.FieldMap())
				}
			}},
		{name: "set not found", steps: []step{one(1, t0, cSet("s1", 0, flds("a", "1")), want{err: ErrNotFound})}},
		{name: "set expired", steps: []step{base,
			one(2, t0+30*sec, cSet("s1", 0, flds("a", "2")), want{err: ErrNotFound})},
			check: func(t *testing.T, f *FSM) {
				if f.Len() != 0 {
					t.Errorf("expired record not removed on the spot: len %d", f.Len())
				}
			}},
		{name: "set if version", steps: []step{base,
			one(2, t0, cSet("s1", 1, flds("a", "2")), want{version: 2}),
			one(3, t0, cSet("s1", 1, flds("a", "3")), want{err: ErrConflict}),
			one(4, t0, cSet("s1", 2, flds("a", "4")), want{version: 4}),
		}, check: func(t *testing.T, f *FSM) {
			if r := mustGet(t, f, "s1", t0); val(r, "a") != "4" {
				t.Errorf("a = %q", val(r, "a"))
			}
		}},
		{name: "set too large leaves record unchanged", limits: smallLimits, steps: []step{
			one(1, t0, cCreate("s1", "", flds("a", "1", "b", "2"), 0, 0), want{version: 1}),
			one(2, t0, cSet("s1", 0, flds("c", "3", "d", "4")), tooLarge),                                                   // field count
			one(3, t0, cSet("s1", 0, flds("c", "123456789")), tooLarge),                                                     // value
			one(4, t0, cSet("s1", 0, flds("abcde", "1")), tooLarge),                                                         // name
			one(5, t0, cSet("s1", 0, flds("aaaa", "12345678", "bbbb", "12345678", "cccc", "12345678"), "a", "b"), tooLarge), // record
			one(6, t0, cSet("s1", 0, flds("c", "3", "d", "4"), "a"), want{version: 6}),                                      // unset makes room
		}, check: func(t *testing.T, f *FSM) {
			r := mustGet(t, f, "s1", t0)
			if !sameRecord(r, mkRecord("s1", "", encFields(fl("b", "2", "c", "3", "d", "4")), Record{Version: 6, Created: t0, LastAccess: t0})) {
				t.Errorf("got %s", dump(r))
			}
		}},
		{name: "set empty id", steps: []step{one(1, t0, cSet("", 0, nil), want{err: ErrInvalid})}},
		{name: "set with ttl moves the absolute deadline, both ways", steps: []step{base,
			one(2, t0+10*sec, Command{Type: CmdSet, Set: &Set{ID: "s1", AbsTTL: 7200 * sec}}, want{version: 2}),
		}, check: func(t *testing.T, f *FSM) {
			if r := mustGet(t, f, "s1", t0+10*sec); r.AbsDeadline != t0+7210*sec {
				t.Errorf("deadline %d, want %d", r.AbsDeadline, t0+7210*sec)
			}
		}},
		{name: "set with shorter ttl expires earlier", steps: []step{base,
			one(2, t0, Command{Type: CmdSet, Set: &Set{ID: "s1", AbsTTL: 5 * sec}}, want{version: 2}),
			one(3, t0+6*sec, cSet("s1", 0, flds("a", "2")), want{err: ErrNotFound}),
		}},
		{name: "set negative ttl", steps: []step{base,
			one(2, t0, Command{Type: CmdSet, Set: &Set{ID: "s1", AbsTTL: -1}}, want{err: ErrInvalid})}},
		{name: "set ttl overflow", steps: []step{base,
			one(2, t0, Command{Type: CmdSet, Set: &Set{ID: "s1", AbsTTL: math.MaxInt64}}, want{err: ErrInvalid})}},

		// Versions
		{name: "version is the raft index of the last change", steps: []step{
			one(5, t0, cCreate("s1", "", nil, 0, 0), want{version: 5}),
			one(9, t0, cSet("s1", 0, flds("a", "1")), want{version: 9}),
			one(10, t0, cTouch([]string{"s1"}, []int64{t0}), want{count: 1}),
			one(11, t0, cRotate("s1", "s2", 9), want{version: 11}),
			one(12, t0, cTouch([]string{"s2"}, []int64{t0}), want{count: 1}),
		}, check: func(t *testing.T, f *FSM) {
			if r := mustGet(t, f, "s2", t0); r.Version != 11 {
				t.Errorf("version %d, want 11 (touch must not bump it)", r.Version)
			}
		}},

		// Touch
		{name: "touch moves last access forward, clamped to log time", steps: []step{base,
			one(2, t0+10*sec, cTouch([]string{"s1"}, []int64{t0 + 5*sec}), want{count: 1}),
			one(3, t0+10*sec, cTouch([]string{"s1"}, []int64{t0 + 2*sec}), want{count: 1}),   // older: no effect
			one(4, t0+10*sec, cTouch([]string{"s1"}, []int64{t0 + 500*sec}), want{count: 1}), // future: clamped
		}, check: func(t *testing.T, f *FSM) {
			r := mustGet(t, f, "s1", t0+10*sec)
			if r.LastAccess != t0+10*sec || r.Version != 1 {
				t.Errorf("last access %d version %d", r.LastAccess-t0, r.Version)
			}
			if r.Deadline() != t0+40*sec {
				t.Errorf("deadline %d", r.Deadline()-t0)
			}
		}},
		{name: "touch never revives", steps: []step{base,
			one(2, t0+31*sec, cTouch([]string{"s1"}, []int64{t0 + 29*sec}), want{count: 0}),
		}, check: func(t *testing.T, f *FSM) {
			mustGone(t, f, "s1", t0+31*sec)
			if f.Len() != 0 {
				t.Errorf("len %d", f.Len())
			}
		}},
		{name: "touch never extends beyond the absolute deadline", steps: []step{
			one(1, t0, cCreate("s1", "", nil, 10*sec, 15*sec), want{version: 1}),
			one(2, t0+9*sec, cTouch([]string{"s1"}, []int64{t0 + 9*sec}), want{count: 1}),
			one(3, t0+14*sec, cTouch([]string{"s1"}, []int64{t0 + 14*sec}), want{count: 1}),
		}, check: func(t *testing.T, f *FSM) {
			mustGet(t, f, "s1", t0+15*sec-1)
			mustGone(t, f, "s1", t0+15*sec)
		}},
		{name: "touch counts live ids", steps: []step{base,
			one(2, t0, cCreate("s2", "", nil, 10*sec, 0), want{version: 2}),
			one(3, t0+20*sec, cTouch([]string{"s1", "nope", "s2", "s1"}, []int64{t0, t0, t0, t0 + 20*sec}), want{count: 2}),
		}},
		{name: "touch length mismatch", steps: []step{base,
			one(2, t0, cTouch([]string{"s1"}, nil), want{err: ErrInvalid})}},

		// Destroy
		{name: "destroy", steps: []step{base,
			one(2, t0, cCreate("s2", "", nil, 10*sec, 0), want{version: 2}),
			one(3, t0, cCreate("s3", "", nil, 0, 0), want{version: 3}),
			one(4, t0+10*sec, cDestroy("s1", "s2", "nope", "s1"), want{count: 1}), // s2 expired: not counted
		}, check: func(t *testing.T, f *FSM) {
			mustGone(t, f, "s1", t0)
			mustGet(t, f, "s3", t0)
			if f.Len() != 1 {
				t.Errorf("len %d", f.Len())
			}
		}},

		// Rotate
		{name: "rotate", steps: []step{base,
			one(2, t0+5*sec, cTouch([]string{"s1"}, []int64{t0 + 5*sec}), want{count: 1}),
			one(3, t0+6*sec, cRotate("s1", "s9", 0), want{version: 3}),
		}, check: func(t *testing.T, f *FSM) {
			mustGone(t, f, "s1", t0+6*sec)
			r := mustGet(t, f, "s9", t0+6*sec)
			want := mkRecord("s9", "u1", encFields(fl("a", "1")), Record{Version: 3, Created: t0, LastAccess: t0 + 5*sec, IdleTimeout: 30 * sec, AbsDeadline: t0 + 3600*sec})
			if !sameRecord(r, want) {
				t.Errorf("got %+v, want %+v", r, want)
			}
			if got := ids(f.BySubject("u1", t0)); !slices.Equal(got, []string{"s9"}) {
				t.Errorf("by subject %v", got)
			}
			if f.Len() != 1 {
				t.Errorf("len %d", f.Len())
			}
		}},
		{name: "rotate not found", steps: []step{one(1, t0, cRotate("s1", "s2", 0), want{err: ErrNotFound})}},
		{name: "rotate expired", steps: []step{base, one(2, t0+30*sec, cRotate("s1", "s2", 0), want{err: ErrNotFound})},
			check: func(t *testing.T, f *FSM) { mustGone(t, f, "s2", t0) }},
		{name: "rotate conflict", steps: []step{base, one(2, t0, cRotate("s1", "s2", 7), want{err: ErrConflict})},
			check: func(t *testing.T, f *FSM) { mustGet(t, f, "s1", t0); mustGone(t, f, "s2", t0) }},
		{name: "rotate onto live id", steps: []step{base,
			one(2, t0, cCreate("s2", "", nil, 0, 0), want{version: 2}),
			one(3, t0, cRotate("s1", "s2", 1), want{err: ErrExists})},
			check: func(t *testing.T, f *FSM) {
				mustGet(t, f, "s1", t0)
				if r := mustGet(t, f, "s2", t0); r.Subject() != "" {
					t.Errorf("s2 overwritten: %s", dump(r))
				}
			}},
		{name: "rotate onto expired id", steps: []step{base,
			one(2, t0, cCreate("s2", "u2", nil, 0, sec), want{version: 2}),
			one(3, t0+sec, cRotate("s1", "s2", 1), want{err: ErrExists})},
			check: func(t *testing.T, f *FSM) {
				mustGet(t, f, "s1", t0+sec)
				mustGone(t, f, "s2", t0+sec)
				if f.Len() != 1 || len(f.BySubject("u2", 0)) != 0 {
					t.Errorf("len %d, u2 %v", f.Len(), ids(f.BySubject("u2", 0)))
				}
			}},
		{name: "rotate bad ids", limits: smallLimits, steps: []step{
			one(1, t0, cCreate("s1", "subjsubj", flds("a", "12345678", "b", "1234567"), 0, 0), want{version: 1}), // size 27
			one(2, t0, cRotate("s1", "s1", 0), want{err: ErrInvalid}),
			one(3, t0, cRotate("s1", "", 0), want{err: ErrInvalid}),
			one(4, t0, cRotate("", "s2", 0), want{err: ErrInvalid}),
			one(5, t0, cRotate("s1", "123456789", 0), tooLarge),
			one(6, t0, cRotate("s1", "12345678", 0), tooLarge), // record size 27 → 33
			one(7, t0, cRotate("s1", "s2345678", 0), tooLarge),
			one(8, t0, cRotate("s1", "s2", 0), want{version: 8}),
		}},

		// Revoke
		{name: "revoke", steps: []step{base,
			one(2, t0, cCreate("s2", "u1", nil, 0, 0), want{version: 2}),
			one(3, t0, cCreate("s3", "u1", nil, 0, 0), want{version: 3}),
			one(4, t0, cCreate("s4", "u1", nil, 0, 5*sec), want{version: 4}),
			one(5, t0, cCreate("x1", "u2", nil, 0, 0), want{version: 5}),
			one(6, t0+5*sec, cRevoke("u1", "s2"), want{count: 2}), // s1, s3; s4 expired
		}, check: func(t *testing.T, f *FSM) {
			if got := ids(f.BySubject("u1", t0)); !slices.Equal(got, []string{"s2"}) {
				t.Errorf("u1 = %v", got)
			}
			if got := ids(f.BySubject("u2", t0)); !slices.Equal(got, []string{"x1"}) {
				t.Errorf("u2 = %v", got)
			}
			if f.Len() != 2 {
				t.Errorf("len %d", f.Len())
			}
		}},
		{name: "revoke all", steps: []step{base,
			one(2, t0, cCreate("s2", "u1", nil, 0, 0), want{version: 2}),
			one(3, t0, cRevoke("u1", ""), want{count: 2}),
			one(4, t0, cRevoke("u1", ""), want{count: 0}),
		}},
		{name: "revoke without subject", steps: []step{
			one(1, t0, cCreate("s1", "", nil, 0, 0), want{version: 1}),
			one(2, t0, cRevoke("", ""), want{err: ErrInvalid}),
		}},

		// Expire
		{name: "expire removes only records expired at the log time", steps: []step{base,
			one(2, t0, cCreate("s2", "", nil, 0, 0), want{version: 2}),
			one(3, t0+29*sec, cExpire("s1", "s2", "nope"), want{count: 0}),
			one(4, t0+30*sec, cExpire("s1", "s2", "nope"), want{count: 1}),
		}, check: func(t *testing.T, f *FSM) {
			mustGet(t, f, "s2", t0)
			if f.Len() != 1 {
				t.Errorf("len %d", f.Len())
			}
		}},
		{name: "expire goes by the log clock, not the batch time", steps: []step{base,
			one(2, t0+40*sec, cCreate("s2", "", nil, 0, 0), want{version: 2}),
			one(3, t0, cExpire("s1"), want{count: 1}),
		}},

		// Clock
		{name: "log clock never goes backwards", steps: []step{
			one(1, t0+100*sec, cCreate("s1", "", nil, 0, 0), want{version: 1}),
			one(2, t0+50*sec, cCreate("s2", "", nil, 10*sec, 0), want{version: 2}),
		}, check: func(t *testing.T, f *FSM) {
			if f.Clock() != t0+100*sec {
				t.Errorf("clock %d", f.Clock()-t0)
			}
			if r := mustGet(t, f, "s2", 0); r.Created != t0+100*sec || r.Deadline() != t0+110*sec {
				t.Errorf("created %d deadline %d", r.Created-t0, r.Deadline()-t0)
			}
		}},

		// Dedup
		{name: "dedup replays create", steps: []step{
			one(1, t0, withReq(cCreate("s1", "", nil, 0, 0), "r1"), want{version: 1}),
			one(2, t0+sec, withReq(cCreate("s1", "", nil, 0, 0), "r1"), want{version: 1}),
			one(3, t0+sec, cCreate("s1", "", nil, 0, 0), want{err: ErrExists}),
		}},
		{name: "dedup replays set without reapplying", steps: []step{base,
			one(2, t0, withReq(cSet("s1", 0, flds("n", "x")), "r1"), want{version: 2}),
			one(3, t0, cSet("s1", 0, nil, "n"), want{version: 3}),
			one(4, t0, withReq(cSet("s1", 0, flds("n", "x")), "r1"), want{version: 2}),
		}, check: func(t *testing.T, f *FSM) {
			if r := mustGet(t, f, "s1", t0); r.Version != 3 || r.NumFields() != 1 {
				t.Errorf("replay re-applied: %s", dump(r))
			}
		}},
		{name: "dedup replays errors and counts", steps: []step{
			one(1, t0, withReq(cSet("s1", 0, nil), "r1"), want{err: ErrNotFound}),
			one(2, t0, cCreate("s1", "u", nil, 0, 0), want{version: 2}),
			one(3, t0, withReq(cSet("s1", 0, nil), "r1"), want{err: ErrNotFound}),
			one(4, t0, withReq(cRevoke("u", ""), "r2"), want{count: 1}),
			one(5, t0, cCreate("s2", "u", nil, 0, 0), want{version: 5}),
			one(6, t0, withReq(cRevoke("u", ""), "r2"), want{count: 1}),
		}, check: func(t *testing.T, f *FSM) { mustGet(t, f, "s2", t0) }},
		{name: "dedup within one batch", steps: []step{{index: 1, at: t0,
			cmds: []Command{withReq(cCreate("s1", "", nil, 0, 0), "r1"), withReq(cCreate("s1", "", nil, 0, 0), "r1")},
			want: []want{{version: 1}, {version: 1}}}}},
		{name: "dedup remembers for exactly the window", steps: []step{base,
			one(2, t0, withReq(cSet("s1", 0, nil), "r1"), want{version: 2}),
			one(3, t0+10*60*sec, withReq(cSet("s1", 0, nil), "r1"), want{version: 2}),         // s1 expired, but r1 remembered
			one(4, t0+10*60*sec+1, withReq(cSet("s1", 0, nil), "r1"), want{err: ErrNotFound}), // applied afresh
		}},
		{name: "dedup replay of a create returns the original id", steps: []step{
			one(1, t0, withReq(cCreate("s1", "u", nil, 0, 0), "r1"), want{version: 1}),
			// A node retrying with a fresh random id gets the first one.
			one(2, t0+sec, withReq(cCreate("s2", "u", nil, 0, 0), "r1"), want{version: 1, id: "s1"}),
			one(3, t0+sec, cDestroy("s1"), want{count: 1}),
			one(4, t0+2*sec, withReq(cCreate("s1", "u", nil, 0, 0), "r1"), want{version: 1, id: "s1"}),
		}, check: func(t *testing.T, f *FSM) {
			mustGone(t, f, "s1", t0+2*sec)
			mustGone(t, f, "s2", t0+2*sec)
		}},
		{name: "dedup replay of a rotate returns the original id", steps: []step{base,
			one(2, t0, withReq(cRotate("s1", "s2", 0), "r1"), want{version: 2}),
			one(3, t0+sec, withReq(cRotate("s1", "s3", 0), "r1"), want{version: 2, id: "s2"}),
			one(4, t0+sec, withReq(cRotate("s2", "s4", 0), "r2"), want{version: 4}),
			one(5, t0+2*sec, withReq(cRotate("s2", "s5", 0), "r2"), want{version: 4, id: "s4"}),
		}, check: func(t *testing.T, f *FSM) {
			mustGet(t, f, "s4", t0+2*sec)
			for _, id := range []string{"s1", "s2", "s3", "s5"} {
				mustGone(t, f, id, t0+2*sec)
			}
		}},
		{name: "dedup replay of a failed create has no id", steps: []step{base,
			one(2, t0, withReq(cCreate("s1", "", nil, 0, 0), "r1"), want{err: ErrExists}),
			one(3, t0+sec, withReq(cCreate("s9", "", nil, 0, 0), "r1"), want{err: ErrExists}),
			one(4, t0+sec, cDestroy("s1"), want{count: 1}),
			one(5, t0+700*sec, withReq(cCreate("s1", "", nil, 0, 0), "r1"), want{version: 5}),
		}},

		// Tombstones. base's s1 has its deadline at t0+30s (idle) unless
		// touched; DedupWindow is 10 minutes.
		{name: "destroy then create the same id", steps: []step{base,
			one(2, t0, cDestroy("s1"), want{count: 1}),
			one(3, t0+sec, cCreate("s1", "u1", nil, 0, 0), want{err: ErrExists}),
			one(4, t0+600*sec-1, cCreate("s1", "u1", nil, 0, 0), want{err: ErrExists}),
			one(5, t0+600*sec, cCreate("s1", "u1", nil, 0, 0), want{version: 5}), // tombstone over
		}, check: func(t *testing.T, f *FSM) {
			if r := mustGet(t, f, "s1", t0+600*sec); r.Version != 5 {
				t.Errorf("got %s", dump(r))
			}
			if n := f.state.Load().tombs.len(); n != 0 {
				t.Errorf("%d tombstones left, want the ended one pruned", n)
			}
		}},
		{name: "destroy and create in one batch", steps: []step{base, {index: 2, at: t0,
			cmds: []Command{cDestroy("s1"), cCreate("s1", "", nil, 0, 0)},
			want: []want{{count: 1}, {err: ErrExists}}}}},
		{name: "tombstone lasts until the record's deadline", steps: []step{
			one(1, t0, cCreate("s1", "", nil, 0, 3600*sec), want{version: 1}),
			one(2, t0+sec, cDestroy("s1"), want{count: 1}),
			one(3, t0+601*sec, cCreate("s1", "", nil, 0, 0), want{err: ErrExists}),
			one(4, t0+3600*sec-1, cCreate("s1", "", nil, 0, 0), want{err: ErrExists}),
			one(5, t0+3600*sec, cCreate("s1", "", nil, 0, 0), want{version: 5}),
		}},
		{name: "tombstone lasts at least the dedup window", limits: Limits{DedupWindow: 5 * sec}, steps: []step{
			one(1, t0, cCreate("s1", "", nil, 0, 0), want{version: 1}), // no deadline
			one(2, t0, cDestroy("s1"), want{count: 1}),
			one(3, t0+5*sec-1, cCreate("s1", "", nil, 0, 0), want{err: ErrExists}),
			one(4, t0+5*sec, cCreate("s1", "", nil, 0, 0), want{version: 4}),
		}},
		{name: "tombstone end saturates", steps: []step{
			one(1, math.MaxInt64-sec, cCreate("s1", "", nil, 0, 0), want{version: 1}),
			one(2, math.MaxInt64-sec, cDestroy("s1"), want{count: 1}),
			one(3, math.MaxInt64-1, cCreate("s1", "", nil, 0, 0), want{err: ErrExists}),
		}},
		{name: "destroying a missing id leaves no tombstone", steps: []step{
			one(1, t0, cDestroy("s1"), want{count: 0}),
			one(2, t0, cExpire("s1"), want{count: 0}),
			one(3, t0, cCreate("s1", "", nil, 0, 0), want{version: 3}),
		}},
		{name: "rotated-away id cannot be created again", steps: []step{
			one(1, t0, cCreate("s1", "u1", nil, 0, 3600*sec), want{version: 1}),
			one(2, t0, cRotate("s1", "s2", 0), want{version: 2}),
			one(3, t0+sec, cCreate("s1", "u1", nil, 0, 0), want{err: ErrExists}),
			one(4, t0+sec, cRotate("s2", "s1", 0), want{err: ErrExists}), // nor rotated back to
			one(5, t0+3600*sec-1, cCreate("s1", "u1", nil, 0, 0), want{err: ErrExists}),
			one(6, t0+3600*sec, cCreate("s1", "u1", nil, 0, 0), want{version: 6}),
		}, check: func(t *testing.T, f *FSM) { mustGone(t, f, "s2", t0+3600*sec) }},
		{name: "rotate onto a tombstoned id", steps: []step{base,
			one(2, t0, cCreate("s2", "", nil, 0, 0), want{version: 2}),
			one(3, t0, cDestroy("s2"), want{count: 1}),
			one(4, t0, cRotate("s1", "s2", 0), want{err: ErrExists}),
			one(5, t0, cRotate("s1", "s3", 0), want{version: 5}),
		}, check: func(t *testing.T, f *FSM) { mustGone(t, f, "s2", t0); mustGet(t, f, "s3", t0) }},
		{name: "expired id cannot be created again until its tombstone ends", steps: []step{
			one(1, t0, cCreate("s1", "", nil, 0, 5*sec), want{version: 1}),
			one(2, t0+10*sec, cExpire("s1"), want{count: 1}),
			one(3, t0+10*sec, cCreate("s1", "", nil, 0, 0), want{err: ErrExists}),
			one(4, t0+610*sec-1, cCreate("s1", "", nil, 0, 0), want{err: ErrExists}),
			one(5, t0+610*sec, cCreate("s1", "", nil, 0, 0), want{version: 5}),
		}},
		{name: "on-the-spot removal leaves a tombstone", steps: []step{base,
			one(2, t0+30*sec, cSet("s1", 0, nil), want{err: ErrNotFound}), // expired: removed here
			one(3, t0+30*sec, cCreate("s1", "", nil, 0, 0), want{err: ErrExists}),
			one(4, t0+630*sec, cCreate("s1", "", nil, 0, 0), want{version: 4}),
		}},
		{name: "revoke leaves tombstones", steps: []step{base,
			one(2, t0, cCreate("s2", "u1", nil, 0, 0), want{version: 2}),
			one(3, t0, cCreate("s3", "u1", nil, 0, 0), want{version: 3}),
			one(4, t0, cRevoke("u1", "s3"), want{count: 2}),
			{index: 5, at: t0 + sec,
				cmds: []Command{cCreate("s1", "", nil, 0, 0), cCreate("s2", "", nil, 0, 0), cRotate("s3", "s1", 0)},
				want: []want{{err: ErrExists}, {err: ErrExists}, {err: ErrExists}}},
		}},
		{name: "a record and a tombstone of one id", steps: []step{
			// The tombstone of the first s1 has ended but may still be
			// stored when s1 is made and removed again.
			one(1, t0, cCreate("s1", "", nil, 0, 0), want{version: 1}),
			one(2, t0, cDestroy("s1"), want{count: 1}),
			{index: 3, at: t0 + 600*sec,
				cmds: []Command{cCreate("s1", "", nil, 0, 0), cDestroy("s1"), cCreate("s1", "", nil, 0, 0)},
				want: []want{{version: 3}, {count: 1}, {err: ErrExists}}},
			one(4, t0+1200*sec-1, cCreate("s1", "", nil, 0, 0), want{err: ErrExists}),
			one(5, t0+1200*sec, cCreate("s1", "", nil, 0, 0), want{version: 5}),
		}},
		{name: "oversized request id is not remembered", limits: smallLimits, steps: []step{
			one(1, t0, withReq(cCreate("s1", "", nil, 0, 0), "12345"), tooLarge),
			one(2, t0, withReq(cCreate("s1", "", nil, 0, 0), "1234"), want{version: 2}),
		}, check: func(t *testing.T, f *FSM) {
			if n := f.state.Load().dedup.len(); n != 1 {
				t.Errorf("dedup holds %d entries", n)
			}
		}},

		// Malformed commands handed to ApplyDecoded.
		{name: "unknown and empty commands", decodedOnly: true, steps: []step{{index: 1, at: t0,
			cmds: []Command{{Type: 99}, {Type: CmdSet}, {Type: CmdExpire}, {Type: 200}, cCreate("s1", "", nil, 0, 0)},
			want: []want{{err: ErrUnknownCmd}, {err: ErrInvalid}, {err: ErrInvalid}, {err: ErrUnknownCmd}, {version: 1}}}}},
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			decoded := New(tc.limits)
			encoded := New(tc.limits)
			for _, s := range tc.steps {
				b := &Batch{Time: s.at, Cmds: s.cmds}
				checkResults(t, s, decoded.ApplyDecoded(s.index, b))
				if tc.decodedOnly {
					continue
				}
				res, err := encoded.ApplyBatch(s.index, EncodeBatch(b))
				if err != nil {
					t.Fatalf("ApplyBatch: %v", err)
				}
				checkResults(t, s, res)
			}
			if tc.check != nil {
				tc.check(t, decoded)
			}
			if !tc.decodedOnly {
				if decoded.Hash() != encoded.Hash() {
					t.Error("ApplyDecoded and ApplyBatch reached different states")
				}
				if tc.check != nil {
					tc.check(t, encoded)
				}
			}
		})
	}
}

func checkResults(t *testing.T, s step, res []Result) {
	t.Helper()
	if len(res) != len(s.want) {
		t.Fatalf("index %d: %d results, want %d", s.index, len(res), len(s.want))
	}
	for i, w := range s.want {
		r := res[i]
		if (w.err == nil) != (r.Err == nil) || w.err != nil && !isErr(r.Err, w.err) {
			t.Errorf("index %d cmd %d: err %v, want %v", s.index, i, r.Err, w.err)
		}
		if r.Version != w.version || r.Count != w.count {
			t.Errorf("index %d cmd %d: version %d count %d, want %d %d", s.index, i, r.Version, r.Count, w.version, w.count)
		}
		wantID := w.id
		if c := s.cmds[i]; wantID == "" && w.err == nil {
			switch {
			case c.Type == CmdCreate && c.Create != nil:
				wantID = c.Create.ID
			case c.Type == CmdRotate && c.Rotate != nil:
				wantID = c.Rotate.NewID
			}
		}
		if r.ID != wantID {
			t.Errorf("index %d cmd %d: id %q, want %q", s.index, i, r.ID, wantID)
		}
	}
}

func mustGet(t *testing.T, f *FSM, id string, now int64) *Record {
	t.Helper()
	r, ok := f.Get(id, now)
	if !ok {
		t.Fatalf("Get(%q) found nothing", id)
	}
	return r
}

func mustGone(t *testing.T, f *FSM, id string, now int64) {
	t.Helper()
	if r, ok := f.Get(id, now); ok {
		t.Fatalf("Get(%q) = %s, want nothing", id, dump(r))
	}
}
