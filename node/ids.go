package node

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	mrand "math/rand/v2"
)

// idBytes is the entropy of a session id: 128 bits from crypto/rand, the
// OWASP minimum for session identifiers, as 22 URL-safe characters.
const idBytes = 16

// newID returns a random session id that the ring maps to group gid, so the
// record lives in the group that creates it. With G groups this takes G
// draws on average.
func (n *Node) newID(gid int) (string, error) {
	var b [idBytes]byte
	for i := 0; i < 1000*len(n.groups); i++ {
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("session id: %w", err)
		}
		id := base64.RawURLEncoding.EncodeToString(b[:])
		if n.ring.Group(id) == gid {
			return id, nil
		}
	}
	return "", fmt.Errorf("session id: no id found for group %d", gid)
}

// createGroup picks the group for a new session: one this node leads when
// there is one (no forwarding hop), otherwise any group at random.
func (n *Node) createGroup() int {
	var led []int
	for _, g := range n.groups {
		if g.isLeader() {
			led = append(led, g.id)
		}
	}
	if len(led) > 0 {
		return led[mrand.IntN(len(led))]
	}
	return mrand.IntN(len(n.groups))
}
