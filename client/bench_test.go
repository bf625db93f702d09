//go:build unix

package client

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// The benchmarks run against the shared three-process cluster on loopback,
// 32 goroutines per CPU sharing one Client (and so a few pipelined
// connections per node), as a web service's handlers would.
const benchParallelism = 32

func BenchmarkGet(b *testing.B) {
	if testing.Short() {
		b.Skip("needs the test cluster's full speed")
	}
	for _, level := range []Consistency{Linearizable, Leader, Stale} {
		b.Run(string(level), func(b *testing.B) {
			c := newClient(b, Config{})
			ctx := context.Background()
			ids := make([]string, 64)
			for i := range ids {
				s, err := c.Create(ctx, WithField("cart", []byte("3")))
				if err != nil {
					b.Fatal(err)
				}
				ids[i] = s.ID
			}
			// Stale replicas must have the sessions before the clock starts.
			for _, id := range ids {
				if _, err := c.Get(ctx, id, WithConsistency(Linearizable)); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			cpu := startCPU(b)
			b.SetParallelism(benchParallelism)
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					if _, err := c.Get(ctx, ids[i%len(ids)], WithConsistency(level), WithoutTouch()); err != nil && level != Stale {
						b.Error(err)
						return
					}
				}
			})
			cpu.report()
		})
	}
}

// BenchmarkGetSerial is one caller's latency: leader reads, one at a time.
func BenchmarkGetSerial(b *testing.B) {
	if testing.Short() {
		b.Skip("needs the test cluster's full speed")
	}
	c := newClient(b, Config{})
	ctx := context.Background()
	s, err := c.Create(ctx, WithField("cart", []byte("3")))
	if err != nil {
		b.Fatal(err)
	}
	cpu := startCPU(b)
	for b.Loop() {
		if _, err := c.Get(ctx, s.ID, WithConsistency(Leader), WithoutTouch()); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report()
}

// cpuMeter reports the benchmark process's CPU time (user and system) per
// op as cpu-ns/op: the client's cost alone, since the cluster runs in
// other processes. On a small shared machine it varies far less than
// ns/op, which mostly measures the servers.
type cpuMeter struct {
	b     *testing.B
	start time.Duration
}

func startCPU(b *testing.B) *cpuMeter { return &cpuMeter{b, processCPU(b)} }

func (m *cpuMeter) report() {
	if m.b.N > 0 {
		m.b.ReportMetric(float64(processCPU(m.b)-m.start)/float64(m.b.N), "cpu-ns/op")
	}
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkCreate(b *testing.B) {
	if testing.Short() {
		b.Skip("needs the test cluster's full speed")
	}
	c := newClient(b, Config{})
	ctx := context.Background()
	b.SetParallelism(benchParallelism)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Create(ctx, WithSubject("bench"), WithField("cart", []byte("3"))); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkSet(b *testing.B) {
	if testing.Short() {
		b.Skip("needs the test cluster's full speed")
	}
	c := newClient(b, Config{})
	ctx := context.Background()
	s, err := c.Create(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(benchParallelism)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Set(ctx, s.ID, map[string][]byte{"cart": []byte("3")}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkParseSession decodes one recorded SESSION.GET reply, without the
// network: its allocs/op are deterministic, unlike the cluster benchmarks'.
func BenchmarkParseSession(b *testing.B) {
	c := newClient(b, Config{})
	ctx := context.Background()
	s, err := c.Create(ctx, WithSubject("bench"), WithFields(map[string][]byte{
		"cart": []byte("3"), "user": []byte("u-1234567"), "theme": []byte("dark")}))
	if err != nil {
		b.Fatal(err)
	}
	var reply rueidis.RedisMessage
	err = c.call(ctx, &request{op: "get", kind: read, level: Linearizable, key: s.ID,
		args: []string{"SESSION.GET", s.ID, "NOTOUCH"},
		parse: func(m *rueidis.RedisMessage) error {
			reply = *m
			return nil
		}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseSession(&reply); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCachedGet: session reads answered by the client-side cache in
// one process (the target is 1,000,000/s), 64 sessions read by every
// goroutine in turn.
func BenchmarkCachedGet(b *testing.B) {
	c := newClient(b, Config{CacheSize: 1024, CacheReads: true})
	ctx := context.Background()
	ids := make([]string, 64)
	for i := range ids {
		s, err := c.Create(ctx, WithField("cart", []byte("3")))
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = s.ID
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, id := range ids {
		for !cacheHit(c, id) {
			if time.Now().After(deadline) {
				b.Fatal("the sessions were not cached within 20s")
			}
			if _, err := c.Get(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := c.Get(ctx, ids[i&63]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
}
