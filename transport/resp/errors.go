package resp

import (
	"errors"
	"fmt"

	"github.com/sessionraft/sessionraft/transport/wire"
)

// Sentinel errors. Parse errors wrap one of them, so callers use errors.Is
// and the server picks the reply code (PROTOCOL or TOOLARGE) from it.
var (
	// ErrProtocol reports malformed RESP input.
	ErrProtocol = errors.New("resp: protocol error")
	// ErrTooLarge reports input that exceeds a configured Limits value.
	ErrTooLarge = errors.New("resp: limit exceeded")
	// ErrClientClosed is returned by Client.Do after Close or after an I/O
	// error has left the connection unusable.
	ErrClientClosed = errors.New("resp: client closed")
)

// parseError carries a short human-readable detail next to its sentinel, so
// the server can send the detail to the client without the "resp: ..."
// prefix that only makes sense in logs.
type parseError struct {
	kind error // ErrProtocol or ErrTooLarge
	msg  string
}

func (e *parseError) Error() string { return e.kind.Error() + ": " + e.msg }
func (e *parseError) Unwrap() error { return e.kind }

// code is the wire error code the server replies with for e.
func (e *parseError) code() string {
	if e.kind == ErrTooLarge {
		return wire.CodeTooLarge
	}
	return wire.CodeProtocol
}

func protoErr(format string, a ...any) error {
	return &parseError{kind: ErrProtocol, msg: fmt.Sprintf(format, a...)}
}

func tooLarge(format string, a ...any) error {
	return &parseError{kind: ErrTooLarge, msg: fmt.Sprintf(format, a...)}
}

// ServerError is an error reply received from a server, split into its
// stable code (see the wire package) and message. Clients should switch on
// Code only; the message may change between releases.
type ServerError struct {
	Code string
	Msg  string
}

func (e *ServerError) Error() string {
	if e.Msg == "" {
		return e.Code
	}
	return e.Code + " " + e.Msg
}
