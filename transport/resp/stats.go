package resp

import "sync/atomic"

// Stats are a server's cumulative counters since it was made, for INFO's
// # Stats section and the node's metrics. Reading them costs a few atomic
// loads; keeping them costs one atomic add per socket read, write, request
// and accepted connection.
type Stats struct {
	ConnsAccepted uint64 // connections served (not those refused)
	ConnsRejected uint64 // connections refused beyond MaxConns
	Commands      uint64 // requests handed to the handler
	BytesIn       uint64 // bytes read from clients
	BytesOut      uint64 // bytes written to clients
}

// serverStats holds Stats' counters.
type serverStats struct {
	connsAccepted, connsRejected, commands, bytesIn, bytesOut atomic.Uint64
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{
		ConnsAccepted: s.stats.connsAccepted.Load(),
		ConnsRejected: s.stats.connsRejected.Load(),
		Commands:      s.stats.commands.Load(),
		BytesIn:       s.stats.bytesIn.Load(),
		BytesOut:      s.stats.bytesOut.Load(),
	}
}

// Deferred reports whether the handler detached this reply with Defer
// (whoever completes it then accounts for it).
func (r *Reply) Deferred() bool { return r.deferred }
