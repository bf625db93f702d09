package node

import "context"

// Start validates cfg, opens the data directory, starts the internal and
// client ports, every raft group, memberlist and the background loops.
// It returns once the node is listening; joining and bootstrap continue in
// the background. If ctx ends during start-up, Start closes whatever it
// opened and returns an error wrapping ctx.Err() (a group already restoring
// its snapshot finishes that first). Once Start has returned, ctx no longer
// matters: cancelling it does not stop the node; call Close.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	return start(ctx, cfg)
}

// ClientAddr is the RESP address clients should use (the advertised one).
func (n *Node) ClientAddr() string { return n.clientAddr }

// Done is closed when the node has stopped, by Close or by a fatal error
// (see Err).
func (n *Node) Done() <-chan struct{} { return n.done }

// Err returns the fatal error that stopped the node, if any.
func (n *Node) Err() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.fatalErr
}
