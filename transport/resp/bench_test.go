package resp

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// loopReader serves the same bytes forever.
type loopReader struct {
	data []byte
	off  int
}

func (r *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.data[r.off:])
		n += c
		r.off = (r.off + c) % len(r.data)
	}
	return n, nil
}

func BenchmarkReadCommand(b *testing.B) {
	cmd := appendCommand(nil, []string{"SESSION.SET", "sVb2xq0l5TvK1yHfE0cQ9w", "cart", "three items and a coupon"})
	var data []byte
	for range 64 {
		data = append(data, cmd...)
	}
	rd := NewReader(&loopReader{data: data}, Limits{})
	b.SetBytes(int64(len(cmd)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rd.ReadCommand(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriter(b *testing.B) {
	w := NewWriter(3)
	val := []byte("three items and a coupon")
	b.ReportAllocs()
	for b.Loop() {
		w.Reset()
		w.WriteMapLen(3)
		w.WriteBulkString("id")
		w.WriteBulkString("sVb2xq0l5TvK1yHfE0cQ9w")
		w.WriteBulkString("version")
		w.WriteInt(123456)
		w.WriteBulkString("cart")
		w.WriteBulk(val)
		w.WriteSimple("OK")
		w.WriteError("NOTFOUND", "session not found")
	}
	b.SetBytes(int64(w.Len()))
}

// BenchmarkServerPipeline measures round trips of pipelines of 1 and 64
// commands over loopback TCP against a PING-like handler; ns/op is per
// command.
// sync answers in Dispatch, async in a goroutine per request, deferred by
// one shared goroutine that completes queued replies (as the node's
// linearizable reads do after a shared quorum round), one by one with
// Deferred.Done or ("batched") all that are queued through a DoneBatch.
func BenchmarkServerPipeline(b *testing.B) {
	for _, bc := range []struct {
		mode  string
		depth int
	}{{"sync", 1}, {"sync", 64}, {"async", 64}, {"deferred", 1}, {"deferred", 64}, {"batched", 1}, {"batched", 64}} {
		mode, depth := bc.mode, bc.depth
		b.Run(fmt.Sprintf("%s/depth%d", mode, depth), func(b *testing.B) {
			queue := make(chan Deferred, 1024)
			done := make(chan struct{})
			go func() {
				defer close(done)
				var batch DoneBatch
				for d := range queue {
					d.Reply().WriteSimple("PONG")
					if mode != "batched" {
						d.Done()
						continue
					}
					batch.Done(d)
				more:
					for {
						select {
						case d, ok := <-queue:
							if !ok {
								break more
							}
							d.Reply().WriteSimple("PONG")
							batch.Done(d)
						default:
							break more
						}
					}
					batch.Flush()
				}
			}()
			b.Cleanup(func() { close(queue); <-done })
			h := HandlerFunc(func(c *Conn, args [][]byte, r *Reply) func(context.Context) {
				switch mode {
				case "async":
					return func(context.Context) { r.WriteSimple("PONG") }
				case "deferred", "batched":
					queue <- r.Defer()
					return nil
				}
				r.WriteSimple("PONG")
				return nil
			})
			_, addr := startServer(b, ServerConfig{}, h)
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			var req []byte
			for range depth {
				req = appendCommand(req, []string{"PING"})
			}
			replies := make([]byte, depth*len("+PONG\r\n"))
			br := bufio.NewReader(nc)
			b.ReportAllocs()
			b.ResetTimer()
			defer reportCPU(b, cpuTime(b))
			for i := 0; i < b.N; i += depth {
				if _, err := nc.Write(req); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(br, replies); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// cpuTime is the CPU time (user + system) this process has used.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds cpu-ns/op: the CPU time of the process (server and
// client) per command since start. On a shared, busy machine it moves far
// less than ns/op, which includes waiting for the CPU.
func reportCPU(b *testing.B, start time.Duration) {
	b.Helper()
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
}
