//go:build unix

package client

import (
	"bufio"
	"context"
	"fmt"
	"hash/maphash"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/transport/wire"
)

// BenchmarkGetCanned measures the client's own cost per Get: one node
// that answers every SESSION.GET at once with the same record (a 256 B
// field, as sr bench's), in this process, so there is no raft, no
// replica and no other process in the figure. The fake node's work is
// the same whatever the client does; allocs/op include none of it.
//
// The node answers in the packed form (SESSION.GET ... PACKED, what a Get
// asks for), or in the map form ("map": what a server older than PACKED
// answers, and what every Get read before it).
func BenchmarkGetCanned(b *testing.B) {
	for _, form := range []string{"packed", "map"} {
		for _, level := range []Consistency{Linearizable, Stale} {
			b.Run(form+"/"+string(level), func(b *testing.B) {
				benchmarkGetCanned(b, form, level)
			})
		}
	}
}

func benchmarkGetCanned(b *testing.B, form string, level Consistency) {
	reply := cannedReply()
	if form == "packed" {
		reply = cannedPackedReply()
	}
	c := cannedClient(b, fakeNode(b, func(nc net.Conn) { serveCanned(nc, reply) }))
	ctx := context.Background()
	if _, err := c.Get(ctx, "AAAAAAAAAAAAAAAAAAAAAA", WithConsistency(level)); err != nil {
		b.Fatal(err)
	}
	cpu := startCPU(b)
	b.ReportAllocs()
	b.ResetTimer()
	b.SetParallelism(benchParallelism)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Get(ctx, "AAAAAAAAAAAAAAAAAAAAAA", WithConsistency(level)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	cpu.report()
}

// cannedPackedReply is cannedReply's record in the packed form.
func cannedPackedReply() []byte {
	rec := wire.Record{ID: "AAAAAAAAAAAAAAAAAAAAAA", Version: 13761, CreatedMS: 1796404783657, LastAccessMS: 1796404783657}
	value := []byte(strings.Repeat("x", 256))
	p := wire.AppendPacked(nil, &rec, 1, func(yield func(string, []byte) bool) { yield("v", value) })
	return fmt.Appendf(nil, "$%d\r\n%s\r\n", len(p), p)
}

// cannedReply is a SESSION.GET reply as a node sends it (RESP2).
func cannedReply() []byte {
	value := strings.Repeat("x", 256)
	return fmt.Appendf(nil, "*18\r\n$2\r\nid\r\n$22\r\nAAAAAAAAAAAAAAAAAAAAAA\r\n$7\r\nsubject\r\n$0\r\n\r\n"+
		"$7\r\nversion\r\n:13761\r\n$10\r\ncreated_ms\r\n:1796404783657\r\n$14\r\nlast_access_ms\r\n:1796404783657\r\n"+
		"$7\r\nidle_ms\r\n:0\r\n$20\r\nabsolute_deadline_ms\r\n:0\r\n$13\r\nexpires_at_ms\r\n:0\r\n"+
		"$6\r\nfields\r\n*2\r\n$1\r\nv\r\n$%d\r\n%s\r\n", len(value), value)
}

// serveCanned answers reply to every SESSION.GET and +OK to anything
// else (the connection's handshake), writing when it has read all that
// arrived, as a node does.
func serveCanned(nc net.Conn, reply []byte) {
	r := bufio.NewReaderSize(nc, 64<<10)
	w := bufio.NewWriterSize(nc, 64<<10)
	// size reads a "*N" or "$N" line without allocating.
	size := func() (int, error) {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(line) < 4 {
			return 0, io.ErrUnexpectedEOF
		}
		n := 0
		for _, ch := range line[1 : len(line)-2] {
			n = n*10 + int(ch-'0')
		}
		return n, nil
	}
	for {
		n, err := size()
		if err != nil {
			return
		}
		get := false
		for i := range n {
			m, err := size()
			if err != nil {
				return
			}
			if i == 0 {
				word, err := r.Peek(m)
				if err != nil {
					return
				}
				get = strings.EqualFold(string(word), "SESSION.GET")
			}
			if _, err := r.Discard(m + 2); err != nil {
				return
			}
		}
		if get {
			_, err = w.Write(reply)
		} else {
			_, err = w.WriteString("+OK\r\n")
		}
		if err == nil && r.Buffered() == 0 {
			err = w.Flush()
		}
		if err != nil {
			return
		}
	}
}

// cannedClient is a Client whose only group is served by addr, without a
// cluster or a refresh loop (routedClient, for a benchmark).
func cannedClient(b *testing.B, addr string) *Client {
	cfg, err := Config{Seeds: []string{addr}, DialTimeout: time.Second}.withDefaults()
	if err != nil {
		b.Fatal(err)
	}
	c := &Client{cfg: cfg, log: cfg.Logger, refreshc: make(chan struct{}, 1), home: maphash.MakeSeed()}
	c.conns = newConns(&c.cfg)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	ring, err := wire.NewRing(1, wire.DefaultVNodes)
	if err != nil {
		b.Fatal(err)
	}
	c.setTopology(&topology{ring: ring, nodes: []string{addr},
		groups: []groupRoute{{leader: addr, replicas: []string{addr}}}})
	b.Cleanup(func() { c.Close() })
	return c
}
