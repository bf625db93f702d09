// Package node is one sessionraft server process: its raft groups (each with
// a raftwal log, a raft-boltdb stable store for term and vote, a file
// snapshot store (node/snapstore) and an fsm.FSM), memberlist
// discovery and bootstrap, the write path (forwarding to group leaders and
// group commit), the read path (linearizable, leader and stale reads), the
// expiry sweeper, the idle-touch buffer, leadership balancing, and the RESP
// command handlers served on the client port.
//
// Two places decide for all the rest. The RESP command table (cmdtable.go)
// holds one entry per command (arity, flags, ACL categories, key
// positions, documentation, handler); the dispatcher (handler.go) and
// COMMAND are driven by it, and adding a command is one entry plus its
// handler in the cmd_*.go file of its family. The read rules (read.go,
// linearizableRead and weakRead) decide whether a read may be answered
// from local state; the SESSION.GET fast path, the general read path and
// forwarded reads all ask them. Client authentication and ACLs (auth.go,
// with the users of node/acl) are checked in Dispatch, from the same
// table.
//
// Resource limits (docs/SECURITY.md): every write, local or forwarded,
// passes checkCommand (cmdlimits.go) and, on the leader, the memory quota
// (memlimit.go); SESSION.LIST answers in pages (list.go).
//
// Imports flow one way: node uses fsm (state machine) and transport/*
// (bytes on the wire); nothing below imports node.
package node
