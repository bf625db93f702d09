package tlsconf

import "errors"

// Sentinel errors, wrapped with details; compare with errors.Is.
var (
	// ErrBadFile means a CA, certificate or key file could not be read or
	// parsed, or the key does not match the certificate.
	ErrBadFile = errors.New("tlsconf: unusable certificate or key file")

	// ErrUntrusted means a certificate does not chain to the cluster CA, is
	// not valid at this time, or lacks the required key usage.
	ErrUntrusted = errors.New("tlsconf: certificate not trusted")

	// ErrNoNodeID means a certificate carries no node id (or more than one),
	// so it cannot identify a node.
	ErrNoNodeID = errors.New("tlsconf: certificate names no node id")

	// ErrWrongNodeID means a certificate names another node than the one
	// expected.
	ErrWrongNodeID = errors.New("tlsconf: certificate names another node")

	// ErrBadID means an id or name cannot be put into a certificate.
	ErrBadID = errors.New("tlsconf: invalid id")
)
