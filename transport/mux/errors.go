package mux

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers test them with errors.Is; the returned errors wrap
// them together with the underlying cause (a net error or a context error).
var (
	// ErrUnreachable means the request was certainly not delivered to the
	// peer's handler: the dial failed or was refused, the peer is blocked by
	// Faults, or the connection broke or ctx ended before a single byte of the
	// request was written. Retrying is safe.
	ErrUnreachable = errors.New("mux: peer unreachable, request not delivered")

	// ErrConnLost means the request may have been delivered and executed: the
	// connection broke after the request was (possibly partly) written, or ctx
	// ended while waiting for the response. The outcome is unknown; a write
	// must be reported as indeterminate.
	ErrConnLost = errors.New("mux: connection lost, outcome unknown")

	// ErrClosed is returned by operations on a closed Mux or StreamLayer.
	ErrClosed = errors.New("mux: closed")

	// ErrFrameTooLarge means a frame exceeds Config.MaxRPCBytes. Returned by
	// Call before anything is sent when the request is too large.
	ErrFrameTooLarge = errors.New("mux: frame too large")

	// ErrBadHeader means a connection header was malformed.
	ErrBadHeader = errors.New("mux: bad connection header")

	// ErrBadFrame means an RPC frame was malformed; the connection carrying
	// it is closed because the stream can no longer be trusted.
	ErrBadFrame = errors.New("mux: bad rpc frame")

	// ErrIdentity means a peer did not prove the identity it claimed: with
	// TLS, an accepted connection whose certificate names another node than
	// its header (or than Config.PeerID expects at the address it claims),
	// or a dialed server that is not the node expected at that address.
	ErrIdentity = errors.New("mux: peer identity not proven")

	// ErrConfig is wrapped by Config.Validate's errors.
	ErrConfig = errors.New("mux: invalid config")

	// ErrBlocked is wrapped (together with ErrUnreachable) when Faults blocks
	// a peer, so test logs say why a dial failed.
	ErrBlocked = errors.New("mux: blocked by fault injection")

	// ErrNoTLS: VerifyPeer was called on a mux without TLS, which cannot
	// prove anybody's identity.
	ErrNoTLS = errors.New("mux: no TLS configured, identities cannot be proven")
)

// Codes of RemoteErrors produced by the mux itself rather than the handler.
const (
	// CodeErr is used when the handler's error has no Code() method.
	CodeErr = "ERR"
	// CodeBusy: the peer had too many handlers running; the handler did not
	// run, so the request had no effect.
	CodeBusy = "BUSY"
	// CodeTooLarge: the request exceeded the peer's MaxRPCBytes; the handler
	// did not run. (A response that is too large is reported by Call as
	// ErrConnLost wrapping ErrFrameTooLarge, because the handler did run.)
	CodeTooLarge = "TOOLARGE"
	// CodeNoHandler: the peer has no RPCHandler installed; nothing ran.
	CodeNoHandler = "NOHANDLER"
	// CodePanic: the handler panicked; its effect is unknown to the mux.
	CodePanic = "PANIC"
)

// RemoteError is an error returned by the peer's RPCHandler (or by the peer's
// mux on its behalf, see the Code constants), carried back over the wire.
type RemoteError struct {
	Code string
	Msg  string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("mux: remote error %s: %s", e.Code, e.Msg)
}

// notSent wraps cause as a definite, not-delivered failure.
func notSent(cause error) error {
	return fmt.Errorf("%w: %w", ErrUnreachable, cause)
}

// connLost wraps cause as an indeterminate failure.
func connLost(cause error) error {
	return fmt.Errorf("%w: %w", ErrConnLost, cause)
}
