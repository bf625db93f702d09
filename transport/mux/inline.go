package mux

// Inline methods. Most RPC handlers may block (a forwarded write waits for
// a raft commit), so each request gets a goroutine. Some answer from
// memory at once (the term poll of a linearizable read's leadership round
// reads the raft term): for those a goroutine per request costs more than
// the handler, and the connection's reader runs the handler itself.

// HandleInline marks method as one whose handler never blocks: requests
// for it run on the connection's reader goroutine, in arrival order,
// without counting against the concurrent-handler bound. A handler that
// blocked would stall every request behind it on that connection, so mark
// only methods that answer from memory. Call it before traffic arrives.
func (m *Mux) HandleInline(method uint8) {
	m.inline[method/64].Or(1 << (method % 64))
}

// isInline reports whether HandleInline marked method.
func (m *Mux) isInline(method uint8) bool {
	return m.inline[method/64].Load()&(1<<(method%64)) != 0
}
