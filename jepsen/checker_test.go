package jepsen

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const ms = int64(time.Millisecond)

func TestLinearizableChecker(t *testing.T) {
	init := map[string]regState{"k": {val: "a", ver: 1}}
	w := func(p int, call, ret int64, val string, ver uint64, out Outcome) Op {
		return Op{Process: p, Workload: "register", F: "write", Key: "k", Value: val, Version: ver, Call: call, Return: ret, Outcome: out}
	}
	r := func(p int, call, ret int64, val string, ver uint64) Op {
		return Op{Process: p, Workload: "register", F: "read", Key: "k", Value: val, Version: ver, Found: true, Call: call, Return: ret, Outcome: OK}
	}
	cas := func(p int, call, ret int64, ifv uint64, val string, ver uint64, conflict bool) Op {
		return Op{Process: p, Workload: "register", F: "cas", Key: "k", IfVer: ifv, Value: val, Version: ver, Conflict: conflict, Call: call, Return: ret, Outcome: OK}
	}
	cases := []struct {
		name string
		ops  []Op
		ok   bool
	}{
		{"sequential", []Op{w(0, 1, 2, "b", 5, OK), r(1, 3, 4, "b", 5)}, true},
		{"stale read", []Op{w(0, 1, 2, "b", 5, OK), r(1, 3, 4, "a", 1)}, false},
		{"concurrent read either", []Op{w(0, 1, 4, "b", 5, OK), r(1, 2, 3, "a", 1), r(2, 2, 3, "b", 5)}, true},
		{"read goes back", []Op{w(0, 1, 6, "b", 5, OK), r(1, 2, 3, "b", 5), r(2, 4, 5, "a", 1)}, false},
		{"unknown write seen later", []Op{w(0, 1, 2, "b", 0, Unknown), r(1, 10, 11, "b", 7)}, true},
		{"unknown write never applied", []Op{w(0, 1, 2, "b", 0, Unknown), r(1, 10, 11, "a", 1)}, true},
		{"failed write seen", []Op{w(0, 1, 2, "b", 0, Fail), r(1, 10, 11, "b", 5)}, false},
		{"cas ok", []Op{cas(0, 1, 2, 1, "b", 5, false), r(1, 3, 4, "b", 5)}, true},
		{"cas wrong version ok", []Op{cas(0, 1, 2, 3, "b", 5, false)}, false},
		{"cas conflict at matching version", []Op{cas(0, 1, 2, 1, "b", 0, true)}, false},
		{"cas conflict", []Op{w(0, 1, 2, "b", 5, OK), cas(1, 3, 4, 1, "c", 0, true), r(1, 5, 6, "b", 5)}, true},
		// The unknown write is never read, so the first pass leaves it
		// out and fails; only the write explains the conflict, and the
		// whole history passes.
		{"unread unknown write explains a conflict", []Op{w(0, 1, 2, "b", 0, Unknown), cas(1, 3, 4, 1, "c", 0, true)}, true},
		{"unread unknown write, stale read", []Op{w(2, 0, 1, "x", 0, Unknown), w(0, 1, 2, "b", 5, OK), r(1, 3, 4, "a", 1)}, false},
	}
	for _, c := range cases {
		res := checkLinearizable(c.ops, init, "")
		if res.Valid != c.ok {
			t.Errorf("%s: valid = %v, want %v (%s)", c.name, res.Valid, c.ok, res.Detail)
		}
	}
}

// TestLinearizableCheckerPlacesUnreadUnknownWritesLast: the first pass
// without the unknown writes nobody read decides a history that passes.
func TestLinearizableCheckerPlacesUnreadUnknownWritesLast(t *testing.T) {
	init := map[string]regState{"k": {val: "a", ver: 1}}
	var ops []Op
	for i := range 40 { // one unknown write per process, never read
		ops = append(ops, Op{Process: 100 + i, Workload: "register", F: "write", Key: "k", Value: fmt.Sprint("u", i), Call: int64(i), Return: int64(i) + 1, Outcome: Unknown})
	}
	for i := range 200 {
		at := int64(100 + 4*i)
		ops = append(ops,
			Op{Process: 0, Workload: "register", F: "write", Key: "k", Value: fmt.Sprint("v", i), Version: uint64(2 + i), Call: at, Return: at + 1, Outcome: OK},
			Op{Process: 1, Workload: "register", F: "read", Key: "k", Value: fmt.Sprint("v", i), Version: uint64(2 + i), Found: true, Call: at + 2, Return: at + 3, Outcome: OK})
	}
	res := checkLinearizable(ops, init, "")
	if !res.Valid || !strings.Contains(res.Detail, "40 unknown writes no read saw placed last") {
		t.Fatalf("valid = %v: %s", res.Valid, res.Detail)
	}
}

