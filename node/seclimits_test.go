package node

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/transport/resp"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// Regression tests for issue 10's resource attacks, each against a real
// in-process node. The bounds are on goroutines and heap, measured in
// this process while the attack runs; none is on time.

// peakSampler records the highest goroutine count and live heap seen
// until stop is called.
type peakSampler struct {
	stop       chan struct{}
	done       chan struct{}
	goroutines int
	heap       uint64
	baseHeap   uint64
	gcPercent  int
}

func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// While it samples, the collector runs at GOGC=10, so the heap it sees is
// close to what is live (what an attack makes the node hold) rather than
// garbage waiting for a collection.
func startPeaks() *peakSampler {
	p := &peakSampler{stop: make(chan struct{}), done: make(chan struct{}), gcPercent: debug.SetGCPercent(10)}
	runtime.GC()
	p.baseHeap = heapObjects()
	go func() {
		defer close(p.done)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			p.goroutines = max(p.goroutines, runtime.NumGoroutine())
			p.heap = max(p.heap, heapObjects())
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// end stops sampling; it returns the peak goroutines and the peak heap
// growth over the heap at start.
func (p *peakSampler) end() (int, uint64) {
	close(p.stop)
	<-p.done
	debug.SetGCPercent(p.gcPercent)
	if p.heap < p.baseHeap {
		return p.goroutines, 0
	}
	return p.goroutines, p.heap - p.baseHeap
}

// appendCmd appends one RESP command (the raw requests of the limits
// tests and the benchmarks).
func appendCmd(b []byte, args ...string) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, "\r\n"...)
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, "\r\n"...)
		b = append(b, a...)
		b = append(b, "\r\n"...)
	}
	return b
}

// pipeline sends cmds on a new connection to addr in one write and reads
// as many replies, calling each for every reply.
func pipeline(addr string, cmds []byte, n int, each func(resp.Value)) error {
	nc, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return err
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Minute))
	werr := make(chan error, 1)
	go func() {
		_, err := nc.Write(cmds)
		werr <- err
	}()
	br := bufio.NewReader(nc)
	for i := 0; i < n; i++ {
		v, err := resp.ReadValue(br, resp.Limits{})
		if err != nil {
			return fmt.Errorf("reply %d of %d: %w", i, n, err)
		}
		each(v)
	}
	return <-werr
}

// 40 connections × 1024 pipelined SESSION.TOUCH once made 60,000
// goroutines and 516 MB RSS. The node-wide cap on running requests
// (MaxRunning, default 4096) answers the excess BUSY instead.
func TestFloodPipelinedTouch(t *testing.T) {
	c := startCluster(t, 1, nil)
	addr := c.cfgs[0].ClientAddr
	const conns, perConn = 40, 1024
	var cmds []byte
	for i := range perConn {
		cmds = appendCmd(cmds, "SESSION.TOUCH", fmt.Sprintf("no-such-session-%06d", i))
	}
	base := runtime.NumGoroutine()
	peaks := startPeaks()
	var (
		wg           sync.WaitGroup
		mu           sync.Mutex
		counts, busy int
		errs         []error
	)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := pipeline(addr, cmds, perConn, func(v resp.Value) {
				mu.Lock()
				defer mu.Unlock()
				switch code := errCode(v); {
				case code == wire.CodeBusy, code == wire.CodeIndeterminate, code == wire.CodeUnavailable:
					// Refused, or timed out in the queue: an overloaded
					// node may answer either, as long as it answers.
					busy++
				case code == "" && v.Kind == resp.Integer:
					counts++
				default:
					errs = append(errs, fmt.Errorf("unexpected reply %v", v))
				}
			})
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	goroutines, heap := peaks.end()
	if len(errs) > 0 {
		t.Fatalf("%d errors, first: %v", len(errs), errs[0])
	}
	if counts+busy != conns*perConn {
		t.Fatalf("%d replies, want %d", counts+busy, conns*perConn)
	}
	maxRunning := resp.DefaultServerConfig().MaxRunning
	// The bound: twice the running cap (a running request whose deadline
	// fires has its context cancelled on a goroutine of the timer's, for
	// a moment), a few goroutines per connection (its reader and writer,
	// the test's own), and what the node had before. Without the cap
	// every pipelined request had its goroutine: 40,960 here.
	bound := base + 2*maxRunning + conns*4 + 300
	const heapBound = 64 << 20
	t.Logf("%d touched, %d BUSY or timed out; peak goroutines %d (bound %d), peak heap growth %d MiB (bound %d MiB)",
		counts, busy, goroutines, bound, heap>>20, heapBound>>20)
	if goroutines > bound {
		t.Errorf("peak goroutines %d exceed %d", goroutines, bound)
	}
	if heap > heapBound {
		t.Errorf("peak heap growth %d MiB exceeds %d MiB", heap>>20, heapBound>>20)
	}
}

