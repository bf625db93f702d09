package node

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/transport/resp"
)

// TestMultiKeyAcrossGroups: MGET, EXISTS and DEL over keys in three
// groups, from every node, answer in Redis's order and counting, with one
// forwarded request per group rather than one per key.
func TestMultiKeyAcrossGroups(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) {
		steadyLeaders(cfg)
		cfg.HTTPAddr = "127.0.0.1:0"
	})
	n := c.node(0)
	var keys []string
	groups := map[int]bool{}
	for i := 0; len(keys) < 30; i++ {
		k := "mk:" + strconv.Itoa(i)
		keys = append(keys, k)
		groups[n.ring.Group(k)] = true
	}
	if len(groups) != 3 {
		t.Fatalf("keys in %d groups", len(groups))
	}
	cl0 := c.client(0)
	for i, k := range keys {
		switch i % 3 {
		case 0:
			writeAgain(t, cl0, "SET", k, "v"+strconv.Itoa(i))
		case 1:
			writeAgain(t, cl0, "HSET", k, "f", "v")
		}
	}
	// MGET: strings' values in order, nil for a hash or no key, a key
	// named twice answered twice.
	args := append([]string{"MGET"}, keys...)
	args = append(args, keys[0], "mk:none")
	var want []string
	for i := range keys {
		if i%3 == 0 {
			want = append(want, "$v"+strconv.Itoa(i))
		} else {
			want = append(want, "nil")
		}
	}
	want = append(want, "$v0", "nil")
	wantMGet := "[" + strings.Join(want, " ") + "]"
	exists := append(append([]string{"EXISTS"}, keys...), keys[0], keys[1], keys[2], "mk:none")
	for i := range 3 {
		cl := c.client(i)
		do(t, cl, "MGET", keys[0]) // the groups' leaders are ready
		before := forwardedReads(t, c.node(i))
		if got := show(do(t, cl, args...)); got != wantMGet {
			t.Errorf("node %d MGET:\n got %s\nwant %s", i, got, wantMGet)
		}
		if got := show(do(t, cl, exists...)); got != ":22" { // 20 of 30, then 2 of the repeats
			t.Errorf("node %d EXISTS: %s", i, got)
		}
		// Per key, about 40 would go (two thirds of 64 keys); per group,
		// at most 4, plus a few retries should a group's leader move.
		if d := forwardedReads(t, c.node(i)) - before; d >= 16 {
			t.Errorf("node %d forwarded %v reads for one MGET and one EXISTS over three groups", i, d)
		}
	}
	// DEL: a key named twice counts once; missing keys count nothing.
	del := append(append([]string{"DEL"}, keys...), keys[0], "mk:none")
	if got := show(do(t, c.client(2), del...)); got != ":20" {
		t.Errorf("DEL: %s", got)
	}
	if got := show(do(t, c.client(1), exists...)); got != ":0" {
		t.Errorf("EXISTS after DEL: %s", got)
	}
}

// TestMultiKeyLargeReplies: a group's records past one reply's budget are
// asked for again (MGET answers them all); a transaction of reads only
// that passes it is TOOLARGE on every node, the leader as the others.
func TestMultiKeyLargeReplies(t *testing.T) {
	// Small records, so that a few keys pass the budget (MaxRecordBytes).
	limits := fsm.Limits{MaxValueBytes: 16 << 10, MaxRecordBytes: 32 << 10}
	c := startCluster(t, 3, func(cfg *Config) {
		steadyLeaders(cfg)
		cfg.Limits = limits
	})
	n := c.node(0)
	big := strings.Repeat("x", limits.MaxValueBytes-64)
	// Keys of one group, enough to pass the budget.
	var keys []string
	gid := n.ring.Group("lg:0")
	for i := 0; len(keys) < limits.MaxRecordBytes/len(big)+2; i++ {
		if k := "lg:" + strconv.Itoa(i); n.ring.Group(k) == gid {
			keys = append(keys, k)
		}
	}
	cl := c.client(0)
	for _, k := range keys {
		writeAgain(t, cl, "SET", k, big)
	}
	for i := range 3 {
		cl := c.client(i)
		v := do(t, cl, append([]string{"MGET"}, keys...)...)
		if len(v.Elems) != len(keys) {
			t.Fatalf("node %d MGET: %d values for %d keys (%.80s)", i, len(v.Elems), len(keys), show(v))
		}
		for j, e := range v.Elems {
			if e.Str != big {
				t.Fatalf("node %d MGET value %d: %d bytes", i, j, len(e.Str))
			}
		}
		mustOK(t, cl, "MULTI")
		for _, k := range keys {
			do(t, cl, "GET", k)
		}
		if got := show(do(t, cl, "EXEC")); !strings.HasPrefix(got, "-TOOLARGE") {
			t.Errorf("node %d EXEC of %d KiB of reads: %.80s", i, len(keys)*len(big)>>10, got)
		}
		// With a write, the reads run in the raft entry: the one past
		// the budget fails alone.
		mustOK(t, cl, "MULTI")
		do(t, cl, "SET", "lg:0", big)
		for _, k := range keys {
			do(t, cl, "GET", k)
		}
		v = do(t, cl, "EXEC")
		if len(v.Elems) != len(keys)+1 || errCode(v.Elems[len(keys)]) != "TOOLARGE" || v.Elems[1].Str != big {
			t.Errorf("node %d EXEC with a write: %.120s", i, show(v))
		}
	}
}

