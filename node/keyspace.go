package node

import (
	"fmt"
	"strings"

	"github.com/sessionraft/sessionraft/fsm"
)

// Keyspace notifications, as Redis's notify.c defines them: with
// notify-keyspace-events set, a change to key emits event on
// "__keyspace@0__:<key>" and key on "__keyevent@0__:<event>".
//
// Every node applies every entry of the groups it is a member of, so each
// node emits the events of the entries it applies, to its own subscribers
// only: a subscriber hears each change once, from the node it is connected
// to, and hears nothing while its node lags or is cut off (as a Redis
// replica's subscribers do).

// Notification flag bits (Redis's NOTIFY_*), and their letters.
const (
	notifyKeyspace uint32 = 1 << iota // K
	notifyKeyevent                    // E
	notifyGeneric                     // g: del, expire, rename_*...
	notifyString                      // $
	notifyList                        // l
	notifySet                         // s
	notifyHash                        // h
	notifyZset                        // z
	notifyExpired                     // x
	notifyEvicted                     // e
	notifyStream                      // t
	notifyKeyMiss                     // m
	notifyModule                      // d
	notifyNew                         // n

	// notifyAll is "A": every class but key-miss and new-key events.
	notifyAll = notifyGeneric | notifyString | notifyList | notifySet | notifyHash |
		notifyZset | notifyExpired | notifyEvicted | notifyStream | notifyModule
)

// notifyLetters maps each letter to its bits, in the order Redis prints
// them (keyspaceEventsFlagsToString).
var notifyLetters = []struct {
	c byte
	f uint32
}{
	{'g', notifyGeneric}, {'$', notifyString}, {'l', notifyList}, {'s', notifySet},
	{'h', notifyHash}, {'z', notifyZset}, {'x', notifyExpired}, {'e', notifyEvicted},
	{'t', notifyStream}, {'d', notifyModule}, {'n', notifyNew},
}

// parseNotifyFlags reads a notify-keyspace-events value as Redis's
// keyspaceEventsStringToFlags does; any other character is an error.
func parseNotifyFlags(s string) (uint32, error) {
	var f uint32
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case 'A':
			f |= notifyAll
		case 'K':
			f |= notifyKeyspace
		case 'E':
			f |= notifyKeyevent
		case 'm':
			f |= notifyKeyMiss
		default:
			found := false
			for _, l := range notifyLetters {
				if l.c == c {
					f |= l.f
					found = true
				}
			}
			if !found {
				return 0, fmt.Errorf("%w: invalid notify-keyspace-events flag %q", ErrBadArg, string(c))
			}
		}
	}
	return f, nil
}

// formatNotifyFlags prints flags as Redis's CONFIG GET shows them (with
// "A", Redis drops "n": so do we).
func formatNotifyFlags(f uint32) string {
	var b strings.Builder
	if f&notifyAll == notifyAll {
		b.WriteByte('A')
	} else {
		for _, l := range notifyLetters {
			if f&l.f != 0 {
				b.WriteByte(l.c)
			}
		}
	}
	if f&notifyKeyspace != 0 {
		b.WriteByte('K')
	}
	if f&notifyKeyevent != 0 {
		b.WriteByte('E')
	}
	if f&notifyKeyMiss != 0 {
		b.WriteByte('m')
	}
	return b.String()
}

// keyEvent is one change to report: Redis's event name ("del", "hset",
// "expired", ...) and the key it happened to.
type keyEvent struct {
	event, key string
}

// eventClass is the notification class of each event this node emits.
func eventClass(event string) uint32 {
	switch event {
	case "expired":
		return notifyExpired
	case "evicted":
		return notifyEvicted
	case "new":
		return notifyNew
	case "hset", "hdel", "hincrby", "hincrbyfloat":
		return notifyHash
	case "set", "setrange", "incrby", "incrbyfloat", "append":
		return notifyString
	case "sadd", "srem", "spop", "smove", "sinterstore", "sunionstore", "sdiffstore":
		return notifySet
	default: // del, expire, rename_from, rename_to, persist, ...
		return notifyGeneric
	}
}