// 60 pipelined SESSION.LIST of a big subject once took RSS to 2.5 GB: each
// reply held every session. Now an unpaged LIST of a subject larger than a
// page is refused, and a page holds at most LIMIT records.
func TestFloodPipelinedList(t *testing.T) {
	// A long request timeout: the creates must all succeed on a loaded
	// machine (the test helpers' own deadline is 10s).
	c := startCluster(t, 1, func(cfg *Config) { cfg.RequestTimeout = 8 * time.Second })
	addr := c.cfgs[0].ClientAddr
	const sessions, chunk, valueBytes = 8000, 500, 512
	value := strings.Repeat("v", valueBytes)
	var creates []byte
	for range chunk {
		creates = appendCmd(creates, "SESSION.CREATE", "SUBJECT", "big", "FIELDS", "f", value)
	}
	for range sessions / chunk {
		if err := pipeline(addr, creates, chunk, func(v resp.Value) {
			if err := v.Err(); err != nil {
				t.Fatalf("create: %v", err)
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	cl := &clientT{t: t, c: c.client(0)}
	if code := errCode(cl.do("SESSION.LIST", "big")); code != wire.CodeTooLarge {
		t.Fatalf("unpaged LIST of %d sessions: code %q, want TOOLARGE", sessions, code)
	}

	const lists = 60
	var cmds []byte
	for range lists {
		cmds = appendCmd(cmds, "SESSION.LIST", "big", "LIMIT", "1000", "CURSOR", "0")
		cmds = appendCmd(cmds, "SESSION.LIST", "big")
	}
	peaks := startPeaks()
	pages := 0
	err := pipeline(addr, cmds, 2*lists, func(v resp.Value) {
		switch {
		case errCode(v) == wire.CodeTooLarge, errCode(v) == wire.CodeBusy, errCode(v) == wire.CodeUnavailable:
			// Refused, or timed out waiting its turn (a -race build on
			// two cores builds these pages slowly): the bound under test
			// is memory, and an overloaded node may answer either.
		case v.Kind == resp.Array && len(v.Elems) == 2 && len(v.Elems[1].Elems) == 1000:
			pages++
		default:
			t.Errorf("unexpected reply of kind %v (%d elements): %v", v.Kind, len(v.Elems), v.Err())
		}
	})
	_, heap := peaks.end()
	if err != nil {
		t.Fatal(err)
	}
	// A page of 1000 records of ~600 bytes, encoded, is under 1 MiB; 60
	// of them built at once, plus the client side's parsed copies, stay
	// far under the bound. Unpaged, the 60 replies of 8000 records each
	// were over 300 MiB.
	const heapBound = 128 << 20
	t.Logf("%d pages; peak heap growth %d MiB (bound %d MiB)", pages, heap>>20, heapBound>>20)
	if pages == 0 {
		t.Error("no full page (every request BUSY)")
	}
	if heap > heapBound {
		t.Errorf("peak heap growth %d MiB exceeds %d MiB", heap>>20, heapBound>>20)
	}
}

// walkList pages through subject with LIMIT limit and returns the ids in
// the order they came.
func walkList(t *testing.T, cl *clientT, subject string, limit int, extra ...string) []string {
	t.Helper()
	var ids []string
	cursor := "0"
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("the walk does not end")
		}
		args := append([]string{"SESSION.LIST", subject, "LIMIT", strconv.Itoa(limit), "CURSOR", cursor}, extra...)
		v := cl.ok(args...)
		if v.Kind != resp.Array || len(v.Elems) != 2 {
			t.Fatalf("page: %v", v)
		}
		if n := len(v.Elems[1].Elems); n > limit {
			t.Fatalf("page of %d records, LIMIT %d", n, limit)
		}
		for _, r := range v.Elems[1].Elems {
			ids = append(ids, asMap(t, r)["id"].Str)
		}
		if cursor = v.Elems[0].Str; cursor == "0" {
			return ids
		}
	}
}

// Paging across groups, through forwarding: every session once, in id
// order, from every node and at every level.
func TestListPagingAcrossGroups(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) { cfg.RequestTimeout = 8 * time.Second })
	cl0 := &clientT{t: t, c: c.client(0)}
	var want []string
	for i := range 120 {
		want = append(want, createRetry(t, cl0, "pager", "pager-"+strconv.Itoa(i)))
	}
	createRetry(t, cl0, "someone-else", "other")
	sortStrings(want)
	for i := range 3 {
		cl := &clientT{t: t, c: c.client(i)}
		got := walkList(t, cl, "pager", 7)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("node %d: walked %d ids, want %d in order", i, len(got), len(want))
		}
		if got := walkList(t, cl, "pager", 50, "CONSISTENCY", "leader"); len(got) != len(want) {
			t.Fatalf("node %d, leader reads: %d ids", i, len(got))
		}
		// The unpaged form keeps its shape for a subject of one page.
		if v := cl.ok("SESSION.LIST", "pager"); len(v.Elems) != len(want) {
			t.Fatalf("node %d unpaged: %d records", i, len(v.Elems))
		}
	}
	for _, bad := range [][]string{
		{"SESSION.LIST", "pager", "LIMIT", "0"},
		{"SESSION.LIST", "pager", "LIMIT", "1001"},
		{"SESSION.LIST", "pager", "CURSOR", "not-a-cursor!"},
		{"SESSION.LIST", "pager", "LIMIT"},
	} {
		if code := errCode(cl0.do(bad...)); code != wire.CodeBadArg {
			t.Errorf("%v: code %q, want BADARG", bad, code)
		}
	}
}

