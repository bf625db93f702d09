package mux

import (
	"log/slog"
	"time"
)

// Config tunes a Mux. Zero fields take the defaults of DefaultConfig.
type Config struct {
	// HeaderTimeout bounds how long an accepted connection may take to send
	// a valid header; slow or silent connections would otherwise pin a
	// goroutine and a file descriptor forever. Default 5s.
	HeaderTimeout time.Duration

	// DialTimeout bounds RPC dials, including the header/ack handshake.
	// Default 2s. (Raft dials use the timeout raft passes to Dial.)
	DialTimeout time.Duration

	// RPCConnsPerPeer is the number of persistent RPC connections kept per
	// peer; calls are spread over them round-robin and multiplexed by
	// request id. More than one keeps a single large frame from delaying
	// every other call. Default 2.
	RPCConnsPerPeer int

	// MaxRPCBytes caps one RPC frame on the wire, 13-byte frame header
	// included, in both directions. Default 64 MiB.
	MaxRPCBytes int

	// WriteTimeout bounds each write of RPC frames to a connection; a
	// connection whose peer stops reading for that long is closed (pending
	// calls get ErrConnLost) rather than stalling every caller. Default 10s.
	// (Extension to the brief's Config.)
	WriteTimeout time.Duration

	// MaxConcurrentHandlers bounds running RPC handler goroutines across all
	// connections; a request arriving when all are busy is answered with a
	// RemoteError of code BUSY without running the handler. Default 4096.
	// (Extension to the brief's Config: the brief fixed it at 4096.)
	MaxConcurrentHandlers int

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
	}
}

// withDefaults fills zero (or nonsensical) fields so the rest of the package
// never has to check them.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.HeaderTimeout <= 0 {
		c.HeaderTimeout = d.HeaderTimeout
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = d.DialTimeout
	}
	if c.RPCConnsPerPeer <= 0 {
		c.RPCConnsPerPeer = d.RPCConnsPerPeer
	}
	if c.MaxRPCBytes <= 0 {
		c.MaxRPCBytes = d.MaxRPCBytes
	}
	// A frame must at least hold its own header; the length field is a u32.
	c.MaxRPCBytes = max(c.MaxRPCBytes, frameHeaderLen)
	c.MaxRPCBytes = min(c.MaxRPCBytes, maxFrameLimit)
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.MaxConcurrentHandlers <= 0 {
		c.MaxConcurrentHandlers = d.MaxConcurrentHandlers
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
