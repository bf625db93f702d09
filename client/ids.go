package client

import (
	"crypto/rand"
	"encoding/base64"

	"github.com/sessionraft/sessionraft/transport/wire"
)

// idBytes is the entropy of session ids and request ids: 128 bits from
// crypto/rand (the OWASP minimum for session ids), 22 URL-safe characters.
// The server makes its ids the same way.
const idBytes = 16

func randomToken() string {
	var b [idBytes]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand aborts the program instead)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// newReqID returns a request id for a write, so that the server's dedup
// window recognises a resend of it.
func newReqID() string { return randomToken() }

// newSessionID returns a random id that ring maps to group g, so that a
// Create sent to g's leader is served without a forwarding hop. With G
// groups this takes G draws on average; the bound only guards against a
// degenerate ring.
func newSessionID(ring *wire.Ring, g int) string {
	id := randomToken()
	for i := 0; i < 1000*ring.Groups() && ring.Group(id) != g; i++ {
		id = randomToken()
	}
	return id
}
