package fsm

import (
	"bytes"
	"encoding/base64"
	"flag"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"
)

// -heapprofile writes a heap profile while the benchmark's state is still
// live (go test -memprofile is written after the benchmarks, when the
// state is garbage). Read it with go tool pprof -sample_index=inuse_space.
var heapProfile = flag.String("heapprofile", "", "write a heap profile of the live state of the memory benchmarks to this file")

// The memory benchmarks model `sessionraft bench --workload load`: every
// session is made by the Go client with its own 22-character id and a
// 22-character REQID, one field "v" holding a 256-byte value, and a
// one-hour absolute TTL. Commands arrive in raft entries of loadBatch
// creates, decoded from bytes as on a real replica, with the log clock
// moving on as the load did (331 s for a million sessions). Run them with
// -benchtime 1x: one iteration builds the whole state.

const (
	loadValueSize = 256
	loadBatch     = 16
	loadTTL       = int64(time.Hour)
	// loadRate is the creates per second of log time: the dev cluster's
	// 3,020/s over 3 groups.
	loadRate = 1000
)

// loadEntries returns n creates encoded as raft entries of loadBatch
// creates, deterministic for a given seed.
func loadEntries(n int, seed uint64) [][]byte { return loadEntriesOf(n, loadBatch, seed) }

// loadEntriesOf is loadEntries with per creates in each entry.
func loadEntriesOf(n, per int, seed uint64) [][]byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	token := func() string {
		var b [16]byte
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return base64.RawURLEncoding.EncodeToString(b[:])
	}
	value := bytes.Repeat([]byte{'x'}, loadValueSize)
	var out [][]byte
	for i := 0; i < n; i += per {
		b := &Batch{Time: t0 + int64(i)*int64(time.Second)/loadRate}
		for range min(per, n-i) {
			c := cCreate(token(), "", map[string][]byte{"v": value}, 0, loadTTL)
			c.ReqID = token()
			b.Cmds = append(b.Cmds, c)
		}
		out = append(out, EncodeBatch(b))
	}
	return out
}

// writeHeapProfile writes the heap profile asked for by -heapprofile, if
// any; name tells benchmarks apart.
func writeHeapProfile(b *testing.B, name string) {
	b.Helper()
	if *heapProfile == "" {
		return
	}
	runtime.GC()
	f, err := os.Create(*heapProfile + "." + name)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
}

// heapInuse returns HeapInuse after two full collections, so only live
// memory (and its allocator slack) remains.
func heapInuse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// benchmarkMemory applies n load creates and reports the heap they hold,
// in bytes per session.
func benchmarkMemory(b *testing.B, n int) {
	entries := loadEntries(n, 1)
	b.ReportAllocs()
	for b.Loop() {
		before := heapInuse()
		f := New(Limits{})
		for i, e := range entries {
			if _, err := f.ApplyBatch(uint64(i+1), e); err != nil {
				b.Fatal(err)
			}
		}
		after := heapInuse()
		if f.Len() != n {
			b.Fatalf("%d records, want %d", f.Len(), n)
		}
		b.ReportMetric(float64(after-before)/float64(n), "B/session")
		writeHeapProfile(b, b.Name())
		runtime.KeepAlive(f)
	}
}

// BenchmarkMemory1M is the target state: a million sessions in
// one FSM (a node holds three groups of a third each; the total is what
// counts).
func BenchmarkMemory1M(b *testing.B) { benchmarkMemory(b, 1_000_000) }

// BenchmarkMemory100k is the quick version for iterating.
func BenchmarkMemory100k(b *testing.B) { benchmarkMemory(b, 100_000) }

// BenchmarkRestore333k restores one group's share of the million-session
// state (as each dev node does three times at startup) and reports the
// heap the restored state holds.
func BenchmarkRestore333k(b *testing.B) {
	const n = 333_334
	f := New(Limits{})
	for i, e := range loadEntries(n, 2) {
		if _, err := f.ApplyBatch(uint64(i+1), e); err != nil {
			b.Fatal(err)
		}
	}
	var snap bytes.Buffer
	s, err := f.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.WriteTo(&snap); err != nil {
		b.Fatal(err)
	}
	s.Release()
	f = nil
	b.SetBytes(int64(snap.Len()))
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer() // the collections in heapInuse are not the restore's
		before := heapInuse()
		b.StartTimer()
		g := New(Limits{})
		if err := g.Restore(bytes.NewReader(snap.Bytes())); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		b.ReportMetric(float64(heapInuse()-before)/float64(n), "B/session")
		writeHeapProfile(b, b.Name())
		runtime.KeepAlive(g)
		g = nil
		b.StartTimer()
	}
}
