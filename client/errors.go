package client

import (
	"errors"
	"fmt"

	"github.com/sessionraft/sessionraft/transport/wire"
)

// Errors returned by the client. Compare with errors.Is: the errors a call
// returns wrap one of these and carry the server's message (see
// ServerError).
var (
	// ErrNotFound: no such session, or it has expired.
	ErrNotFound = errors.New("sessionraft: not found")
	// ErrConflict: IfVersion did not match the session's version. Re-read
	// and try again.
	ErrConflict = errors.New("sessionraft: version conflict")
	// ErrTooLarge: a limit on id, field count, value, record or request
	// size was exceeded.
	ErrTooLarge = errors.New("sessionraft: too large")
	// ErrUnavailable: the cluster could not serve the request before the
	// deadline (no leader, no quorum, nodes down or busy). Nothing was
	// applied.
	ErrUnavailable = errors.New("sessionraft: unavailable")
	// ErrIndeterminate: a write may or may not have been applied. The
	// client retried it with the same request id until the deadline, so it
	// is applied at most once, but whether it was is unknown. Read the
	// session to find out.
	ErrIndeterminate = errors.New("sessionraft: outcome unknown")
	// ErrInvalid: a bad argument (refused by the client or the server), or
	// a command the server does not know.
	ErrInvalid = errors.New("sessionraft: invalid request")
	// ErrExists: Create WithID named an id that is already live.
	ErrExists = errors.New("sessionraft: already exists")
	// ErrStale: every replica asked refused a Stale read because it lags
	// more than the staleness bound. Retry, or read at a stronger level.
	ErrStale = errors.New("sessionraft: replica too stale")
	// ErrAuth: the server refused the credentials (WRONGPASS: unknown
	// user, wrong password or user disabled), or needs some and the
	// client has none (NOAUTH). Set Config.Username and Config.Password.
	ErrAuth = errors.New("sessionraft: authentication failed")
	// ErrNoPerm: the user may not run the command or touch the session
	// (NOPERM): the server's ACL rules for the user do not allow it.
	ErrNoPerm = errors.New("sessionraft: no permission")
	// ErrOutOfMemory: the node's memory quota is reached and the write
	// would add data; nothing was applied. Reads, destroys and revokes
	// still work. Retrying helps only once sessions end or are destroyed.
	ErrOutOfMemory = errors.New("sessionraft: server memory quota reached")
	// ErrDiskFull: a write was refused because a node of the cluster is
	// below its free-space threshold (--min-free-disk). Nothing was
	// applied; reads and deletes still work. Retry once space is freed.
	ErrDiskFull = errors.New("sessionraft: disk full, writes refused")
	// ErrClosed: the Client has been closed.
	ErrClosed = errors.New("sessionraft: client closed")
)

// ServerError is an error reply from a server. It unwraps to the sentinel
// for its code, so errors.Is(err, ErrNotFound) works. Its Error is the
// server's reply as sent, e.g. "NOTFOUND session not found": the same text
// redis-cli shows, from whichever node answered.
type ServerError struct {
	Code    string // stable wire code, e.g. "NOTFOUND" (see transport/wire)
	Message string // human-readable text; may change between releases
	Addr    string // the node that answered
}

func (e *ServerError) Error() string {
	if e.Message == "" {
		return e.Code
	}
	return e.Code + " " + e.Message
}

// Unwrap returns the sentinel for the code.
func (e *ServerError) Unwrap() error { return sentinelFor(e.Code) }

// sentinelFor is the one place that maps wire codes to the client's
// sentinels. UNAVAILABLE, NOTLEADER and BUSY only reach a caller after the
// retries ran out, hence ErrUnavailable; an unknown code (ERR) maps to nil
// so that such an error matches no sentinel rather than a wrong one.
func sentinelFor(code string) error {
	switch code {
	case wire.CodeNotFound:
		return ErrNotFound
	case wire.CodeConflict:
		return ErrConflict
	case wire.CodeTooLarge:
		return ErrTooLarge
	case wire.CodeUnavailable, wire.CodeNotLeader, wire.CodeBusy:
		return ErrUnavailable
	case wire.CodeIndeterminate:
		return ErrIndeterminate
	case wire.CodeBadArg, wire.CodeUnknownCmd, wire.CodeNoProto, wire.CodeProtocol:
		return ErrInvalid
	case wire.CodeExists:
		return ErrExists
	case wire.CodeStale:
		return ErrStale
	case wire.CodeNoAuth, wire.CodeWrongPass:
		return ErrAuth
	case wire.CodeNoPerm:
		return ErrNoPerm
	case wire.CodeOOM:
		return ErrOutOfMemory
	case wire.CodeDiskFull:
		return ErrDiskFull
	default:
		return nil
	}
}

// invalidf reports a request the client refuses before sending it.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}
