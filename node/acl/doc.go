// Package acl holds the client port's users and what each may do, in
// Redis's ACL model: a user has passwords (kept as SHA-256 digests), is on
// or off, may run the commands its rules allow (by name or by category
// such as @read, @write, @admin, @dangerous) and may touch the keys its
// patterns match.
//
// Rules are read from an ACL file in Redis's syntax, one user per line:
//
//	user alice on #<sha256 hex> ~* +@read +@write -@dangerous
//	user ops on >s3cret ~* +@all
//
// A Set is immutable once built; the server swaps in a new one on ACL LOAD,
// so a connection that authenticated keeps its User value and sees the new
// rules at its next command only if it looks the user up again (the node
// does, by name, on every command after a reload).
//
// The package knows nothing of the node's commands: it is given a Catalog
// (command name -> categories) when a Set is built, and resolves category
// rules against it, in order, as Redis does.
package acl
