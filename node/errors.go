package node

import (
	"errors"
	"fmt"

	"github.com/hashicorp/raft"

	"github.com/sessionraft/sessionraft/fsm"
	"github.com/sessionraft/sessionraft/transport/mux"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// Sentinel errors of the node package. Raft and transport errors are
// translated into these at the node boundary (see translateApplyErr and
// translateCallErr); the RESP layer maps them, and fsm's sentinels, to
// stable wire codes in codeOf.
var (
	// ErrNotLeader: this node is not the leader of the group (and the caller
	// asked not to forward). Safe to retry elsewhere: nothing was applied.
	ErrNotLeader = errors.New("node: not the group leader")
	// ErrUnavailable: no leader, no quorum or not ready yet. Nothing was
	// applied; safe to retry later.
	ErrUnavailable = errors.New("node: unavailable")
	// ErrIndeterminate: a write was proposed but its outcome is unknown
	// (leadership lost or connection to the leader lost mid-flight). It may
	// or may not be applied; retry only with the same REQID.
	ErrIndeterminate = errors.New("node: outcome unknown")
	// ErrStale: a stale read was refused because this replica has not heard
	// from its leader, or not caught up, within the staleness bound.
	ErrStale = errors.New("node: replica too stale")
	// ErrShutdown: the node is closing.
	ErrShutdown = errors.New("node: shutting down")
	// ErrBadArg: a request argument is malformed.
	ErrBadArg = errors.New("node: bad argument")
	// ErrBusy: too much work queued.
	ErrBusy = errors.New("node: busy")
)

// translateApplyErr maps an error from raft.Apply (or the future's Error) to
// node sentinels, deciding whether the entry can have been committed.
func translateApplyErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress),
		errors.Is(err, raft.ErrEnqueueTimeout):
		// Rejected before being appended to the log: certainly not applied.
		return fmt.Errorf("%w: %v", ErrNotLeader, err)
	default:
		// ErrLeadershipLost, ErrRaftShutdown and anything unexpected: the
		// entry may be in the log and may still commit.
		return fmt.Errorf("%w: %v", ErrIndeterminate, err)
	}
}

// translateCallErr maps a forwarding RPC error. A request that never left
// this node is retryable; one whose reply was lost is indeterminate for
// writes (isWrite) and merely unavailable for reads.
func translateCallErr(err error, isWrite bool) error {
	var re *mux.RemoteError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re):
		e := remoteToErr(re.Code, re.Msg)
		if isWrite && codeOf(e) == wire.CodeInternal {
			// An unknown code (or a handler panic) means the leader ran the
			// request with an effect we cannot know.
			return fmt.Errorf("%w: %v", ErrIndeterminate, e)
		}
		return e
	case errors.Is(err, mux.ErrUnreachable):
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	case isWrite:
		return fmt.Errorf("%w: %v", ErrIndeterminate, err)
	default:
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
}

// codedError carries a wire code across the forwarding RPC.
type codedError struct {
	code string
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Code() string  { return e.code }
func (e *codedError) Unwrap() error { return e.err }

// withCode wraps err so the mux RPC sends its wire code to the caller.
func withCode(err error) error {
	if err == nil {
		return nil
	}
	return &codedError{code: codeOf(err), err: err}
}

// remoteToErr rebuilds a sentinel from a code received over RPC.
func remoteToErr(code, msg string) error {
	var base error
	switch code {
	case wire.CodeNotLeader:
		base = ErrNotLeader
	case wire.CodeUnavailable, wire.CodeBusy, mux.CodeNoHandler:
		// NOHANDLER: the peer's port is up but its groups are still
		// opening (a restart); nothing ran, so the request is retryable.
		base = ErrUnavailable
	case wire.CodeIndeterminate:
		base = ErrIndeterminate
	case wire.CodeStale:
		base = ErrStale
	case wire.CodeNotFound:
		base = fsm.ErrNotFound
	case wire.CodeExists:
		base = fsm.ErrExists
	case wire.CodeConflict:
		base = fsm.ErrConflict
	case wire.CodeTooLarge:
		base = fsm.ErrTooLarge
	case wire.CodeBadArg:
		base = ErrBadArg
	default:
		return fmt.Errorf("remote: %s %s", code, msg)
	}
	return fmt.Errorf("%w (remote: %s)", base, msg)
}

// codeOf maps any error to its stable wire code.
func codeOf(err error) string {
	switch {
	case errors.Is(err, fsm.ErrNotFound):
		return wire.CodeNotFound
	case errors.Is(err, fsm.ErrExists):
		return wire.CodeExists
	case errors.Is(err, fsm.ErrConflict):
		return wire.CodeConflict
	case errors.Is(err, fsm.ErrTooLarge):
		return wire.CodeTooLarge
	case errors.Is(err, fsm.ErrInvalid), errors.Is(err, ErrBadArg):
		return wire.CodeBadArg
	case errors.Is(err, ErrIndeterminate):
		return wire.CodeIndeterminate
	case errors.Is(err, ErrNotLeader):
		return wire.CodeNotLeader
	case errors.Is(err, ErrStale):
		return wire.CodeStale
	case errors.Is(err, ErrBusy):
		return wire.CodeBusy
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrShutdown):
		return wire.CodeUnavailable
	default:
		return wire.CodeInternal
	}
}
