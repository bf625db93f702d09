package fsm

import "testing"

// The apply benchmarks as a replica runs them: raft entries of loadBatch
// creates (or sets) of the load shape (memory_bench_test.go), decoded
// from bytes. ns/op, B/op and allocs/op are per entry; ns/cmd per command.

const applyEntries = 4096 // 65,536 sessions, then a fresh FSM

// BenchmarkApplyLoadCreate applies the load workload's creates.
func BenchmarkApplyLoadCreate(b *testing.B) { benchmarkApplyCreates(b, loadBatch) }

// BenchmarkApplyBenchCreate applies entries of benchBatch creates: what a
// replica applies under `sr bench --workload create` with 64 clients
// (about 7 creates per raft entry, each with a REQID and one 256-byte
// field, as the load's).
func BenchmarkApplyBenchCreate(b *testing.B) { benchmarkApplyCreates(b, benchBatch) }

const benchBatch = 7

// benchmarkApplyCreates applies the load's creates in entries of per.
func benchmarkApplyCreates(b *testing.B, per int) {
	entries := loadEntriesOf(applyEntries*per, per, 3)
	b.ReportAllocs()
	var f *FSM
	for i := 0; b.Loop(); i++ {
		if i%len(entries) == 0 {
			b.StopTimer()
			f = New(Limits{}) // keep ids fresh
			b.StartTimer()
		}
		if _, err := f.ApplyBatch(uint64(i+1), entries[i%len(entries)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*per), "ns/cmd")
}

// BenchmarkApplyLoadSet overwrites the one field of existing sessions.
func BenchmarkApplyLoadSet(b *testing.B) {
	const n = applyEntries * loadBatch
	f := New(Limits{})
	creates := loadEntries(n, 4)
	for i, e := range creates {
		if _, err := f.ApplyBatch(uint64(i+1), e); err != nil {
			b.Fatal(err)
		}
	}
	recs := f.state.Load().records()
	value := make([]byte, loadValueSize)
	entries := make([][]byte, len(creates))
	for i := range entries {
		batch := &Batch{Time: t0}
		for j := range loadBatch {
			id := recs[i*loadBatch+j].ID()
			batch.Cmds = append(batch.Cmds, cSet(id, 0, map[string][]byte{"v": value}))
		}
		entries[i] = EncodeBatch(batch)
	}
	b.ReportAllocs()
	idx := uint64(len(creates))
	for i := 0; b.Loop(); i++ {
		idx++
		if _, err := f.ApplyBatch(idx, entries[i%len(entries)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*loadBatch), "ns/cmd")
}