// steadyLeaders keeps each group's leader in place on a loaded machine:
// no balancing, and timeouts long enough that a slow heartbeat does not
// start an election (a write cut by one is INDETERMINATE, and a count of
// forwarded requests would include the retries).
func steadyLeaders(cfg *Config) {
	cfg.BalanceInterval, cfg.RequestTimeout = time.Hour, 30*time.Second
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 2*time.Second, 2*time.Second, time.Second
}

// writeAgain runs an idempotent write until it succeeds: on a loaded
// machine a write can outlast the request timeout (INDETERMINATE), and
// running it again is safe.
func writeAgain(t *testing.T, cl *resp.Client, args ...string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		err := do(t, cl, args...).Err()
		if err == nil {
			return
		}
		if errCode(do(t, cl, "PING")) != "" || !strings.HasPrefix(err.Error(), "INDETERMINATE") || time.Now().After(deadline) {
			t.Fatalf("%s %.40s: %v", args[0], args[1], err)
		}
	}
}

// forwardedReads is a node's count of reads forwarded to a leader.
func forwardedReads(t *testing.T, n *Node) float64 {
	t.Helper()
	fams, _ := scrapeNode(t, n)
	v, _ := metricSum(fams, "sessionraft_forwarded_requests_total", map[string]string{"kind": "read"})
	return v
}

// TestKeysReplyBudget: an rpcGetMany reply stops after the record that
// passes its budget, answers at least one key, and fits the internal
// port's frame even at the budget plus a record of the largest size.
func TestKeysReplyBudget(t *testing.T) {
	rec := func(v string) *fsm.Record {
		f := fsm.New(fsm.Limits{})
		f.ApplyDecoded(1, &fsm.Batch{Time: 1, Cmds: []fsm.Command{{Type: fsm.CmdSetString, SetString: &fsm.SetString{Key: "k", Value: []byte(v)}}}})
		r, _ := f.Get("k", 1)
		return r
	}
	r := rec(strings.Repeat("v", 100))
	recs := []*fsm.Record{r, nil, r, r, r}
	one := len(fsm.AppendRecord(nil, r)) + 2 // flag, length, record
	for _, tc := range []struct {
		budget, served int
	}{{0, 1}, {one, 2}, {one + 1, 3}, {1 << 20, 5}} {
		a, err := decodeKeysReply(encodeKeysReply(keysRecords, recs, tc.budget), keysRecords, len(recs))
		if err != nil || len(a.found) != tc.served {
			t.Errorf("budget %d: served %d, want %d (%v)", tc.budget, len(a.found), tc.served, err)
			continue
		}
		for i := range a.found {
			if a.found[i] != (recs[i] != nil) || (recs[i] != nil && a.recs[i].Version != r.Version) {
				t.Errorf("budget %d: key %d decoded wrong", tc.budget, i)
			}
		}
	}
	a, err := decodeKeysReply(encodeKeysReply(keysPresence, recs, 0), keysPresence, len(recs))
	if err != nil || !slices.Equal(a.found, []bool{true, false, true, true, true}) || a.recs != nil {
		t.Errorf("presence: %+v %v", a, err)
	}
	for _, rec := range []int{0, 1 << 10, 64 << 20} {
		cfg := DefaultConfig()
		cfg.Limits.MaxRecordBytes = rec
		l := fsm.New(cfg.Limits).Limits()
		// The budget, one more record, and its encoding's overhead.
		if need := l.TxnReadBytes() + l.MaxRecordBytes + 1<<16; need > cfg.rpcFrameCap() {
			t.Errorf("MaxRecordBytes %d: an rpcGetMany reply may take %d bytes; the frame cap is %d", rec, need, cfg.rpcFrameCap())
		}
	}
}

// FuzzKeysReq: rpcGetMany's request decoder refuses or reads any input
// without panicking, and reads back what encodeKeysReq wrote.
func FuzzKeysReq(f *testing.F) {
	f.Add(encodeKeysReq(keysRecords, []string{"a", "bc"}))
	f.Add(encodeKeysReq(keysPresence, nil))
	f.Add([]byte{2, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		mode, keys, err := decodeKeysReq(b)
		if err != nil {
			return
		}
		m2, k2, err := decodeKeysReq(encodeKeysReq(mode, keys))
		if err != nil || m2 != mode || !slices.Equal(k2, keys) {
			t.Fatalf("round trip: %d %q -> %d %q (%v)", mode, keys, m2, k2, err)
		}
	})
}

// FuzzKeysReply: rpcGetMany's reply decoder refuses or reads any input
// without panicking, whatever the mode and the number of keys asked.
func FuzzKeysReply(f *testing.F) {
	f.Add([]byte{2, 0, 1}, true, 2)
	f.Add([]byte{1, 1, 3, 0, 0, 0}, false, 1)
	f.Fuzz(func(t *testing.T, b []byte, records bool, asked int) {
		mode := keysPresence
		if records {
			mode = keysRecords
		}
		a, err := decodeKeysReply(b, mode, asked)
		if err == nil && (len(a.found) == 0 && asked > 0 || len(a.found) > asked) {
			t.Fatalf("served %d of %d", len(a.found), asked)
		}
	})
}
