package raftwal

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/internal/crashfs"
)

// TestPowerLoss is the durability property under power loss, on
// crashfs.Mem: random appends (some leaving a gap, as after a
// snapshot install), compactions and suffix truncations, with a crash at a
// random file operation (inside Open too), then a reboot that tears every
// unsynced write and forgets unsynced directory entries, several times in
// a row per seed. After each reboot Open must succeed and the log must be
// exactly what the acknowledged calls made it, entry by entry, byte by
// byte; or that plus the one call the crash interrupted, whole (a write is
// all or nothing).
//
// The bounded run is part of the suite; a longer one:
//
//	RAFTWAL_POWERLOSS_SEEDS=20000 go test -run TestPowerLoss -v ./node/raftwal
func TestPowerLoss(t *testing.T) {
	seeds := 150
	if s := os.Getenv("RAFTWAL_POWERLOSS_SEEDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("RAFTWAL_POWERLOSS_SEEDS=%q: %v", s, err)
		}
		seeds = n
	}
	var st powerLossStats
	for seed := range uint64(seeds) {
		powerLoss(t, seed, &st)
		if t.Failed() {
			return
		}
	}
	t.Logf("%d seeds: %d crash points (%d inside Open), %d acknowledged calls, %d reopens, %d entries checked, %d torn tails cut, %d interrupted calls found whole; nothing lost",
		seeds, st.crashes, st.openCrashes, st.acked, st.reopens, st.checked, st.cut.Load(), st.wholeInflight)
}

type powerLossStats struct {
	crashes, openCrashes, acked, reopens, checked, wholeInflight int
	cut                                                          atomic.Int64
}

// entryModel is what the log must hold: index -> entry.
type entryModel struct {
	first, last uint64
	e           map[uint64]*raft.Log
}

func (m entryModel) clone() entryModel {
	c := entryModel{first: m.first, last: m.last, e: make(map[uint64]*raft.Log, len(m.e))}
	for k, v := range m.e {
		c.e[k] = v
	}
	return c
}

func powerLoss(t *testing.T, seed uint64, st *powerLossStats) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 99))
	fsys := crashfs.NewMem(rng)
	if err := fsys.MkdirAll("/data"); err != nil {
		t.Fatal(err)
	}
	if err := fsys.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(countWriter{&st.cut}, nil))
	o := Options{fs: fsys, SegmentBytes: int64(1024 + rng.IntN(8192)), Logger: logger}
	acked := entryModel{e: map[uint64]*raft.Log{}}
	var inflight *entryModel
	for round := range 8 {
		fsys.CrashAfter(1 + rng.IntN(60))
		o.fs = fsys
		// Each reopen may use other sizes, as another binary or other
		// options would: a smaller SegmentBytes makes rotation cut zeros
		// back from a full segment, a small PreallocBytes fills zeros
		// many times per segment, -1 turns it off (a log both with and
		// without zeros after its records).
		if round > 0 && rng.IntN(2) == 0 {
			o.SegmentBytes = int64(1024 + rng.IntN(8192))
		}
		switch k := rng.IntN(6); {
		case k < 2:
			o.PreallocBytes = 0 // the default, 1 MiB: one fill per segment
		case k < 3:
			o.PreallocBytes = -1
		default:
			o.PreallocBytes = int64(1 + rng.IntN(3000))
		}
		l, err := Open("/data/wal", o)
		if err != nil {
			if !fsys.Crashed() {
				t.Fatalf("seed %d round %d: Open: %v", seed, round, err)
			}
			st.crashes++
			st.openCrashes++
			fsys = fsys.Image()
			continue
		}
		st.reopens++
		got, err := readEntries(l)
		switch {
		case err != nil && fsys.Crashed():
			// The crash came inside Open after it had read the log; the
			// next round checks.
			l.Close()
			st.crashes++
			st.openCrashes++
			fsys = fsys.Image()
			continue
		case err != nil:
			t.Fatalf("seed %d round %d: read back: %v", seed, round, err)
		case sameEntries(got, acked):
		case inflight != nil && sameEntries(got, *inflight):
			acked = *inflight
			st.wholeInflight++
		default:
			t.Fatalf("seed %d round %d: after the crash the log is %s; acknowledged: %s; interrupted call: %s",
				seed, round, describeModel(got), describeModel(acked), describeModel(deref(inflight)))
		}
		st.checked += len(got.e)
		inflight = nil
		for !fsys.Crashed() {
			next, err := randomCall(rng, l, acked)
			if err != nil {
				if !fsys.Crashed() {
					t.Fatalf("seed %d round %d: %v", seed, round, err)
				}
				inflight = &next
				break
			}
			acked = next
			st.acked++
		}
		st.crashes++
		l.Close()
		fsys = fsys.Image()
	}
	// A last reboot with no crash: everything acknowledged is there.
	o.fs = fsys
	l, err := Open("/data/wal", o)
	if err != nil {
		t.Fatalf("seed %d: final Open: %v", seed, err)
	}
	defer l.Close()
	got, err := readEntries(l)
	if err != nil {
		t.Fatalf("seed %d: final read: %v", seed, err)
	}
	if !sameEntries(got, acked) && (inflight == nil || !sameEntries(got, *inflight)) {
		t.Fatalf("seed %d: final log %s, acknowledged %s", seed, describeModel(got), describeModel(acked))
	}
	st.checked += len(got.e)
}

