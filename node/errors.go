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
// translated into these at the node boundary (translateApplyErr,
// translateCallErr). Compare with errors.Is. What a client reads for each,
// and for fsm's sentinels, is decided in one place: errTable (errtable.go).
// The texts here are for logs.
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
	// ErrStale: a stale read was refused because this replica's state is
	// older, by the log clock, than the staleness bound (see staleCheck).
	ErrStale = errors.New("node: replica too stale")
	// ErrShutdown: the node is closing.
	ErrShutdown = errors.New("node: shutting down")
	// ErrBadArg: a request argument is malformed.
	ErrBadArg = errors.New("node: bad argument")
	// ErrBusy: too much work queued.
	ErrBusy = errors.New("node: busy")

	// Client authentication and ACLs (auth.go). acl.ErrWrongPass and
	// acl.ErrNoPassConfigured come from node/acl.

	// ErrNoAuth: the connection has not authenticated and the command is
	// not one it may run before (AUTH, HELLO with AUTH, QUIT).
	ErrNoAuth = errors.New("node: authentication required")
	// ErrHelloNoAuth: HELLO without AUTH on a connection that has not
	// authenticated.
	ErrHelloNoAuth = errors.New("node: HELLO needs AUTH before authentication")
	// ErrNoPerm: the user may not run the command or touch the key; the
	// error is a *permError, which says which.
	ErrNoPerm = errors.New("node: no permission")
	// ErrOOM: the node's state is above Config.MaxMemory and the write
	// would add data (memlimit.go). Nothing was applied.
	ErrOOM = errors.New("node: memory quota reached")
	// ErrRemoved: this node was removed from the cluster and serves no
	// request again (membership.go).
	ErrRemoved = errors.New("node: removed from the cluster")
	// ErrMemberRefused: a MEMBER command that cannot be done as asked
	// (the detail says why and what to do).
	ErrMemberRefused = errors.New("node: membership change refused")
	// ErrDiskFull: a write was refused because a node's data directory is
	// below --min-free-disk (disk.go). Nothing was applied; reads go on.
	ErrDiskFull = errors.New("node: disk space low")
	// Redis's generic errors, for the commands Redis clients send: the
	// reply is Redis's code and text exactly (clients parse them), so the
	// text after the sentinel is the whole reply text, as in
	// fmt.Errorf("%w: wrong number of arguments for 'get' command", ErrArity).
	//
	// ErrUnknownCommand: no such command (ERR unknown command ...).
	ErrUnknownCommand = errors.New("node: unknown command")
	// ErrArity: wrong number of arguments (ERR wrong number of ...).
	ErrArity = errors.New("node: wrong number of arguments")
	// ErrSyntax: an option Redis does not know (ERR syntax error).
	ErrSyntax = errors.New("node: syntax error")
	// ErrNoProto: HELLO with a protocol version other than 2 or 3.
	ErrNoProto = errors.New("node: protocol version not supported")
	// ErrRedis: any other Redis "ERR <text>" (DB index is out of range,
	// a command refused in subscribe mode, an unknown subcommand, an
	// argument a data command refuses: "invalid expire time in 'set'
	// command"; redisErr in cmd_keys.go makes these). The detail is
	// Redis's whole ERR text, so Redis clients and tools recognise it.
	ErrRedis = errors.New("node: redis error")

	// ErrCrossSlot: the keys of a command that must apply in one raft
	// entry (MSET, RENAME, a transaction) live in different groups, as
	// Redis Cluster refuses keys of different slots.
	ErrCrossSlot = errors.New("node: keys in different groups")
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

// remoteToErr rebuilds the error of a request another node ran, from the
// code and text its RPC reply carried. It unwraps to the node sentinel of
// the code, which decides retries here. A text from errTable is replied as
// it is, so the client reads what the node that ran the request would have
// said; any other text (the mux's own BUSY or TOOLARGE, a panic, an older
// version) is for logs, and the reply falls back to the code's fixed text.
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
	case wire.CodeOOM:
		base = ErrOOM
	default:
		// ERR (an error no sentinel covers), PANIC, or a code this
		// version does not know: an internal error.
		return fmt.Errorf("remote %s: %s", code, msg)
	}
	if code != mux.CodeNoHandler && isTableText(code, msg) {
		return &replyError{code: code, text: msg, err: base}
	}
	return fmt.Errorf("%w (remote: %s)", base, msg)
}
