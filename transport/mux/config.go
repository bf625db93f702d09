package mux

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sessionraft/sessionraft/transport/admit"
)

// TLS is the cluster identity the mux authenticates with. *tlsconf.Store
// implements it; nil means plaintext.
type TLS interface {
	// NodeID is this node's id as its certificate names it.
	NodeID() string
	// ServerConfig is called once, by Listen, and used for every accepted
	// connection, so it must follow certificate reloads by itself (e.g.
	// through GetConfigForClient). It must require and verify a client
	// certificate that names a node id.
	ServerConfig() *tls.Config
	// ClientConfig is called for every dial. It must verify the server's
	// certificate and, when serverID is not empty, that it names serverID.
	ClientConfig(serverID string) *tls.Config
	// PeerID returns the node id of a verified peer after the handshake.
	PeerID(cs tls.ConnectionState) (string, error)
}

// Config tunes a Mux. Zero fields take the defaults of DefaultConfig;
// Validate rejects negative ones.
type Config struct {
	// HeaderTimeout bounds how long an accepted connection may take to
	// complete the TLS handshake (when TLS is on) and send a valid header;
	// slow or silent connections would otherwise pin a goroutine and a file
	// descriptor forever. Default 5s.
	HeaderTimeout time.Duration

	// DialTimeout bounds RPC dials, including the TLS and header/ack
	// handshakes. Default 2s. (Raft dials use the timeout raft passes to
	// Dial.)
	DialTimeout time.Duration

	// RPCConnsPerPeer is the number of persistent RPC connections kept per
	// peer; calls are spread over them round-robin and multiplexed by
	// request id. More than one keeps a single large frame from delaying
	// every other call. Default 2.
	RPCConnsPerPeer int

	// MaxRPCBytes caps one RPC frame on the wire, 13-byte frame header
	// included, in both directions. Frame buffers grow as bytes arrive, so
	// a header claiming a large frame costs nothing until the bytes come.
	// Default 64 MiB.
	MaxRPCBytes int

	// WriteTimeout bounds each write of RPC frames to a connection; a
	// connection whose peer stops reading for that long is closed (pending
	// calls get ErrConnLost) rather than stalling every caller. Default 10s.
	WriteTimeout time.Duration

	// MaxConcurrentHandlers bounds running RPC handler goroutines across all
	// connections; a request arriving when all are busy is answered with a
	// RemoteError of code BUSY without running the handler. Default 4096.
	MaxConcurrentHandlers int

	// MaxInboundConns caps accepted connections open at once, in every
	// stage (handshake, RPC, raft); one over the cap is closed before
	// anything is read from it. Each raft connection costs about 270 KiB in
	// raft's own buffers, so the default, 1024, bounds that at ~270 MiB. A
	// node needs roughly groups x peers x 5 raft connections plus
	// 2 x RPCConnsPerPeer per peer; raise it for larger clusters.
	MaxInboundConns int

	// TLS, when set, makes every accepted and dialed connection mutual TLS
	// 1.3: plaintext connections are refused, and a peer whose certificate
	// names another node than the header claims is refused.
	TLS TLS

	// Admit, when set with TLS, admits each accepted connection to its
	// handshake (concurrent handshakes in all and per source, new
	// connections per source per second); one it refuses is closed before
	// a byte is read. Its slot is held until the header is checked, within
	// HeaderTimeout. Nil: only MaxInboundConns and HeaderTimeout apply.
	Admit *admit.Gate

	// NodeID is this node's id, sent in every connection header. With TLS
	// it defaults to TLS.NodeID() and must equal it. Without TLS it is
	// optional and unverified (an empty id keeps the version 1 header).
	NodeID string

	// PeerID, if set, returns the node id expected at a peer's advertised
	// mux address ("" when unknown), e.g. from the raft configuration or the
	// member list. With TLS, a dial to addr then only succeeds if the server
	// proves that id, and an inbound connection claiming addr as its own is
	// refused unless its certificate names that id. It must be fast and
	// safe for concurrent use.
	PeerID func(addr string) string

	// RaftPeer, if set (and with TLS), decides whether the node id proven
	// by a peer's certificate may open a raft connection: a certificate of
	// the cluster CA proves who the peer is, not that it is a voter, and
	// raft itself accepts AppendEntries from anyone with a higher term. It
	// must be fast and safe for concurrent use.
	RaftPeer func(id string) bool

	// Advertise is the address this node's peers dial to reach this mux; it
	// is sent in every header so peers (and Faults) can identify us. Default:
	// the listener's bound address. Set it when listening on a wildcard
	// address such as ":7000".
	Advertise string

	// Logger receives connection-level diagnostics. Default slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns the defaults described on Config's fields.
func DefaultConfig() Config {
	return Config{
		HeaderTimeout:         5 * time.Second,
		DialTimeout:           2 * time.Second,
		RPCConnsPerPeer:       2,
		MaxRPCBytes:           64 << 20,
		WriteTimeout:          10 * time.Second,
		MaxConcurrentHandlers: 4096,
		MaxInboundConns:       1024,
	}
}

// Validate reports every problem with c (zero fields are fine: they take
// defaults).
func (c Config) Validate() error {
	var errs []error
	for name, d := range map[string]time.Duration{
		"HeaderTimeout": c.HeaderTimeout, "DialTimeout": c.DialTimeout, "WriteTimeout": c.WriteTimeout,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%w: %s must not be negative", ErrConfig, name))
		}
	}
	for name, n := range map[string]int{
		"RPCConnsPerPeer": c.RPCConnsPerPeer, "MaxConcurrentHandlers": c.MaxConcurrentHandlers, "MaxInboundConns": c.MaxInboundConns,
	} {
		if n < 0 {
			errs = append(errs, fmt.Errorf("%w: %s must not be negative", ErrConfig, name))
		}
	}
	if c.MaxRPCBytes != 0 && (c.MaxRPCBytes < frameHeaderLen || uint64(c.MaxRPCBytes) > maxFrameLimit) {
		errs = append(errs, fmt.Errorf("%w: MaxRPCBytes must be in %d..%d", ErrConfig, frameHeaderLen, uint64(maxFrameLimit)))
	}
	if len(c.NodeID) > maxIDLen {
		errs = append(errs, fmt.Errorf("%w: NodeID longer than %d bytes", ErrConfig, maxIDLen))
	}
	if len(c.Advertise) > maxAddrLen {
		errs = append(errs, fmt.Errorf("%w: Advertise longer than %d bytes", ErrConfig, maxAddrLen))
	}
	if c.TLS != nil {
		switch id := c.TLS.NodeID(); {
		case id == "":
			errs = append(errs, fmt.Errorf("%w: the TLS certificate names no node id", ErrConfig))
		case len(id) > maxIDLen:
			errs = append(errs, fmt.Errorf("%w: the TLS certificate's node id is longer than %d bytes", ErrConfig, maxIDLen))
		case c.NodeID != "" && c.NodeID != id:
			errs = append(errs, fmt.Errorf("%w: NodeID %q differs from the TLS certificate's node id %q", ErrConfig, c.NodeID, id))
		}
	}
	return errors.Join(errs...)
}

// withDefaults fills zero fields so the rest of the package never has to
// check them. c must be valid.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.HeaderTimeout == 0 {
		c.HeaderTimeout = d.HeaderTimeout
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = d.DialTimeout
	}
	if c.RPCConnsPerPeer == 0 {
		c.RPCConnsPerPeer = d.RPCConnsPerPeer
	}
	if c.MaxRPCBytes == 0 {
		c.MaxRPCBytes = d.MaxRPCBytes
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.MaxConcurrentHandlers == 0 {
		c.MaxConcurrentHandlers = d.MaxConcurrentHandlers
	}
	if c.MaxInboundConns == 0 {
		c.MaxInboundConns = d.MaxInboundConns
	}
	if c.TLS != nil && c.NodeID == "" {
		c.NodeID = c.TLS.NodeID()
	}
	if c.PeerID == nil {
		c.PeerID = func(string) string { return "" }
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
