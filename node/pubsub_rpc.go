package node

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"
)

// PUBLISH reaches every node's subscribers: the node a client publishes on
// delivers to its own and sends the message once to every other member
// that gossip says is alive (rpcPublish), without waiting for them and
// without retrying: delivery is best effort and at most once, like Redis
// Cluster's bus. The method is served on the mux port, so with TLS on only
// members (holders of a cluster certificate) can call it.

// publishTimeout bounds one node's fan-out call.
const publishTimeout = 2 * time.Second

// fanOutPublish sends channel and message to every other alive member.
// It returns at once; the calls run on goroutines of their own, which end
// within publishTimeout, or at once when the node closes (the mux refuses
// calls then).
func (n *Node) fanOutPublish(channel, message []byte) {
	payload := binary.AppendUvarint(nil, uint64(len(channel)))
	payload = append(payload, channel...)
	payload = append(payload, message...)
	var targets []string
	for _, m := range n.members() {
		if m.Alive && m.ID != n.cfg.ID && m.Raft != "" {
			targets = append(targets, m.Raft)
		}
	}
	if len(targets) == 0 {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
		defer cancel()
		go func() {
			select {
			case <-n.closing:
				cancel()
			case <-ctx.Done():
			}
		}()
		var wg sync.WaitGroup
		for _, addr := range targets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := n.mux.Call(ctx, addr, rpcPublish, payload); err != nil {
					n.log.Debug("publish: a member missed a message", "to", addr, "err", err)
				}
			}()
		}
		wg.Wait()
	}()
}

// handlePublishRPC delivers a message published on another node to this
// node's subscribers; the reply is how many received it.
func (n *Node) handlePublishRPC(payload []byte) ([]byte, error) {
	l, k := binary.Uvarint(payload)
	if k <= 0 || l > uint64(len(payload)-k) {
		return nil, asReply(fmt.Errorf("%w: bad publish payload", ErrBadArg))
	}
	channel := payload[k : k+int(l)]
	message := payload[k+int(l):]
	got := n.ps.publish(channel, message)
	return binary.AppendUvarint(nil, uint64(got)), nil
}
