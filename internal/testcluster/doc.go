// Package testcluster runs real sessionraft clusters for tests: separate
// "sessionraft server" processes on loopback ports, driven only through
// their command line and client protocol (it does not import node or fsm).
//
// It provides what the module's integration tests share:
//
//   - Binary builds ./cmd/sessionraft once per test process (or uses
//     $SESSIONRAFT_TEST_BIN, to test a prebuilt server); Cleanup removes
//     the build.
//   - FreePorts and FreeBasePort pick loopback ports free for TCP and UDP.
//   - Start starts N server processes with extra flags, each logging to a
//     file, and returns once TOPOLOGY on every node shows a leader for
//     every group (WaitReady), and optionally once writes go through
//     (WaitWrites). A start that fails, for instance because a probed port
//     was taken meanwhile, is retried on other ports.
//   - Cluster.Kill sends SIGKILL to one node (kill -9) and waits until it
//     is gone; Cluster.Restart starts it again with the same flags and data
//     directory.
//   - Cluster.Tail returns the last lines of every node's log, for failure
//     messages; Node.Log the whole of one.
//   - Cluster.Stop kills every node and verifies that no process the
//     cluster ever started is left.
//   - Run is the body of a TestMain for a package whose tests share one
//     cluster; Need skips a test when there is none (-short).
//   - Topology reads one node's TOPOLOGY; WaitFor, Buffer, LastLines and
//     Alive are the small helpers process tests keep needing.
//
// On Linux every server gets SIGKILL from the kernel when the test binary
// dies, even by SIGKILL, so no server outlives its test.
package testcluster
