package node

import (
	"strconv"
	"sync"
	"testing"
)

// TestTxnReadsCluster: reads queued in MULTI on a three-node cluster,
// from every node (the group's leader and two that forward): PTTL after
// SET ... PX in the same transaction is measured from the transaction's
// own time; a transaction of reads only, and MGET of one group's keys,
// never show another transaction half applied; reads across groups are
// CROSSSLOT like writes.
func TestTxnReadsCluster(t *testing.T) {
	c := startCluster(t, 3, steadyLeaders)
	a, b, a2 := keysInGroups(t, c.node(0), "tr")
	for i := range 3 {
		cl := c.client(i)
		runSteps(t, cl, []redisStep{
			{"MULTI", "+OK"},
			{"SET " + a + " x" + strconv.Itoa(i) + " PX 100000", "+QUEUED"},
			{"PTTL " + a, "+QUEUED"},
			{"GET " + a, "+QUEUED"},
			{"HSET " + a2 + " f v", "+QUEUED"},
			{"HGETALL " + a2, "+QUEUED"},
			{"EXEC", "[+OK :100000 $x" + strconv.Itoa(i) + " :1 [$f $v]]"},
			{"MULTI", "+OK"},
			{"GET " + a, "+QUEUED"},
			{"HGET " + a2 + " f", "+QUEUED"},
			{"EXEC", "[$x" + strconv.Itoa(i) + " $v]"},
			{"MULTI", "+OK"},
			{"GET " + a, "+QUEUED"},
			{"GET " + b, "+QUEUED"},
			{"EXEC", "-CROSSSLOT Keys in request don't hash to the same slot"},
			{"DEL " + a2, ":1"},
		})
	}

	// Atomicity: a writer sets a and a2 to the same value in one
	// transaction, again and again; readers on every node must never see
	// them differ.
	const rounds = 60
	writer := c.client(0)
	mustOK(t, writer, "MSET", a, "start", a2, "start")
	var wg sync.WaitGroup
	done := make(chan struct{})
	for i := range 3 {
		cl := c.client(i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-done:
					return
				default:
				}
				var pair []string
				if n%2 == 0 {
					do(t, cl, "MULTI")
					do(t, cl, "GET", a)
					do(t, cl, "GET", a2)
					v := do(t, cl, "EXEC")
					pair = []string{show(v)}
				} else {
					pair = []string{show(do(t, cl, "MGET", a, a2))}
				}
				if s := pair[0]; !pairEqual(s) {
					t.Errorf("node %d read %s: a transaction half applied", i, s)
					return
				}
			}
		}()
	}
	for n := range rounds {
		v := strconv.Itoa(n)
		mustOK(t, writer, "MULTI")
		do(t, writer, "SET", a, v)
		do(t, writer, "SET", a2, v)
		if got := show(do(t, writer, "EXEC")); got != "[+OK +OK]" {
			t.Fatalf("EXEC: %s", got)
		}
	}
	close(done)
	wg.Wait()
}

// pairEqual reports whether a two-element reply shows one value twice.
func pairEqual(s string) bool {
	// "[$v $v]"
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return false
	}
	inner := s[1 : len(s)-1]
	for i := 0; i < len(inner); i++ {
		if inner[i] == ' ' {
			return inner[:i] == inner[i+1:]
		}
	}
	return false
}
