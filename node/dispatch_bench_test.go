package node

import (
	"errors"
	"testing"
	"time"

	"github.com/sessionraft/sessionraft/transport/resp"
)

// BenchmarkDispatch measures the dispatcher and the inline fast paths
// alone, without sockets: a single-node cluster (which leads every group)
// and handler.Dispatch called directly. The per-request cost of the
// command table and of the read rules on the reader goroutine shows here
// undiluted by the network.
func BenchmarkDispatch(b *testing.B) {
	if testing.Short() {
		b.Skip("starts a node")
	}
	c := startCluster(b, 1, func(cfg *Config) { cfg.SweepInterval = time.Second })
	cl := c.client(0)
	v := mustOK(b, cl, "SESSION.CREATE", "TTL", "1h", "FIELDS", "f", "v")
	var id string
	for i := 0; i+1 < len(v.Elems); i += 2 {
		if v.Elems[i].Str == "id" {
			id = v.Elems[i+1].Str
		}
	}
	n := c.node(0)
	waitFor(b, 10*time.Second, "the node to be the ready leader", func() error {
		if _, ok := n.groups[n.ring.Group(id)].readyNow(); !ok {
			return errors.New("not yet")
		}
		return nil
	})
	h := &handler{n: n}
	cases := []struct {
		name string
		args []string
	}{
		{"ping", []string{"PING"}},
		{"get-stale", []string{"SESSION.GET", id, "CONSISTENCY", "stale", "NOTOUCH"}},
		{"get-leader", []string{"SESSION.GET", id, "CONSISTENCY", "leader", "NOTOUCH"}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			args := make([][]byte, len(tc.args))
			for i, a := range tc.args {
				args[i] = []byte(a)
			}
			conn := &resp.Conn{}
			r := &resp.Reply{Writer: resp.NewWriter(2)}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r.Reset()
				if fn := h.Dispatch(conn, args, r); fn != nil {
					b.Fatalf("%s went asynchronous", tc.name)
				}
				if r.Len() == 0 || r.Bytes()[0] == '-' {
					b.Fatalf("%s: %q", tc.name, r.Bytes())
				}
			}
		})
	}
}
