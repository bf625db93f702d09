package resp

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
)

// A DoneBatch completes deferred replies of several connections in any
// order; each connection still writes them in request order, interleaved
// correctly with synchronous replies.
func TestDoneBatchOrder(t *testing.T) {
	const conns, n = 4, 5_000
	queue := make(chan Deferred, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var b DoneBatch
		var round []Deferred
		for d := range queue {
			// Take whatever else is queued: one round, completed in a
			// shuffled order through the batch.
			round = append(round[:0], d)
		more:
			for {
				select {
				case d, ok := <-queue:
					if !ok {
						break more
					}
					round = append(round, d)
				default:
					break more
				}
			}
			rand.Shuffle(len(round), func(i, j int) { round[i], round[j] = round[j], round[i] })
			for _, d := range round {
				b.Done(d)
			}
			b.Flush()
		}
	}()
	h := HandlerFunc(func(c *Conn, args [][]byte, r *Reply) func(context.Context) {
		if string(args[0]) == "DEFER" {
			d := r.Defer()
			d.Reply().WriteBulk(args[1]) // before Done; the batch owns it after
			queue <- d
			return nil
		}
		r.WriteBulk(args[1])
		return nil
	})
	_, addr := startServer(t, ServerConfig{}, h)
	// Registered after startServer, so it runs before the server closes:
	// the queue's goroutine must have completed every reply by then.
	t.Cleanup(func() { close(queue); <-done })
	errc := make(chan error, conns)
	for range conns {
		c := dialRaw(t, addr)
		go func() {
			var b []byte
			for i := range n {
				cmd := "ECHO"
				if i%3 != 0 {
					cmd = "DEFER"
				}
				b = appendCommand(b, []string{cmd, strconv.Itoa(i)})
			}
			_, err := c.Write(b)
			errc <- err
		}()
		for i := range n {
			v := c.read(t)
			if v.Kind != Bulk || v.Str != strconv.Itoa(i) {
				t.Fatalf("reply %d = %v", i, v)
			}
		}
	}
	for range conns {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}
