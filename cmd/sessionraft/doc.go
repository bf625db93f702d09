// Command sessionraft is the sessionraft server and its operator tools.
//
// Subcommands:
//
//	sessionraft server   run one node (flags or SESSIONRAFT_* environment variables)
//	sessionraft dev      run a local three-node cluster, one OS process per node
//	sessionraft status   show every node's raft groups: role, leader, term, indexes
//
// Every server flag can also be set with an environment variable named
// SESSIONRAFT_ followed by the flag name in upper case with dashes turned
// into underscores: --data-dir is SESSIONRAFT_DATA_DIR. A flag given on the
// command line wins over the environment, which wins over the default.
//
// This package is the composition root: it may import every other package
// of the module, and nothing imports it.
package main
