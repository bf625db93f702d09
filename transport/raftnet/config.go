package raftnet

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// Config sets up a Transport. Stream is required; zero fields take
// DefaultConfig's values.
type Config struct {
	// Stream carries this protocol's connections for one raft group
	// (mux.BinaryRaftLayer). The transport owns it and closes it.
	Stream raft.StreamLayer

	// PeerOf returns the node id proven for an accepted connection
	// (mux.PeerOf): verified is true when a TLS certificate names it.
	// Optional; without it CheckPeer sees "" for every RPC.
	PeerOf func(c net.Conn) (id string, verified bool)

	// CheckPeer, if set, runs for every inbound RPC before raft sees it,
	// with the certificate's node id of the connection it came on ("" when
	// none is proven) and the decoded request (whose header, and Leader or
	// Candidate field, claim the sender's server id and address). An error
	// refuses the RPC: the peer gets it as the RPC's error and the
	// connection is closed.
	CheckPeer func(certID string, req raft.WithRPCHeader) error

	// Legacy, if set, is raft's msgpack NetworkTransport of the same
	// group on the old connection kind. Its inbound RPCs are served too
	// (a node that has not been upgraded dials that kind), and with
	// SendLegacy every outbound RPC goes through it (the "net-msgpack"
	// mode: nothing this package sends reaches the wire). The transport
	// owns it and closes it. CheckPeer does not see its RPCs: the mux
	// checks only, per connection, that the peer is a voter.
	Legacy     *raft.NetworkTransport
	SendLegacy bool

	// OnAppend, if set, is called with every successful AppendEntries
	// response from a follower, synchronous or pipelined (the node's
	// follower-lag figures). It must be quick.
	OnAppend func(id raft.ServerID, resp *raft.AppendEntriesResponse)

	// Timeout bounds each RPC's writes and its wait for the response,
	// and the wait for each pipelined response; an InstallSnapshot gets
	// Timeout per 256 KiB of snapshot. Default 10s.
	Timeout time.Duration

	// MaxFrameBytes caps one frame on the wire, both ways (snapshot data
	// is streamed after its frame and not counted). It must be at least
	// the largest AppendEntries the group's leader can send:
	// MaxAppendEntries x the largest entry. A frame's buffer grows as its
	// bytes arrive, so a header claiming a large frame costs nothing until
	// the bytes come. Default 1 GiB; at most 4 GiB.
	MaxFrameBytes int64

	// MaxIdlePerPeer is how many idle connections are kept per peer for
	// synchronous RPCs (heartbeats, votes, appends outside the pipeline
	// each take one). Default 4.
	MaxIdlePerPeer int

	// MaxInFlight is the pipeline's depth: AppendEntries sent and not yet
	// answered, per follower. 1 turns pipelining off: raft then sends
	// the next AppendEntries when the last is answered, with everything
	// appended meanwhile. Default 32.
	MaxInFlight int

	// IdleAppendInterval, if positive, lets a synchronous AppendEntries
	// that repeats the last one sent to the same peer (no entries, no
	// news) be answered with that one's answer for this long instead of
	// being sent (idle.go). A leader then counts contact with a follower
	// up to this long after the last real reply, so it is small against
	// LeaderLeaseTimeout. 0 (the default) sends every request.
	IdleAppendInterval time.Duration

	// Logger receives connection-level diagnostics. Default slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns the defaults described on Config's fields.
func DefaultConfig() Config {
	return Config{
		Timeout:        10 * time.Second,
		MaxFrameBytes:  1 << 30,
		MaxIdlePerPeer: 4,
		MaxInFlight:    32,
	}
}

// Validate reports every problem with c.
func (c Config) Validate() error {
	var errs []error
	if c.Stream == nil {
		errs = append(errs, fmt.Errorf("%w: Stream is required", ErrConfig))
	}
	if c.SendLegacy && c.Legacy == nil {
		errs = append(errs, fmt.Errorf("%w: SendLegacy needs Legacy", ErrConfig))
	}
	if c.Timeout < 0 || c.MaxIdlePerPeer < 0 || c.MaxInFlight < 0 || c.IdleAppendInterval < 0 {
		errs = append(errs, fmt.Errorf("%w: Timeout, MaxIdlePerPeer, MaxInFlight and IdleAppendInterval must not be negative", ErrConfig))
	}
	if c.MaxFrameBytes != 0 && (c.MaxFrameBytes < frameHeaderLen || c.MaxFrameBytes > math.MaxUint32) {
		errs = append(errs, fmt.Errorf("%w: MaxFrameBytes must be in %d..%d", ErrConfig, frameHeaderLen, uint64(math.MaxUint32)))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.MaxFrameBytes == 0 {
		c.MaxFrameBytes = d.MaxFrameBytes
	}
	if c.MaxIdlePerPeer == 0 {
		c.MaxIdlePerPeer = d.MaxIdlePerPeer
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = d.MaxInFlight
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
