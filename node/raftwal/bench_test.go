package raftwal

import (
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// BenchmarkAppend compares one durable StoreLogs call (fsync on) of this
// log, with and without preallocation, with raft-boltdb's, configured as
// the node used to configure it, for a single 400-byte entry (one client
// write, group commit idle) and for 16 (a busy leader's batch). ns/op is
// the latency of one append, cpu-ns/op the process's CPU time (user and
// system) per append.
//
//	go test -run XXX -bench Append -benchtime 2000x ./node/raftwal
func BenchmarkAppend(b *testing.B) {
	data := make([]byte, 400)
	wal := func(o Options) func(b *testing.B) raft.LogStore {
		return func(b *testing.B) raft.LogStore {
			l, err := Open(b.TempDir(), o)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { l.Close() })
			return l
		}
	}
	stores := map[string]func(b *testing.B) raft.LogStore{
		"raftwal":         wal(Options{}),
		"raftwal-growing": wal(Options{PreallocBytes: -1}),
		"raftboltdb": func(b *testing.B) raft.LogStore {
			s, err := raftboltdb.New(raftboltdb.Options{
				Path:        filepath.Join(b.TempDir(), "raft.db"),
				BoltOptions: &bbolt.Options{NoFreelistSync: true, FreelistType: bbolt.FreelistMapType},
			})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		},
	}
	for _, name := range []string{"raftwal", "raftwal-growing", "raftboltdb"} {
		for _, batch := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/batch=%d", name, batch), func(b *testing.B) {
				s := stores[name](b)
				logs := make([]*raft.Log, batch)
				next := uint64(1)
				b.SetBytes(int64(batch * len(data)))
				b.ResetTimer()
				cpu0 := processCPU()
				defer func() { b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op") }()
				for range b.N {
					for k := range logs {
						logs[k] = &raft.Log{Index: next, Term: 1, Type: raft.LogCommand, Data: data}
						next++
					}
					if err := s.StoreLogs(logs); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkGetLog reads entries back from the file (raft's LogCache
// serves recent ones; this is a follower catching up).
func BenchmarkGetLog(b *testing.B) {
	l, err := Open(b.TempDir(), Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	data := make([]byte, 400)
	for i := uint64(1); i <= 4096; i++ {
		if err := l.StoreLog(&raft.Log{Index: i, Term: 1, Data: data}); err != nil {
			b.Fatal(err)
		}
	}
	var e raft.Log
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := l.GetLog(uint64(i%4096)+1, &e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen replays a 16 MiB log of 400-byte entries written one per
// StoreLogs (a restart's cost before raft starts).
func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	l, err := Open(dir, Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 400)
	for i := uint64(1); i <= 40000; i++ {
		if err := l.StoreLog(&raft.Log{Index: i, Term: 1, Data: data}); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(l.Bytes())
	l.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		l, err := Open(dir, Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		l.Close()
	}
}

// BenchmarkAppendNoSync is BenchmarkAppend's raftwal case without
// fdatasync: the CPU and write(2) cost of an append alone, which the
// sync's latency hides (and makes noisy) on a shared machine.
func BenchmarkAppendNoSync(b *testing.B) {
	data := make([]byte, 400)
	for _, batch := range []int{1, 16} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			l, err := Open(b.TempDir(), Options{NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			logs := make([]*raft.Log, batch)
			next := uint64(1)
			b.SetBytes(int64(batch * len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				for k := range logs {
					logs[k] = &raft.Log{Index: next, Term: 1, Type: raft.LogCommand, Data: data}
					next++
				}
				if err := l.StoreLogs(logs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
