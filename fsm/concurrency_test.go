package fsm

import (
	"bytes"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// TestConcurrentReaders runs readers against an applying FSM (under -race)
// and checks that each command is seen atomically: subject "u" always owns
// exactly one live record, rotated from id to id, and a touch batch that
// advances every "t" record together is never seen half done.
func TestConcurrentReaders(t *testing.T) {
	f := New(Limits{})
	const touched = 64
	tids := make([]string, touched)
	cmds := []Command{cCreate("r0", "u", flds("k", "v"), 0, 0)}
	for i := range tids {
		tids[i] = "t" + strconv.Itoa(i)
		cmds = append(cmds, cCreate(tids[i], "t", nil, 1000*sec, 0))
	}
	f.ApplyDecoded(1, &Batch{Time: t0, Cmds: cmds})

	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	report := func(msg string) {
		select {
		case errs <- msg:
		default:
		}
	}
	for w := range 4 {
		wg.Go(func() {
			for !stop.Load() {
				now := f.Clock()
				if got := f.BySubject("u", now); len(got) != 1 {
					report("subject u has " + strconv.Itoa(len(got)) + " records")
				}
				recs := f.BySubject("t", now)
				if len(recs) != touched {
					report("subject t has " + strconv.Itoa(len(recs)) + " records")
					continue
				}
				for _, r := range recs[1:] {
					if r.LastAccess != recs[0].LastAccess {
						report("touch seen half applied")
						break
					}
				}
				f.Get(tids[w], now)
				f.Expired(now, 10)
				// Between two commands there are r*, the t records, and one
				// or two tmp records; never the middle of a rotate.
				if n := f.Len(); n < touched+1 || n > touched+3 {
					report("Len = " + strconv.Itoa(n))
				}
				_ = f.AppliedIndex()
			}
		})
	}
	// A snapshot written while applies continue.
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var snapBuf bytes.Buffer
	wg.Go(func() {
		if _, err := snap.WriteTo(&snapBuf); err != nil {
			report(err.Error())
		}
		snap.Release()
	})

	idx := uint64(1)
	cur := "r0"
	for i := 1; i <= 400; i++ {
		idx++
		at := t0 + int64(i)*sec
		next := "r" + strconv.Itoa(i)
		times := make([]int64, touched)
		for j := range times {
			times[j] = at
		}
		res := f.ApplyDecoded(idx, &Batch{Time: at, Cmds: []Command{
			cRotate(cur, next, 0),
			cTouch(tids, times),
			cCreate("tmp"+strconv.Itoa(i), "", nil, 0, sec),
			cExpire("tmp" + strconv.Itoa(i-1)),
		}})
		for j, r := range res {
			if r.Err != nil {
				t.Fatalf("batch %d cmd %d: %v", idx, j, r.Err)
			}
		}
		cur = next
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}
	g := New(Limits{})
	if err := g.Restore(&snapBuf); err != nil || g.Len() != touched+1 {
		t.Fatalf("concurrently written snapshot: %v, %d records", err, g.Len())
	}
}

// TestConcurrentRedisReaders runs Scan, Get and BySubject against an FSM
// applying Redis commands, transactions and flushes (under -race), and
// checks that a transaction is seen whole: each one creates a session of
// subject "u" and revokes the others, so BySubject, which sees commands
// atomically, never finds two.
func TestConcurrentRedisReaders(t *testing.T) {
	f := New(Limits{})
	f.ApplyDecoded(1, &Batch{Time: t0, Cmds: []Command{set("a", "0"), set("b", "0")}})
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for range 3 {
		wg.Go(func() {
			for !stop.Load() {
				now := f.Clock()
				f.Get("a", now)
				if n := len(f.BySubject("u", now)); n > 1 {
					select {
					case errs <- "transaction seen half applied: " + strconv.Itoa(n) + " sessions":
					default:
					}
				}
				cursor := uint64(0)
				for range 100 {
					next, _ := f.Scan(cursor, ScanOptions{Count: 7, Match: "k*"}, now)
					if cursor = next; cursor == 0 {
						break
					}
				}
			}
		})
	}
	idx := uint64(1)
	for i := 1; i <= 300; i++ {
		idx++
		v := strconv.Itoa(i)
		cmds := []Command{
			{Type: CmdTxn, Txn: &Txn{Cmds: []Command{set("a", v), set("b", v), cCreate("s"+v, "u", nil, 0, 0), cRevoke("u", "s"+v)}}},
			set("k"+v, v),
			cSAdd("set", v),
			hset("h"+strconv.Itoa(i%7), "f", v),
		}
		if i%50 == 0 {
			cmds = append(cmds, Command{Type: CmdFlush, Flush: &Flush{}})
		}
		f.ApplyDecoded(idx, &Batch{Time: t0 + int64(i)*sec, Cmds: cmds})
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}
}
