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
	return n.retryAfter(ctx, attempt(), attempt)
}

// retryable reports whether err guarantees that nothing was applied.
func retryable(err error) bool {
	return errors.Is(err, ErrNotLeader) || errors.Is(err, ErrUnavailable)
}

// retryAfter is retryUnapplied for a caller whose first attempt already
// ended with err (a deferred write's, writenow.go).
func (n *Node) retryAfter(ctx context.Context, err error, attempt func() error) error {
	backoff := 5 * time.Millisecond
	for {
		if err == nil || !retryable(err) {
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
		err = attempt()
	}
}
