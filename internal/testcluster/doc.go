// Package testcluster runs real sessionraft clusters for tests: the one
// harness of the module's integration tests, the cmd tests and the jepsen
// fault-injection runs. Nodes are separate "sessionraft server" processes
// on loopback ports (or each on a host of its own, Options.Hosts), driven
// only through their command line and client protocol (the package does
// not import node or fsm), or, for node's own tests, servers started
// inside the test process by a function the test passes
// (Options.InProcess).
//
// It provides:
//
//   - Binary builds ./cmd/sessionraft once per test process, RaceBinary
//     the same with -race (or both use $SESSIONRAFT_TEST_BIN, to test a
//     prebuilt server); Cleanup removes the builds. Build builds into a
//     directory of the caller's, for tools such as jepsen's.
//   - FreePorts and FreeBasePort pick loopback ports free for TCP and UDP.
//   - Start starts N servers, with flags for all (Options.Flags) or for
//     one (Options.NodeFlags), --test-mode for fault injection
//     (Options.TestMode), each process logging to Dir/<id>.log, and
//     returns once every node sees a leader for every group and that
//     leader says it leads (WaitReady), and optionally once writes go
//     through (WaitWrites). A start that fails, for instance because a
//     probed port was taken meanwhile, is retried on other ports.
//   - Cluster.Kill sends SIGKILL to one node (kill -9) and waits until it
//     is gone; Cluster.Restart starts it again with the same flags,
//     addresses and data directory. Cluster.Pause and Cluster.Resume send
//     SIGSTOP and SIGCONT; Cluster.DumpStacks sends SIGQUIT, for a
//     post-mortem of a node that stopped answering.
//   - Options.Hosts puts each server process on a host of its own
//     instead of loopback: its own address (same ports on every host,
//     HostPorts), --advertise-* set, started through a command wrapper.
//     Subpackage netns provides such hosts: a lab of Linux network
//     namespaces on a private bridge, with nftables faults (jepsen's
//     -net netns mode and "sessionraft dev --netns").
//   - Cluster.Tail returns the last lines of every node's log, for failure
//     messages; Node.Log the whole of one.
//   - Cluster.Stop kills every node and verifies that no process the
//     cluster ever started is left.
//   - Run is the body of a TestMain for a package whose tests share one
//     cluster; Need skips a test when there is none (-short).
//   - Topology reads one node's TOPOLOGY (ParseTopology a reply got
//     otherwise); WaitFor, Buffer, LastLines and Alive are the small
//     helpers process tests keep needing.
//
// On Linux every server process gets SIGKILL from the kernel when the test
// binary dies, even by SIGKILL, so no server outlives its test.
package testcluster
