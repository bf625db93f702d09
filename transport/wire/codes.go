package wire

import (
	"strings"
)

// Stable error codes. A RESP error reply starts with one of these words,
// followed by a space and a human-readable message, e.g.
// "-NOTFOUND session not found". Clients must switch on the code only; the
// message may change between releases. The server decides both in one
// table (node's errTable), so a request gets the same reply from every
// node.
const (
	CodeNotFound      = "NOTFOUND"      // no such session (or it has expired)
	CodeConflict      = "CONFLICT"      // IFVERSION did not match the record's version
	CodeTooLarge      = "TOOLARGE"      // a limit on id, field, value, record or request size
	CodeNotLeader     = "NOTLEADER"     // this node cannot serve the request (it forwards, so clients rarely see this); nothing was applied
	CodeUnavailable   = "UNAVAILABLE"   // no leader / no quorum / shutting down; safe to retry later
	CodeIndeterminate = "INDETERMINATE" // a write may or may not have been applied
	CodeBadArg        = "BADARG"        // wrong arity, bad option, bad TTL, bad number
	CodeProtocol      = "PROTOCOL"      // malformed RESP; the connection is closed after this reply
	CodeStale         = "STALE"         // stale read refused: replica lags more than max-staleness
	CodeBusy          = "BUSY"          // too many requests in flight on this connection or node
	CodeExists        = "EXISTS"        // id already exists (create with a caller-chosen id)
	CodeOOM           = "OOM"           // the node's memory quota (--max-memory) is reached: a write that adds data was refused, nothing was applied
	CodeDiskFull      = "DISKFULL"      // writes refused: a node's free disk space is below --min-free-disk; reads, deletes and touches work; nothing was applied
	CodeNoProto       = "NOPROTO"       // HELLO asked for a protocol version other than 2 or 3 (Redis's code)
	CodeInternal      = "ERR"           // anything else, and Redis's generic errors (unknown command, wrong arity, syntax error)

	// CodeUnknownCmd is no longer sent: an unknown command gets Redis's
	// "ERR unknown command ..." so that Redis clients recognise it.
	//
	// Deprecated: match CodeInternal.
	CodeUnknownCmd = "UNKNOWNCMD"

	// Authentication and ACLs, with Redis's own codes and texts, so Redis
	// clients and tools recognise them.
	CodeNoAuth    = "NOAUTH"    // the connection must authenticate first (AUTH or HELLO ... AUTH)
	CodeWrongPass = "WRONGPASS" // unknown user, wrong password or user disabled
	CodeNoPerm    = "NOPERM"    // the user may not run the command or touch the key
)

// Codes lists every stable code, for documentation and tests.
var Codes = []string{
	CodeNotFound, CodeConflict, CodeTooLarge, CodeNotLeader, CodeUnavailable,
	CodeIndeterminate, CodeBadArg, CodeNoProto, CodeProtocol, CodeStale,
	CodeBusy, CodeExists, CodeOOM, CodeDiskFull, CodeInternal, CodeNoAuth, CodeWrongPass, CodeNoPerm,
}

// SplitError splits a RESP error string into its code and message.
// An error without a known code is returned with CodeInternal.
func SplitError(s string) (code, msg string) {
	code, msg, _ = strings.Cut(s, " ")
	for _, c := range Codes {
		if c == code {
			return code, msg
		}
	}
	return CodeInternal, s
}

// Consistency levels for reads, as spelled on the wire.
const (
	Linearizable = "linearizable" // default: ReadIndex + quorum round, served by the group leader
	Leader       = "leader"       // leader's local state, no quorum round
	Stale        = "stale"        // any replica within max-staleness
)

// ValidConsistency reports whether s names a consistency level.
func ValidConsistency(s string) bool {
	return s == Linearizable || s == Leader || s == Stale
}
