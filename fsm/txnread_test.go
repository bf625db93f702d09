package fsm

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestTxnReads: reads queued in a transaction see exactly what the
// commands before them left, at the entry's log time.
func TestTxnReads(t *testing.T) {
	type step struct {
		cmd  Command
		want string // of a read: the value, "hash:<n fields>", "nil"; "-" for a write
	}
	val := func(rec *Record) string {
		switch {
		case rec == nil:
			return "nil"
		case rec.Kind() == KindHash:
			return "hash:" + strconv.Itoa(rec.NumFields())
		case rec.Kind() == KindSet:
			return "set:" + strconv.Itoa(rec.NumMembers())
		}
		v, _ := rec.Value()
		return string(v)
	}
	for _, tc := range []struct {
		name  string
		setup []Command
		steps []step
	}{
		{"read your writes", []Command{set("k", "old")}, []step{
			{cRead("k"), "old"}, {set("k", "new"), "-"}, {cRead("k"), "new"},
			{cDestroy("k"), "-"}, {cRead("k"), "nil"}, {incr("k", 5), "-"}, {cRead("k"), "5"},
		}},
		{"every kind", []Command{hset("h", "a", "1", "b", "2"), cSAdd("s", "m")}, []step{
			{cRead("h"), "hash:2"}, {cRead("s"), "set:1"}, {cRead("none"), "nil"},
			{Command{Type: CmdHDel, HDel: &HDel{Key: "h", Fields: []string{"a"}}}, "-"}, {cRead("h"), "hash:1"},
		}},
		{"a session is a hash", []Command{cCreate("sess", "u", flds("f", "v"), 0, 0)}, []step{
			{cRead("sess"), "hash:1"}, {cDestroy("sess"), "-"}, {cRead("sess"), "nil"},
		}},
		{"a failed write leaves the read alone", []Command{hset("h", "a", "1")}, []step{
			{incr("h", 1), "-"}, {cRead("h"), "hash:1"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRedisFSM(t)
			for _, c := range tc.setup {
				r.ok(c)
			}
			x := &Txn{}
			for _, s := range tc.steps {
				x.Cmds = append(x.Cmds, s.cmd)
			}
			r.now += sec // the entry's time differs from the setup's
			res := r.ok(Command{Type: CmdTxn, Txn: x})
			if res.Txn == nil || res.Txn.Aborted || len(res.Txn.Results) != len(tc.steps) {
				t.Fatalf("EXEC: %+v", res)
			}
			for i, s := range tc.steps {
				got := res.Txn.Results[i]
				if s.want == "-" {
					continue
				}
				if got.Err != nil || val(got.Record) != s.want || int64(got.Count) != r.now {
					t.Errorf("step %d (%v): got %s at %d, err %v; want %s at %d", i, s.cmd.Type, val(got.Record), got.Count, got.Err, s.want, r.now)
				}
			}
		})
	}
}

// TestTxnReadTTL: a read after SET ... PX in the same transaction sees
// the deadline measured from the entry's own time (PTTL exactly 1000, as
// Redis answers inside EXEC); a key expired by the log clock is nil and
// reported "expired"; an aborted transaction reads nothing.
func TestTxnReadTTL(t *testing.T) {
	r := newRedisFSM(t)
	r.ok(setEx("gone", "v", sec))
	var events []string
	r.f.SetNotify(func(_ uint64, evs []Event) {
		for _, e := range evs {
			events = append(events, e.Type.String()+":"+e.Key)
		}
	})
	r.now += 2 * sec
	res := r.ok(Command{Type: CmdTxn, Txn: &Txn{Cmds: []Command{setEx("k", "v", 1000*1e6), cRead("k"), cRead("gone")}}})
	rd := res.Txn.Results[1]
	if d := rd.Record.Deadline() - int64(rd.Count); d != 1000*1e6 {
		t.Errorf("PTTL in the transaction: %d ns, want 1000 ms", d)
	}
	if res.Txn.Results[2].Record != nil || r.f.Len() != 1 {
		t.Error("an expired key was read or kept")
	}
	if want := []string{"set:k", "expire:k", "expired:gone"}; strings.Join(events, " ") != strings.Join(want, " ") {
		t.Errorf("events %q, want %q", events, want)
	}
	v := r.get("k").Version
	res = r.ok(Command{Type: CmdTxn, Txn: &Txn{Watch: []Watch{{"k", v + 1}}, Cmds: []Command{cRead("k")}}})
	if !res.Txn.Aborted || res.Txn.Results != nil {
		t.Errorf("aborted: %+v", res.Txn)
	}
	// Through the result encoding, as a forwarded EXEC gets it back.
	res = r.ok(Command{Type: CmdTxn, Txn: &Txn{Cmds: []Command{cRead("k"), cRead("none")}}})
	dec, err := DecodeResult(AppendResult(nil, &res))
	if err != nil || len(dec.Txn.Results) != 2 || dec.Txn.Results[0].Record == nil || dec.Txn.Results[1].Record != nil ||
		dec.Txn.Results[0].Count != res.Txn.Results[0].Count {
		t.Fatalf("decoded %+v, %v", dec, err)
	}
	if v, _ := dec.Txn.Results[0].Record.Value(); string(v) != "v" {
		t.Fatalf("decoded value %q", v)
	}
}

// TestTxnReadBudget: the records a transaction's reads return are bounded
// by Limits.TxnReadBytes; the read past it fails, the writes still apply.
func TestTxnReadBudget(t *testing.T) {
	r := newRedisFSM(t)
	r.f = New(Limits{MaxValueBytes: 1 << 10, MaxRecordBytes: 4 << 10})
	big := strings.Repeat("x", 1<<10-64)
	r.ok(hset("h", "a", big, "b", big, "c", big))
	size := r.get("h").Size()
	if r.f.Limits().TxnReadBytes() != 4<<10 || DefaultLimits().TxnReadBytes() != 4<<20 {
		t.Fatal("TxnReadBytes is not MaxRecordBytes")
	}
	n := r.f.Limits().TxnReadBytes()/size + 1 // the n-th read goes past the budget
	x := &Txn{}
	for range n {
		x.Cmds = append(x.Cmds, cRead("h"))
	}
	x.Cmds = append(x.Cmds, set("after", "1"))
	res := r.ok(Command{Type: CmdTxn, Txn: x})
	for i := range n - 1 {
		if res.Txn.Results[i].Err != nil || res.Txn.Results[i].Record == nil {
			t.Fatalf("read %d within the budget: %+v", i, res.Txn.Results[i])
		}
	}
	if last := res.Txn.Results[n-1]; !errors.Is(last.Err, ErrTooLarge) || last.Record != nil {
		t.Fatalf("read past the budget: %+v", last)
	}
	if res.Txn.Results[n].Err != nil || r.str("after") != "1" {
		t.Fatal("a write after the refused read did not apply")
	}
}

// TestGetManyAtomic: GetMany never shows a transaction half applied.
func TestGetManyAtomic(t *testing.T) {
	f := New(Limits{})
	keys := []string{"a", "b", "c", "d"}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		var recs []*Record
		for {
			select {
			case <-stop:
				return
			default:
			}
			recs = f.GetMany(recs[:0], keys, t0)
			var first string
			for i, rec := range recs {
				v := "nil"
				if rec != nil {
					b, _ := rec.Value()
					v = string(b)
				}
				if i == 0 {
					first = v
				} else if v != first {
					t.Errorf("GetMany saw %q beside %q: a transaction half applied", v, first)
					return
				}
			}
		}
	}()
	for i := range 2000 {
		v := strconv.Itoa(i)
		c := Command{Type: CmdTxn, Txn: &Txn{}}
		for _, k := range keys {
			c.Txn.Cmds = append(c.Txn.Cmds, set(k, v))
		}
		if i%7 == 6 {
			c.Txn.Cmds = []Command{cDestroy(keys...)}
		}
		applyOne(t, f, uint64(i+1), t0, c)
	}
	close(stop)
	wg.Wait()
	if recs := f.GetMany(nil, []string{"a", "zz"}, t0); len(recs) != 2 || recs[0] == nil || recs[1] != nil {
		t.Fatalf("GetMany: %v", recs)
	}
}
