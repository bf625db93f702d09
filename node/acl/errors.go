package acl

import "errors"

// Sentinel errors of the acl package. The node maps them to Redis's error
// replies (WRONGPASS and the plain ERR for ErrNoPassConfigured).
var (
	// ErrSyntax: an ACL file line or rule cannot be parsed.
	ErrSyntax = errors.New("acl: syntax error")
	// ErrWrongPass: unknown user, wrong password, or the user is off. The
	// three are not told apart, so a client cannot probe for user names.
	ErrWrongPass = errors.New("acl: wrong user name or password, or user disabled")
	// ErrNoPassConfigured: `AUTH password` while the default user needs no
	// password (Redis refuses this rather than silently succeeding).
	ErrNoPassConfigured = errors.New("acl: the default user has no password")
)
