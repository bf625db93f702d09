package client

import (
	"crypto/rand"
	"encoding/base64"
	"sort"
	"strings"

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

// writeKeywords are the options SESSION.SET and SESSION.UNSET accept
// before their fields. The server reads options for as long as the next
// word is one of these (case-insensitive), so a field with such a name is
// taken for an option when it comes first.
var writeKeywords = []string{"IFVERSION", "REQID", "TTL"}

func isWriteKeyword(s string) bool {
	for _, k := range writeKeywords {
		if strings.EqualFold(s, k) {
			return true
		}
	}
	return false
}

// orderNames sorts field names (so commands are deterministic) and moves a
// name that is not an option keyword to the front, so the server reads
// every name as a field. pairs says each name is followed by a value (SET);
// otherwise (UNSET) a lone last name is safe too, since an option needs a
// value after it. ok is false when no order is safe.
func orderNames(names []string, pairs bool) (ordered []string, ok bool) {
	sort.Strings(names)
	if len(names) == 0 || !isWriteKeyword(names[0]) {
		return names, true
	}
	for i, n := range names {
		if !isWriteKeyword(n) {
			names[0], names[i] = names[i], names[0]
			return names, true
		}
	}
	return names, !pairs && len(names) == 1
}
