// Package node is one sessionraft server process: its raft groups (each with
// a raftwal log, a raft-boltdb stable store for term and vote, a file
// snapshot store and an fsm.FSM), memberlist
// discovery and bootstrap, the write path (forwarding to group leaders and
// group commit), the read path (linearizable, leader and stale reads), the
// expiry sweeper, the idle-touch buffer, leadership balancing, and the RESP
// command handlers served on the client port.
//
// Imports flow one way: node uses fsm (state machine) and transport/*
// (bytes on the wire); nothing below imports node.
package node