// createRetry creates a session of subject with request id reqID, resending
// it (it applies at most once) while the cluster answers that the outcome
// is unknown or nothing was applied: leadership moves on a loaded machine.
func createRetry(t *testing.T, cl *clientT, subject, reqID string) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		v := cl.do("SESSION.CREATE", "SUBJECT", subject, "REQID", reqID)
		switch errCode(v) {
		case "":
			return asMap(t, v)["id"].Str
		case wire.CodeIndeterminate, wire.CodeUnavailable, wire.CodeNotLeader, wire.CodeBusy:
			if time.Now().After(deadline) {
				t.Fatalf("create %s: %v", reqID, v.Err())
			}
		default:
			t.Fatalf("create %s: %v", reqID, v.Err())
		}
	}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// A flood of 4 MiB records stops at --max-memory with Redis's OOM reply,
// while reads, destroys, revokes and unsets keep working, and writes work
// again once memory is freed.
func TestMemoryQuotaFlood(t *testing.T) {
	const quota = 48 << 20
	c := startCluster(t, 1, func(cfg *Config) {
		cfg.MaxMemory = quota
		cfg.Limits.MaxValueBytes = 4 << 20
		cfg.RequestTimeout = 8 * time.Second // 4 MiB writes on a loaded machine
	})
	n := c.node(0)
	cl := &clientT{t: t, c: c.client(0)}
	value := strings.Repeat("x", 4<<20-1024) // a record just under MaxRecordBytes
	var ids []string
	var oom resp.Value
	for i := 0; ; i++ {
		if i > 2*quota/len(value) {
			t.Fatalf("no OOM after %d records of 4 MiB with a %d MiB quota", i, quota>>20)
		}
		v := cl.do("SESSION.CREATE", "SUBJECT", "flood", "FIELDS", "f", value)
		if errCode(v) != "" {
			oom = v
			break
		}
		ids = append(ids, asMap(t, v)["id"].Str)
	}
	if errCode(oom) != wire.CodeOOM || oom.Err().Error() != "OOM command not allowed when used memory > 'maxmemory'." {
		t.Fatalf("flood ended with %v, want Redis's OOM", oom.Err())
	}
	// One record of slack at most: the check admits a write while usage
	// is under the quota.
	if used := n.memoryUsage(); used > quota+int64(len(value))+64<<10 {
		t.Fatalf("usage %d exceeds the quota %d by more than one record", used, quota)
	}
	if !strings.Contains(cl.ok("INFO").Str, "maxmemory:"+strconv.Itoa(quota)) {
		t.Error("INFO does not show maxmemory")
	}
	// Writes that add data are refused, also a small set and a rotate...
	for _, args := range [][]string{
		{"SESSION.CREATE", "SUBJECT", "small"},
		{"SESSION.SET", ids[0], "g", "1"},
		{"SESSION.ROTATE", ids[0]},
	} {
		if code := errCode(cl.do(args...)); code != wire.CodeOOM {
			t.Errorf("%s above the quota: code %q, want OOM", args[0], code)
		}
	}
	// ...while reads and writes that free or keep memory work.
	cl.ok("SESSION.GET", ids[0], "NOTOUCH")
	cl.ok("SESSION.LIST", "flood", "LIMIT", "1", "CURSOR", "0")
	cl.ok("SESSION.TOUCH", ids[0])
	cl.ok("SESSION.SET", ids[1], "TTL", "1h")
	cl.ok("SESSION.UNSET", ids[1], "f")
	if got := cl.ok("SESSION.DESTROY", ids[2], ids[3]).Int; got != 2 {
		t.Fatalf("destroy above the quota: %d", got)
	}
	if got := cl.ok("SESSION.REVOKE", "flood", "EXCEPT", ids[0]).Int; got == 0 {
		t.Fatal("revoke above the quota removed nothing")
	}
	// Memory freed: writes work again.
	cl.ok("SESSION.CREATE", "SUBJECT", "small")
}