// keyspaceWanted reports whether any event may be delivered now: some
// flags are set and someone on this node subscribes. The apply path asks
// first, so it does no work for events nobody can hear.
func (ps *pubsub) keyspaceWanted() bool {
	f := ps.notify.Load()
	return f&(notifyKeyspace|notifyKeyevent) != 0 && ps.nsubs.Load() > 0
}

// publishKeyspace delivers one event to this node's subscribers, as the
// flags say (Redis's notifyKeyspaceEvent, database 0).
func (ps *pubsub) publishKeyspace(event, key string) {
	f := ps.notify.Load()
	if f&eventClass(event) == 0 || ps.nsubs.Load() == 0 {
		return
	}
	if f&notifyKeyspace != 0 {
		ps.publish([]byte("__keyspace@0__:"+key), []byte(event))
	}
	if f&notifyKeyevent != 0 {
		ps.publish([]byte("__keyevent@0__:"+event), []byte(key))
	}
}

// keyEvents implements raftFSM's events hook.
func (ps *pubsub) keyEvents(evs []keyEvent) {
	for _, e := range evs {
		ps.publishKeyspace(e.event, e.key)
	}
}

// sessionEventScan works out the keyspace events of one applied entry of
// SESSION.* commands, from the commands and their results and the fsm
// state before and after the entry. It is the bridge until the fsm
// reports the keys and events of each command itself: a session is a
// hash, so CREATE and SET are "hset", UNSET "hdel", DESTROY and REVOKE
// "del", the sweeper's EXPIRE "expired", ROTATE "rename_from" and
// "rename_to".
type sessionEventScan struct {
	// before holds, per command index, the ids that were live before the
	// entry (destroy, revoke, expire candidates).
	before map[int][]string
}

// scanBefore records what must be known before the entry is applied: which
// of the ids a destroy, revoke or expire names are present.
func scanBefore(f *fsm.FSM, b *fsm.Batch) sessionEventScan {
	var s sessionEventScan
	for i := range b.Cmds {
		c := &b.Cmds[i]
		var live []string
		switch {
		case c.Destroy != nil:
			for _, id := range c.Destroy.IDs {
				if _, ok := f.Get(id, 0); ok {
					live = append(live, id)
				}
			}
		case c.Revoke != nil:
			for _, r := range f.BySubject(c.Revoke.Subject, 0) {
				if r.ID != c.Revoke.Except {
					live = append(live, r.ID)
				}
			}
		default:
			continue
		}
		if s.before == nil {
			s.before = map[int][]string{}
		}
		s.before[i] = live
	}
	return s
}

// eventsAfter lists the events of the entry once applied.
func (s sessionEventScan) eventsAfter(f *fsm.FSM, b *fsm.Batch, res []fsm.Result) []keyEvent {
	var evs []keyEvent
	gone := func(ids []string, event string) {
		for _, id := range ids {
			if _, ok := f.Get(id, 0); !ok {
				evs = append(evs, keyEvent{event, id})
			}
		}
	}
	for i := range b.Cmds {
		if i >= len(res) || res[i].Err != nil {
			continue
		}
		c, r := &b.Cmds[i], &res[i]
		switch {
		case c.Create != nil:
			evs = append(evs, keyEvent{"hset", r.ID})
		case c.Set != nil:
			if len(c.Set.Fields) > 0 {
				evs = append(evs, keyEvent{"hset", c.Set.ID})
			}
			if len(c.Set.Unset) > 0 {
				evs = append(evs, keyEvent{"hdel", c.Set.ID})
			}
		case c.Destroy != nil, c.Revoke != nil:
			gone(s.before[i], "del")
		case c.Expire != nil:
			// The sweeper names ids it found expired; the entry removes
			// those still expired by the log clock (Result.Count of
			// them). Without the fsm's own report, the ids gone after it
			// are those, unless one was already gone before: then the
			// counts differ and, not knowing which, we report none.
			var ids []string
			for _, id := range c.Expire.IDs {
				if _, ok := f.Get(id, 0); !ok {
					ids = append(ids, id)
				}
			}
			if len(ids) == r.Count {
				for _, id := range ids {
					evs = append(evs, keyEvent{"expired", id})
				}
			}
		case c.Rotate != nil:
			evs = append(evs, keyEvent{"rename_from", c.Rotate.OldID}, keyEvent{"rename_to", r.ID})
		}
	}
	return evs
}
