package node

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// retryUnapplied runs attempt until it succeeds, fails with an error other
// than ErrNotLeader/ErrUnavailable (both mean nothing was applied, so trying
// again is safe), ctx ends or the node closes. Between attempts it backs
// off from 5 ms up to 200 ms while leadership settles. The write and read
// paths share it so their retry rules cannot drift apart.
func (n *Node) retryUnapplied(ctx context.Context, attempt func() error) error {
	backoff := 5 * time.Millisecond
	for {
		err := attempt()
		if err == nil || (!errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrUnavailable)) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %v (last: %v)", ErrUnavailable, ctx.Err(), err)
		case <-n.closing:
			return ErrShutdown
		case <-time.After(backoff):
		}
		if backoff < 200*time.Millisecond {
			backoff *= 2
		}
	}
}
