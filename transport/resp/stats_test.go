package resp

import "testing"

// Stats count what crossed the socket: two requests of known size in, two
// replies of known size out, one connection.
func TestServerStats(t *testing.T) {
	srv, addr := startServer(t, ServerConfig{}, &testHandler{})
	c := dialRaw(t, addr)
	const in = "*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n"
	c.send(t, in)
	c.read(t)
	c.read(t)
	const out = len("+PONG\r\n") + len("$2\r\nhi\r\n")
	waitFor(t, "stats", func() bool {
		st := srv.Stats()
		return st.BytesIn == uint64(len(in)) && st.BytesOut == uint64(out)
	})
	if st := srv.Stats(); st.ConnsAccepted != 1 || st.Commands != 2 || st.ConnsRejected != 0 {
		t.Fatalf("stats %+v, want 1 connection and 2 commands", st)
	}
}
