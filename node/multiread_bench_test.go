package node

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/sessionraft/sessionraft/transport/resp"
)

// BenchmarkMGet measures MGET of 30 keys spread over the three groups of
// a three-node cluster (256-byte values), sent round-robin to every node
// by 16 connections, linearizable: each node leads one group and forwards
// to the other two. key-ns/op is ns/op per key read; compare it across
// versions to see what a key of a multi-key read costs.
func BenchmarkMGet(b *testing.B) {
	c := benchCluster(b)
	cls := benchDial(b, c, 16)
	const nkeys = 30
	args := []string{"MGET"}
	for i := range nkeys {
		k := "bench:mget:" + strconv.Itoa(i)
		if v, err := benchDo(cls[0], "SET", k, benchValue); err != nil || v.Err() != nil {
			b.Fatalf("SET: %v %v", err, v.Err())
		}
		args = append(args, k)
	}
	runConns(b, cls, func(cl *resp.Client, _ int) error {
		v, err := benchDo(cl, args...)
		if err == nil && len(v.Elems) != nkeys {
			err = fmt.Errorf("MGET: %d values", len(v.Elems))
		}
		return err
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*nkeys), "key-ns/op")
}
