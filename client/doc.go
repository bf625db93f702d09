// Package client is the Go client of sessionraft, a Raft-replicated
// session store.
//
// Create one Client per process with New and share it: it is safe for
// concurrent use, and its connections are auto-pipelined (rueidis), so many
// goroutines share one connection per node.
//
//	c, err := client.New(ctx, client.Config{Seeds: []string{"10.0.0.1:7001", "10.0.0.2:7001"}})
//	...
//	s, err := c.Create(ctx, client.WithSubject("alice"), client.WithTTL(time.Hour),
//		client.WithIdleTimeout(30*time.Minute), client.WithField("cart", []byte("3")))
//	s, err = c.Get(ctx, s.ID)
//	v, err := c.Set(ctx, s.ID, map[string][]byte{"cart": []byte("4")}, client.IfVersion(s.Version))
//
// # Routing
//
// The client reads the cluster's TOPOLOGY from the seeds and keeps it
// fresh: at once when a node it watches reports a change (a long poll,
// TOPOLOGY WAIT, Config.TopologyWait), when a node fails or answers
// NOTLEADER or UNAVAILABLE, and every Config.RefreshInterval. A session id belongs to a raft group
// by consistent hashing; the client uses the server's own ring
// (transport/wire.Ring), so it sends writes and leader reads straight to
// the group's leader, with no forwarding hop, and sends stale and
// linearizable reads to one replica of the group that it chose for
// itself (its home, by rendezvous hashing on a seed of its own), so that
// they share a connection and arrive pipelined (Config.SpreadStaleReads
// spreads them round-robin instead). A home that does not lead the group
// answers a linearizable read at a read index from the leader; for 50 ms
// after this client wrote to a group, its linearizable reads go to the
// leader, which has the write already (Config.LinearizableReadsToLeader
// sends them there always). List and Revoke send one request
// per group to each group's node concurrently and merge the answers;
// Destroy and Touch split their ids by group the same way.
//
// New sessions get an id drawn by the client (128 bits from crypto/rand,
// URL-safe, as the server draws them) that hashes to a group led by the
// node the request goes to: one group for 20 ms at a time, then one led by
// the next node, so that a group's commit round carries all the creates
// the client has in flight (Config.SpreadCreates spreads each create
// instead). That keeps Create hop-free and, above all,
// makes a resent Create land in the same group, whose dedup window
// recognises it (the server-made id would differ on each attempt, and a
// resend could land in another group).
//
// # Consistency
//
// Reads are Linearizable by default (Config.DefaultConsistency, or
// WithConsistency per call): they see every write acknowledged before they
// started. Leader reads skip the quorum round. Stale reads are served by
// any replica whose applied state is younger than the staleness bound
// (WithMaxStaleness, Config.MaxStaleness, else the server's), by the log
// clock: the leader's time stamped on the newest entry the replica has
// applied. Hearing from the leader is not enough: a replica whose
// replication has stalled still gets heartbeats while its data ages. A
// replica that lags refuses, and the client asks another. Writes are always
// linearizable.
//
// # Errors and retries
//
// Errors match the sentinels with errors.Is (ErrNotFound, ErrConflict,
// ErrTooLarge, ErrInvalid, ErrExists, ErrStale, ErrUnavailable,
// ErrIndeterminate, ErrAuth, ErrNoPerm, ErrClosed); a *ServerError carries
// the server's code and message.
//
// Each call retries until its context ends, or Config.RequestTimeout when
// the context has no deadline. Reads are resent to another replica or
// after a topology refresh. Create, Set, Unset and Rotate carry a random
// request id (REQID): when an attempt's outcome is unknown (the connection
// broke after sending, the attempt timed out, the server answered
// INDETERMINATE), the client resends it with the same request id, which the
// group's state machine remembers for its dedup window (10 minutes by
// default), so the write applies at most once. If the outcome is still
// unknown when the deadline comes, the call returns ErrIndeterminate: the
// write was applied once or not at all. A write that got an answer is
// never resent. Destroy, Touch and Revoke are idempotent and resent
// freely. ErrUnavailable means nothing was applied.
//
// When a resent write is answered from the dedup window, the server
// replays the first attempt's result: the same version, and for Create and
// Rotate the same id (Create reads the session back, see Create; Rotate
// checks the new id it is given, see Rotate).
//
// # TLS and authentication
//
// Against a cluster whose client ports serve TLS or require a password
// (docs/SECURITY.md), set Config.TLS and Config.Username/Password: every
// connection the client opens (to a seed, after a topology refresh, to a
// new leader) does the TLS handshake and authenticates (AUTH on the
// request connections, which speak RESP2 so that a record reply can be
// read without building a map; HELLO 3 AUTH on the cache's connection).
// Refused credentials fail New with ErrAuth; a command the user's ACL rules
// do not allow fails with ErrNoPerm. The user needs +topology (and the
// session commands it uses) for the client to route.
//
// # Client-side caching
//
// With Config.CacheSize, session reads can be answered from process memory
// (every Get with Config.CacheReads, else those called WithCache): a hit
// costs no round trip and no allocation. One RESP3 connection per Client
// tracks invalidations (CLIENT TRACKING ON BCAST) and PINGs every
// CacheLease/4; the cache is trusted only while a PONG came for a PING
// sent within CacheLease, and is dropped whole when that connection
// breaks. A destroyed, revoked, rotated-away or changed session leaves the
// cache about one replication delay after the change is acknowledged, and
// at the latest after the server's --tracking-max-staleness plus
// CacheLease (plus clock skew between nodes) when the tracking node is cut
// off, lagging or paused; an expired one is never served past its expiry.
// Only linearizable Gets are cached; a hit does not count as an access for
// the idle timeout, and returns a *Session shared with other callers,
// which must not be modified. See docs/ARCHITECTURE.md.
//
// # Server parsing quirks the client works around
//
// The server reads SET/UNSET options for as long as the next word is
// IFVERSION, REQID or TTL, so the client always ends the options with
// FIELDS (as it does for CREATE): any field name is then read as a field.
// The server finds the GROUP option of LIST and REVOKE by scanning
// the arguments after the subject, so the client sends GROUP right after
// the subject, where an EXCEPT id spelled "group" cannot be taken for it.
package client