func TestStalenessChecker(t *testing.T) {
	ops := []Op{
		{Workload: "register", F: "write", Key: "k", Version: 5, Call: 0, Return: 10 * ms, Outcome: OK},
		{Workload: "register", F: "stale-read", Key: "k", Version: 1, Found: true, Call: 500 * ms, Return: 501 * ms, Outcome: OK},
	}
	if res := checkStaleness(ops, time.Second); !res.Valid {
		t.Errorf("read within the bound flagged: %s", res.Detail)
	}
	ops[1].Call = 2000 * ms
	if res := checkStaleness(ops, time.Second); res.Valid {
		t.Errorf("read older than the bound passed: %s", res.Detail)
	}
}

func TestTTLChecker(t *testing.T) {
	create := Op{Workload: "ttl", F: "create", Key: "s", TTL: 1000 * ms, Call: 0, Return: 10 * ms, Outcome: OK}
	read := func(call int64, found bool) Op {
		return Op{Workload: "ttl", F: "read", Key: "s", Found: found, Call: call, Return: call + ms, Outcome: OK}
	}
	for _, c := range []struct {
		name string
		read Op
		ok   bool
	}{
		{"found before", read(500*ms, true), true},
		{"gone after", read(1300*ms, false), true},
		{"found within bound", read(1100*ms, true), true},
		{"found after bound", read(1300*ms, true), false},
		{"gone early", read(500*ms, false), false},
		{"gone within bound", read(900*ms, false), true},
	} {
		if res := checkTTL([]Op{create, c.read}, 200*time.Millisecond); res.Valid != c.ok {
			t.Errorf("%s: valid = %v, want %v (%s)", c.name, res.Valid, c.ok, res.Detail)
		}
	}
}

func TestSetChecker(t *testing.T) {
	ops := []Op{
		{Workload: "set", F: "create", Key: "a", Outcome: OK},
		{Workload: "set", F: "create", Key: "b", Outcome: OK},
		{Workload: "set", F: "create", Key: "c", Outcome: OK},
		{Workload: "set", F: "destroy", Key: "b", Outcome: OK},
		{Workload: "set", F: "rotate", Key: "c", NewKey: "d", Outcome: OK},
		{Workload: "ttl", F: "create", Key: "t", Outcome: OK}, // not the set workload's
	}
	if res := checkSet(ops, map[string]bool{"a": true, "d": true}); !res.Valid {
		t.Errorf("valid set flagged: %s", res.Detail)
	}
	for name, final := range map[string]map[string]bool{
		"lost":            {"d": true},
		"destroyed back":  {"a": true, "b": true, "d": true},
		"rotated back":    {"a": true, "c": true, "d": true},
		"rotated-to lost": {"a": true},
	} {
		if res := checkSet(ops, final); res.Valid {
			t.Errorf("%s: passed: %s", name, res.Detail)
		}
	}
}

func TestReplicaVerdict(t *testing.T) {
	d := func(applied int64, hash string) replicaDigest { return replicaDigest{applied, 3, hash} }
	tests := []struct {
		name        string
		obs         func(o replicaObservations)
		valid, done bool
	}{
		{"nothing yet", func(o replicaObservations) {}, true, false},
		{"all at one index", func(o replicaObservations) {
			o.add(0, "a", d(10, "h"))
			o.add(0, "b", d(10, "h"))
			o.add(0, "c", d(10, "h"))
		}, true, true},
		// Seen at different moments: a at 10 then 12, b and c at 10 later.
		{"common index across samples", func(o replicaObservations) {
			o.add(0, "a", d(10, "h"))
			o.add(0, "a", d(12, "h2"))
			o.add(0, "b", d(10, "h"))
			o.add(0, "c", d(11, "x"))
			o.add(0, "c", d(10, "h"))
		}, true, true},
		{"never all at one index", func(o replicaObservations) {
			o.add(0, "a", d(10, "h"))
			o.add(0, "b", d(11, "h1"))
			o.add(0, "c", d(12, "h2"))
		}, true, false},
		{"diverged", func(o replicaObservations) {
			o.add(0, "a", d(10, "h"))
			o.add(0, "b", d(10, "other"))
		}, false, true},
		{"one group converged, the other not", func(o replicaObservations) {
			for _, n := range []string{"a", "b", "c"} {
				o.add(0, n, d(5, "h"))
			}
			o.add(1, "a", d(7, "h"))
		}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := replicaObservations{}
			tt.obs(o)
			valid, done, detail := o.verdict(3)
			if valid != tt.valid || done != tt.done {
				t.Fatalf("verdict = valid %v done %v (%s), want valid %v done %v", valid, done, detail, tt.valid, tt.done)
			}
		})
	}
}

func TestReplicaObservationsLatest(t *testing.T) {
	o := replicaObservations{}
	o.add(0, "a", replicaDigest{10, 1, "h"})
	o.add(0, "a", replicaDigest{12, 1, "h2"})
	o.add(0, "b", replicaDigest{11, 1, "h1"})
	if got := o.latest(0); got["a"] != 12 || got["b"] != 11 || len(got) != 2 {
		t.Fatalf("latest = %v, want a:12 b:11", got)
	}
}
