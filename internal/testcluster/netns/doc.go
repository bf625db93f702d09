// Package netns builds a small private network out of Linux network
// namespaces, for tests that need nodes on separate "hosts" and faults cut
// by the kernel: jepsen's -net netns mode and "sessionraft dev --netns".
//
// A Lab is:
//
//   - a switch namespace holding a bridge (br0);
//   - one namespace per host (the nodes n1..nN, and cl for the clients),
//     each with a veth whose switch end is a port of the bridge and whose
//     host end (eth0) has the host's address in Subnet;
//   - in every host namespace, an nftables table (inet lab) with an input
//     and an output chain, where faults are installed (SetRules) and
//     removed (Heal).
//
// Every link is created inside the switch namespace and its peer moved
// straight into the host's, so nothing is ever added to the root
// namespace: no address, route or interface. The addresses exist only
// inside the lab, and Close removes all of it (deleting a namespace
// deletes its links and rules).
//
// Namespace names are <kind>-<start time, hex>-<owner pid>-<random>-<host>,
// so parallel labs never collide, and Sweep can remove the namespaces of
// a crashed earlier run (owner gone and older than a bound) without
// touching a live one.
//
// A program runs a command on a host through Command (ip netns exec).
// The nodes keep their processes' pids: ip netns exec execs the command.
// Building a lab needs root, ip (iproute2) and nft (nftables); Check says
// which is missing.
package netns
