package fsm

import (
	"io"
	"math/rand/v2"
	"strconv"
	"testing"
)

func createBatch(first, n int, at int64) *Batch {
	b := &Batch{Time: at, Cmds: make([]Command, n)}
	for i := range b.Cmds {
		id := "session-" + strconv.Itoa(first+i) + "-abcdefghijklmnop"
		b.Cmds[i] = cCreate(id, "user-"+strconv.Itoa((first+i)%1000),
			flds("uid", "12345", "cart", "some cart contents of moderate size"), 30*60*sec, 24*3600*sec)
	}
	return b
}

// BenchmarkApplyCreate applies raft entries of 64 creates each, decoding
// included; ns/op is per entry.
func BenchmarkApplyCreate(b *testing.B) {
	entries := make([][]byte, 256)
	for i := range entries {
		entries[i] = EncodeBatch(createBatch(i*64, 64, t0))
	}
	b.ReportAllocs()
	var f *FSM
	idx := uint64(0)
	for i := 0; b.Loop(); i++ {
		if i%len(entries) == 0 {
			b.StopTimer()
			f = New(Limits{}) // keep ids fresh
			b.StartTimer()
		}
		idx++
		if _, err := f.ApplyBatch(idx, entries[i%len(entries)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/cmd")
}

// fill returns an FSM with n records created in batches of 64.
func fill(b *testing.B, n int) *FSM {
	b.Helper()
	f := New(Limits{})
	for i := 0; i < n; i += 64 {
		f.ApplyDecoded(uint64(i/64+1), createBatch(i, min(64, n-i), t0))
	}
	return f
}

func BenchmarkGet(b *testing.B) {
	const n = 100_000
	f := fill(b, n)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(rand.Uint64(), 0))
		for pb.Next() {
			id := "session-" + strconv.Itoa(rng.IntN(n)) + "-abcdefghijklmnop"
			if _, ok := f.Get(id, t0); !ok {
				b.Fatal("missing", id)
			}
		}
	})
}

// BenchmarkSnapshot captures and writes a 100k-record snapshot.
func BenchmarkSnapshot(b *testing.B) {
	f := fill(b, 100_000)
	b.ReportAllocs()
	for b.Loop() {
		s, err := f.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		n, err := s.WriteTo(io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		s.Release()
		b.SetBytes(n)
	}
}

// BenchmarkSnapshotCapture is the part that blocks the apply goroutine.
func BenchmarkSnapshotCapture(b *testing.B) {
	f := fill(b, 100_000)
	for b.Loop() {
		s, _ := f.Snapshot()
		s.Release()
	}
}

func BenchmarkEncodeBatch(b *testing.B) {
	batch := createBatch(0, 64, t0)
	b.ReportAllocs()
	for b.Loop() {
		b.SetBytes(int64(len(EncodeBatch(batch))))
	}
}

func BenchmarkDecodeBatch(b *testing.B) {
	data := EncodeBatch(createBatch(0, 64, t0))
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := DecodeBatch(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExpired finds the next sweep batch among 1M records.
func BenchmarkExpired(b *testing.B) {
	f := New(Limits{})
	rng := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < 1_000_000; i += 1000 {
		cmds := make([]Command, 1000)
		for j := range cmds {
			cmds[j] = cCreate("s"+strconv.Itoa(i+j), "", nil, 0, 1+rng.Int64N(3600*sec))
		}
		f.ApplyDecoded(uint64(i/1000+1), &Batch{Time: t0, Cmds: cmds})
	}
	b.ResetTimer()
	for b.Loop() {
		if got := f.Expired(t0+1800*sec, 1000); len(got) != 1000 {
			b.Fatal(len(got))
		}
	}
}
