package main

import (
	"errors"

	"github.com/sessionraft/sessionraft/node"
)

// Exit statuses of the sessionraft command. Supervisors (systemd, Kubernetes)
// restart a node that exits; exitPoisonedEntry tells them, and the
// operator, that a restart will meet the same log entry again.
const (
	exitError         = 1 // any failure
	exitPoisonedEntry = 3 // a raft log entry this node cannot apply (node.PoisonedEntryError)
)

// statusError carries the exit status of an error.
type statusError struct {
	err    error
	status int
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// withExitStatus gives err the exit status its cause calls for.
func withExitStatus(err error) error {
	if _, ok := errors.AsType[*node.PoisonedEntryError](err); ok {
		return &statusError{err: err, status: exitPoisonedEntry}
	}
	return err
}

// exitStatus is the process exit status for err (not nil).
func exitStatus(err error) int {
	if se, ok := errors.AsType[*statusError](err); ok {
		return se.status
	}
	return exitError
}