// A client connection that sends nothing is closed after the idle
// timeout; the node's default is 5 minutes.
func TestClientIdleTimeout(t *testing.T) {
	if d := DefaultConfig().RESP.IdleTimeout; d != 5*time.Minute {
		t.Fatalf("default idle timeout %v, want 5m", d)
	}
	c := startCluster(t, 1, func(cfg *Config) { cfg.RESP.IdleTimeout = 200 * time.Millisecond })
	nc, err := net.DialTimeout("tcp", c.cfgs[0].ClientAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// A deadline far beyond the timeout: the read must end by the close.
	_ = nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := nc.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("read on an idle connection: %v, want EOF (closed by the node)", err)
	}
}

// A failed command with a REQID takes no dedup entry: its retry runs
// again instead of replaying the failure.
func TestFailedCommandNotDeduplicated(t *testing.T) {
	c := startCluster(t, 1, func(cfg *Config) { cfg.RequestTimeout = 8 * time.Second })
	cl := &clientT{t: t, c: c.client(0)}
	if code := errCode(cl.do("SESSION.SET", "later-made", "REQID", "r-1", "a", "1")); code != wire.CodeNotFound {
		t.Fatalf("set of a missing session: %q", code)
	}
	cl.ok("SESSION.CREATE", "ID", "later-made")
	if v := cl.do("SESSION.SET", "later-made", "REQID", "r-1", "a", "1"); v.Err() != nil {
		t.Fatalf("retry after the failure replayed it: %v", v.Err())
	}
	// A success is still remembered: the same REQID replays it.
	v1 := cl.ok("SESSION.SET", "later-made", "REQID", "r-2", "b", "1").Int
	if v2 := cl.ok("SESSION.SET", "later-made", "REQID", "r-2", "b", "1").Int; v2 != v1 {
		t.Fatalf("replayed success answered version %d, first %d", v2, v1)
	}
}

// A forwarded write passes the checks a local one does: a forged RPC
// naming too many ids, or carrying an oversized record, is refused before
// it reaches raft.
func TestForwardedWriteLimits(t *testing.T) {
	c := startCluster(t, 1, nil)
	n := c.node(0)
	before := n.groups[0].fsm.AppliedIndex()
	ids := make([]string, maxIDsPerCommand+1)
	for i := range ids {
		ids[i] = "id" + strconv.Itoa(i)
	}
	big := map[string][]byte{"f": make([]byte, 2<<20), "g": make([]byte, 2<<20), "h": make([]byte, 1<<20)}
	for name, cmd := range map[string]fsm.Command{
		"too many ids":     {Type: fsm.CmdDestroy, Destroy: &fsm.Destroy{IDs: ids}},
		"record too large": {Type: fsm.CmdCreate, Create: &fsm.Create{ID: "x", Fields: big}},
		"value too large":  {Type: fsm.CmdSet, Set: &fsm.Set{ID: "x", Fields: map[string][]byte{"f": make([]byte, 2<<20)}}},
	} {
		payload := fsm.AppendCommand(binary.AppendUvarint(nil, 0), &cmd)
		got := make(chan error, 1)
		n.handleWriteRPC(context.Background(), payload, func(_ []byte, err error) { got <- err })
		var err error
		select {
		case err = <-got:
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: no answer", name)
		}
		if code := codeOf(err); code != wire.CodeTooLarge {
			t.Errorf("%s: %v (code %q), want TOOLARGE", name, err, code)
		}
	}
	if after := n.groups[0].fsm.AppliedIndex(); after != before {
		// Only the leader's own empty entries may have been applied.
		if n.groups[0].fsm.Len() != 0 {
			t.Fatalf("a refused write was applied")
		}
	}
	cfg := DefaultConfig()
	if cap := cfg.rpcFrameCap(); cap < cfg.maxCommandBytes() || cap < maxListBytes+2*cfg.Limits.MaxRecordBytes {
		t.Fatalf("frame cap %d is smaller than a command (%d) or a list page", cap, cfg.maxCommandBytes())
	}
}
