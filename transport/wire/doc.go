// Package wire is the contract between sessionraft servers and clients: the
// stable error codes sent on the client port, the consistency level names,
// and the consistent-hash ring that maps a session id to its raft group.
//
// It is the only server package the Go client imports, so it must stay small
// and depend on nothing but the standard library. Server and client call the
// very same Ring code, which is what keeps their routing in agreement.
package wire
