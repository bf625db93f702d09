// Package resp is the client-port protocol of a sessionraft node: a RESP2 /
// RESP3 codec and the connection server loop that runs it.
//
// Speaking Redis' protocol (rather than a bespoke one) lets redis-cli,
// redis-benchmark and existing Redis client libraries such as rueidis talk to
// a node unchanged. Command semantics do not live here: the server parses
// requests and hands them to a [Handler] (implemented by the node package),
// and this package only guarantees framing, ordering, limits and
// backpressure.
//
// The pieces:
//
//   - [Reader] parses client requests (RESP arrays of bulk strings, or inline
//     commands as typed into telnet), enforcing [Limits] before allocating.
//   - [Writer] encodes replies for the connection's protocol version, so a
//     handler writes one reply and gets "%2" in RESP3 or "*4" in RESP2.
//   - [Server] and [Conn] run one reader and one writer goroutine per
//     connection. Requests are dispatched in order; slow ones (raft
//     proposals, linearizable reads) run concurrently, and replies are
//     written back in request order, many per write(2) when pipelined;
//     the reader writes them itself when it is about to wait for input
//     and the writer is idle.
//   - [ReadValue] and [Client] are a small reply parser and a synchronous
//     client for tests, the CLI and integration tests. The production Go
//     client uses rueidis instead.
//
// Error replies start with a stable code from the wire package
// ("-TOOLARGE bulk string too long"), which [Value.Err] splits back into a
// [*ServerError].
package resp