func deref(m *entryModel) entryModel {
	if m == nil {
		return entryModel{}
	}
	return *m
}

type countWriter struct{ n *atomic.Int64 }

func (w countWriter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("torn final write")) {
		w.n.Add(1)
	}
	return len(p), nil
}

// randomCall makes one raft-like call on l and returns the model it leads
// to from m, with the call's error.
func randomCall(rng *rand.Rand, l *Log, m entryModel) (entryModel, error) {
	next := m.clone()
	switch r := rng.IntN(10); {
	case r < 6 || m.last == 0:
		start := m.last + 1
		if m.last == 0 {
			start = uint64(rng.IntN(100) + 1)
		} else if rng.IntN(12) == 0 { // past a snapshot: the older entries go
			start += uint64(rng.IntN(30) + 1)
			next = entryModel{e: map[uint64]*raft.Log{}}
		}
		term := uint64(1)
		if e := m.e[m.last]; e != nil {
			term = e.Term + uint64(rng.IntN(2))
		}
		n := 1 + rng.IntN(4)
		if rng.IntN(6) == 0 {
			n = 10 + rng.IntN(30) // a batch over several pages
		}
		batch := make([]*raft.Log, n)
		for k := range batch {
			batch[k] = randomEntry(rng, start+uint64(k), term)
			next.e[batch[k].Index] = batch[k]
		}
		if next.last == 0 {
			next.first = start
		}
		next.last = start + uint64(n) - 1
		return next, l.StoreLogs(batch)
	case r < 8: // compact a prefix
		max := m.first + uint64(rng.IntN(int(m.last-m.first+1)))
		for i := m.first; i <= max; i++ {
			delete(next.e, i)
		}
		if max == m.last {
			next.first, next.last = 0, 0
		} else {
			next.first = max + 1
		}
		return next, l.DeleteRange(m.first, max)
	default: // truncate a suffix
		min := m.first + uint64(rng.IntN(int(m.last-m.first+1)))
		for i := min; i <= m.last; i++ {
			delete(next.e, i)
		}
		if min == m.first {
			next.first, next.last = 0, 0
		} else {
			next.last = min - 1
		}
		return next, l.DeleteRange(min, m.last)
	}
}

// randomEntry has data of any size up to a few sectors, sometimes with
// long runs of zeros (which a torn sector also leaves).
func randomEntry(rng *rand.Rand, i, term uint64) *raft.Log {
	e := &raft.Log{Index: i, Term: term, Type: raft.LogType(rng.IntN(6))}
	size := rng.IntN(200)
	if rng.IntN(4) == 0 {
		size = rng.IntN(1800)
	}
	e.Data = make([]byte, size)
	if rng.IntN(5) != 0 {
		for k := range e.Data {
			e.Data[k] = byte(rng.IntN(256))
		}
		if size > 600 && rng.IntN(2) == 0 {
			z := rng.IntN(size - 550)
			clear(e.Data[z : z+550])
		}
	}
	if size == 0 {
		e.Data = nil
	}
	if rng.IntN(4) == 0 {
		e.Extensions = []byte(fmt.Sprint("ext", rng.IntN(1000)))
	}
	if rng.IntN(2) == 0 {
		e.AppendedAt = time.Unix(0, rng.Int64N(1<<62))
	}
	return e
}

// readEntries reads the whole log back.
func readEntries(l *Log) (entryModel, error) {
	m := entryModel{e: map[uint64]*raft.Log{}}
	m.first, _ = l.FirstIndex()
	m.last, _ = l.LastIndex()
	for i := m.first; i != 0 && i <= m.last; i++ {
		e := new(raft.Log)
		if err := l.GetLog(i, e); err != nil {
			return m, err
		}
		m.e[i] = e
	}
	var e raft.Log
	if err := l.GetLog(m.last+1, &e); !errors.Is(err, raft.ErrLogNotFound) {
		return m, fmt.Errorf("GetLog(last+1 = %d): %v", m.last+1, err)
	}
	return m, nil
}

func sameEntries(a, b entryModel) bool {
	if a.first != b.first || a.last != b.last || len(a.e) != len(b.e) {
		return false
	}
	for i, x := range a.e {
		y := b.e[i]
		if y == nil || x.Index != y.Index || x.Term != y.Term || x.Type != y.Type || !bytes.Equal(x.Data, y.Data) ||
			!bytes.Equal(x.Extensions, y.Extensions) || !x.AppendedAt.Equal(y.AppendedAt) {
			return false
		}
	}
	return true
}

func describeModel(m entryModel) string {
	if m.last == 0 {
		return "empty"
	}
	var terms []string
	for i := m.first; i <= m.last && i < m.first+8; i++ {
		if e := m.e[i]; e != nil {
			terms = append(terms, fmt.Sprintf("%d:t%d/%dB", i, e.Term, len(e.Data)))
		}
	}
	return fmt.Sprintf("[%d, %d] %s", m.first, m.last, strings.Join(terms, " "))
}
